"""A Messaging Service's sender pool (reference §4.2): its PhoneNumbers, ShortCodes and
AlphaSenders, each added (201), listed, fetched and removed (204).

A number or short code must be the caller's own (20404 otherwise) and can send SMS
(21715); it joins one service at most (21710 here already, 21712 in another), and a
pool holds 400 of them (21714). An alphanumeric ID (21709 if malformed) is the pool's
own, with an AI… SID; Herald's `RegisteredIn` lists the countries where it is
pre-registered (§14). Removing a sender removes its Sticky Sender mappings (§6.4).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import replace

from sqlalchemy.engine import Connection
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from herald.api import render
from herald.api.forms import Form
from herald.api.paging import check_token
from herald.api.requests import (
    account_of,
    form_of,
    json,
    no_content,
    not_found,
    query_of,
    runtime_of,
)
from herald.api.v1_paging import base_url, envelope, page_request
from herald.domain import errors
from herald.domain.services import (
    PoolKind,
    PoolMember,
    PoolSender,
    check_alpha_sender,
    check_countries,
)
from herald.domain.sids import Prefix, is_sid
from herald.store import senders as sender_store
from herald.store import services as store

Endpoint = Callable[[Request], Awaitable[Response]]
CanSend = Callable[[Connection, str, str], bool | None]


def _number_can_send(conn: Connection, account_sid: str, sid: str) -> bool | None:
    number = sender_store.get_number(conn, account_sid, sid)
    return None if number is None else number.capabilities.sms


def _short_code_can_send(conn: Connection, account_sid: str, sid: str) -> bool | None:
    code = sender_store.get_short_code(conn, account_sid, sid)
    return None if code is None else code.sms


# What names an owned sender: the parameter, its SID prefix, the resource it is and
# whether the caller's one of that SID can send SMS (None: the caller has none).
_OWNED: dict[PoolKind, tuple[str, Prefix, str, CanSend]] = {
    PoolKind.PHONE_NUMBER: (
        "PhoneNumberSid",
        Prefix.PHONE_NUMBER,
        "IncomingPhoneNumber",
        _number_can_send,
    ),
    PoolKind.SHORT_CODE: ("ShortCodeSid", Prefix.SHORT_CODE, "ShortCode", _short_code_can_send),
}


def _path(service_sid: str, kind: PoolKind, sid: str | None = None) -> str:
    segment, _ = render.POOL_PATHS[kind]
    tail = f"/{sid}" if sid else ""
    return f"{render.SERVICES}/{service_sid}/{segment}{tail}"


def _lock_service(conn: Connection, account_sid: str, service_sid: str) -> None:
    """The caller's service, its row locked for the pool change; 20404 if it has none."""
    if store.get_service(conn, account_sid, service_sid, for_update=True) is None:
        raise not_found(f"{render.SERVICES}/{service_sid}")


def _owned_sid(form: Form, kind: PoolKind) -> str:
    param, prefix, _, _ = _OWNED[kind]
    sid = (form.get(param) or "").strip()
    if not sid:
        raise errors.InvalidParameter(f"{param} is required")
    if not is_sid(sid, prefix):
        raise errors.InvalidParameter(f"{param} {sid!r} is not a {prefix.value}… SID")
    return sid


def _alpha_sender(form: Form, draft: PoolSender) -> PoolSender:
    raw = form.get("AlphaSender")
    if raw is None or raw == "":
        raise errors.InvalidParameter("AlphaSender is required")
    return replace(
        draft,
        alpha_sender=check_alpha_sender(raw),
        registered_in=check_countries(form.get_all("RegisteredIn")),
    )


def _add(conn: Connection, sender: PoolSender) -> PoolMember | None:
    """Add the sender to its service's pool, in one write with the checks."""
    account_sid, service_sid, kind = sender.account_sid, sender.service_sid, sender.kind
    _lock_service(conn, account_sid, service_sid)
    if kind is PoolKind.ALPHA_SENDER:
        store.add_alpha_sender(conn, sender)
    else:
        param, _, resource, can_send = _OWNED[kind]
        able = can_send(conn, account_sid, sender.sid)
        if able is None:
            raise errors.NotFound(f"{param} {sender.sid} names no {resource} of this account")
        store.add_sender(conn, sender, can_send=able)
    return store.get_member(conn, account_sid, service_sid, kind, sender.sid)


def _adder(kind: PoolKind) -> Endpoint:
    async def create(request: Request) -> Response:
        account = await account_of(request)
        form = await form_of(request)
        runtime = runtime_of(request)
        service_sid = request.path_params["service_sid"]
        now = runtime.clock.now_us()
        is_alpha = kind is PoolKind.ALPHA_SENDER
        draft = PoolSender(
            sid=runtime.new_sid(Prefix.ALPHA_SENDER) if is_alpha else _owned_sid(form, kind),
            account_sid=account.sid,
            service_sid=service_sid,
            kind=kind,
            date_created=now,
            date_updated=now,
        )
        sender = _alpha_sender(form, draft) if is_alpha else draft
        member = await runtime.db.write(lambda conn: _add(conn, sender))
        if member is None:  # read back in the same transaction, so never
            raise not_found(_path(service_sid, kind, sender.sid))
        return json(render.pool_member(member, base_url(request)), 201)

    return create


def _lister(kind: PoolKind) -> Endpoint:
    async def list_(request: Request) -> Response:
        account = await account_of(request)
        page = page_request(query_of(request))
        service_sid = request.path_params["service_sid"]

        def read(conn: Connection) -> list[PoolMember]:
            if store.get_service(conn, account.sid, service_sid) is None:
                raise not_found(f"{render.SERVICES}/{service_sid}")
            check_token(
                page, lambda key: store.get_member(conn, account.sid, service_sid, kind, key)
            )
            return store.list_members(
                conn, account.sid, service_sid, kind, limit=page.size + 1, offset=page.offset
            )

        found = await runtime_of(request).db.read(read)
        base = base_url(request)
        records = [render.pool_member(m, base) for m in found[: page.size]]
        _, key = render.POOL_PATHS[kind]
        return json(envelope(request, key, records, page, has_more=len(found) > page.size))

    return list_


def _fetcher(kind: PoolKind) -> Endpoint:
    async def fetch(request: Request) -> Response:
        account = await account_of(request)
        service_sid = request.path_params["service_sid"]
        sid = request.path_params["sid"]
        member = await runtime_of(request).db.read(
            lambda conn: store.get_member(conn, account.sid, service_sid, kind, sid)
        )
        if member is None:
            raise not_found(_path(service_sid, kind, sid))
        return json(render.pool_member(member, base_url(request)))

    return fetch


def _remover(kind: PoolKind) -> Endpoint:
    async def delete(request: Request) -> Response:
        """Take the sender out of the pool, with its Sticky Sender mappings (204)."""
        account = await account_of(request)
        service_sid = request.path_params["service_sid"]
        sid = request.path_params["sid"]
        removed = await runtime_of(request).db.write(
            lambda conn: store.remove_sender(conn, account.sid, service_sid, kind, sid)
        )
        if not removed:
            raise not_found(_path(service_sid, kind, sid))
        return no_content()

    return delete


def routes() -> list[Route]:
    found = []
    for kind, (segment, _) in render.POOL_PATHS.items():
        many = f"{render.SERVICES}/{{service_sid}}/{segment}"
        one = f"{many}/{{sid}}"
        found += [
            Route(many, _lister(kind), methods=["GET"]),
            Route(many, _adder(kind), methods=["POST"]),
            Route(one, _fetcher(kind), methods=["GET"]),
            Route(one, _remover(kind), methods=["DELETE"]),
        ]
    return found
