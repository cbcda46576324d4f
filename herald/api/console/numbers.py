"""Numbers and short codes in the console: the account's senders with their webhooks, a
number or short code registered, its webhooks, capabilities and MPS edited, and removed.
Every change is a request to the REST API (`api/numbers.py`, `api/short_codes.py`), so
its rules and messages are the API's, shown in place; the service each sender is in is
read from the store (`store/memberships.py`), since the API has it only per service."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from herald.api.console.pager import PAGE_SIZE, has_more, page_number, pager
from herald.api.console.pages import Page, page
from herald.api.requests import runtime_of
from herald.domain.sids import Prefix, is_sid
from herald.store import memberships

HOOKS = ("FriendlyName", "SmsUrl", "SmsMethod", "SmsFallbackUrl", "SmsFallbackMethod", "Mps")
NUMBER_REGISTER = ("PhoneNumber", "FriendlyName", "SmsUrl", "SmsMethod", "StatusCallback", "Mps")
CODE_REGISTER = ("ShortCode", "IsoCountry", "FriendlyName", "SmsUrl", "SmsMethod", "Mps")
FILTERS = ("PhoneNumber", "FriendlyName")


@dataclass(frozen=True, slots=True, kw_only=True)
class Kind:
    """What differs between a number's page and a short code's."""

    prefix: Prefix
    collection: str  # under /2010-04-01/Accounts/{AC}/
    console: str  # its pages' path
    noun: str
    address: str  # the record's key for the number or code itself
    fields: tuple[str, ...]  # what its edit form sends
    capabilities: tuple[str, ...]  # the capabilities its edit form sends (the API's names)


NUMBER = Kind(
    prefix=Prefix.PHONE_NUMBER, collection="IncomingPhoneNumbers", console="/console/numbers",
    noun="number", address="phone_number",
    fields=(*HOOKS, "StatusCallback", "StatusCallbackMethod"),
    capabilities=("Sms", "Mms", "Voice", "Fax"),
)  # fmt: skip
SHORT_CODE = Kind(
    prefix=Prefix.SHORT_CODE, collection="SMS/ShortCodes", console="/console/short-codes",
    noun="short code", address="short_code", fields=HOOKS, capabilities=(),
)  # fmt: skip


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _values(record: dict[str, Any], fields: tuple[str, ...]) -> dict[str, str]:
    """An edit form's values from the API's record (`SmsUrl` ← `sms_url`)."""
    return {name: "" if record.get(_snake(name)) is None else str(record[_snake(name)])
            for name in fields}  # fmt: skip


def _posted(p: Page, fields: tuple[str, ...]) -> dict[str, str]:
    """The form's named fields only: the csrf token and anything else are not forwarded."""
    return {name: (p.form.get(name) or "").strip() for name in fields}


def _capabilities(p: Page, names: tuple[str, ...]) -> dict[str, str]:
    """Checkboxes as the API's booleans: an unticked box is sent as `false`."""
    return {f"Capabilities.{n}": "true" if p.form.get(f"Capabilities.{n}") else "false"
            for n in names}  # fmt: skip


# ---- the list, and registering ----------------------------------------------------------


async def _list(p: Page, status: int = 200, **forms: Any) -> Response:
    query = p.request.query_params
    filters = {name: query.get(name, "") for name in FILTERS}
    n_page, c_page = page_number(p.request), page_number(p.request, "codes_page")
    wanted = {k: v for k, v in filters.items() if v}
    numbers = await p.api.get(
        p.api.account_path("IncomingPhoneNumbers.json"),
        {**wanted, "PageSize": str(PAGE_SIZE), "Page": str(n_page)},
    )
    codes = await p.api.get(
        p.api.account_path("SMS/ShortCodes.json"), {"PageSize": str(PAGE_SIZE), "Page": str(c_page)}
    )
    number_rows = numbers.body["incoming_phone_numbers"] if numbers.ok else []
    code_rows = codes.body["short_codes"] if codes.ok else []
    sids = [row["sid"] for row in number_rows + code_rows]
    account = p.signed.account_sid
    services = await runtime_of(p.request).db.read(
        lambda conn: memberships.services_of(conn, account, sids)
    )
    return p.render(
        "numbers.html", status, section="numbers", title="Numbers", filters=filters,
        numbers=number_rows, codes=code_rows, services=services,
        list_error="" if numbers.ok else numbers.error,
        numbers_pager=pager(p.request, n_page, has_more(numbers.body)),
        codes_pager=pager(p.request, c_page, has_more(codes.body), "codes_page"),
        number_form=forms.get("number_form", {"SmsMethod": "POST"}),
        number_error=forms.get("number_error", ""),
        code_form=forms.get("code_form", {"SmsMethod": "POST", "IsoCountry": "US", "Sms": "on"}),
        code_error=forms.get("code_error", ""),
    )  # fmt: skip


@page
async def list_senders(p: Page) -> Response:
    return await _list(p)


@page
async def short_codes_home(p: Page) -> Response:
    """Short codes are listed with the numbers."""
    return p.redirect("/console/numbers#codes-heading")


@page
async def register_number(p: Page) -> Response:
    sent = _posted(p, NUMBER_REGISTER)
    answer = await p.api.post(p.api.account_path("IncomingPhoneNumbers.json"), sent)
    if not answer.ok:
        return await _list(p, 400, number_form=sent, number_error=answer.error)
    body = answer.body
    return p.redirect(f"/console/numbers/{body['sid']}", f"Registered {body['phone_number']}.")


@page
async def register_short_code(p: Page) -> Response:
    sent = _posted(p, CODE_REGISTER)
    capabilities = _capabilities(p, ("Sms", "Mms"))
    answer = await p.api.post(p.api.account_path("SMS/ShortCodes.json"), sent | capabilities)
    if not answer.ok:
        form = sent | {n: "on" for n in ("Sms", "Mms") if p.form.get(f"Capabilities.{n}")}
        return await _list(p, 400, code_form=form, code_error=answer.error)
    body = answer.body
    return p.redirect(
        f"/console/short-codes/{body['sid']}", f"Registered short code {body['short_code']}."
    )


# ---- one number or short code -------------------------------------------------------------


def _missing(p: Page, kind: Kind) -> Response:
    return p.render("error.html", 404, title="Not found",
                    message=f"There is no such {kind.noun} in this account.")  # fmt: skip


async def _show(
    p: Page,
    kind: Kind,
    record: dict[str, Any],
    status: int = 200,
    values: dict[str, str] | None = None,
    error: str = "",
) -> Response:
    account, sid = p.signed.account_sid, record["sid"]
    services = await runtime_of(p.request).db.read(
        lambda conn: memberships.services_of(conn, account, [sid])
    )
    given = record["capabilities"]
    ticked = {n: bool(given.get(n.lower())) for n in kind.capabilities}
    if values is not None:  # a refused edit: show what was sent
        ticked = {n: bool(p.form.get(f"Capabilities.{n}")) for n in kind.capabilities}
    return p.render(
        "numbers_sender.html", status, section="numbers", title=record[kind.address],
        kind=kind, record=record, values=values or _values(record, kind.fields),
        ticked=ticked, service=services.get(sid), error=error,
    )  # fmt: skip


def _api_path(p: Page, kind: Kind) -> str | None:
    """The API's address of the sender the page names, if the SID is one of `kind`."""
    sid = p.request.path_params["sid"]
    ok = is_sid(sid, kind.prefix)
    return p.api.account_path(f"{kind.collection}/{sid}.json") if ok else None


async def _open(p: Page, kind: Kind) -> Response:
    path = _api_path(p, kind)
    answer = await p.api.get(path) if path else None
    if answer is None or not answer.ok:
        return _missing(p, kind)
    return await _show(p, kind, answer.body)


async def _save(p: Page, kind: Kind) -> Response:
    path = _api_path(p, kind)
    if path is None:
        return _missing(p, kind)
    sent = _posted(p, kind.fields)
    answer = await p.api.post(path, sent | _capabilities(p, kind.capabilities))
    if answer.ok:
        return p.redirect(f"{kind.console}/{answer.body['sid']}", "Saved.")
    current = await p.api.get(path)
    if not current.ok:
        return _missing(p, kind)
    return await _show(p, kind, current.body, 400, sent, answer.error)


async def _remove(p: Page, kind: Kind) -> Response:
    path = _api_path(p, kind)
    current = await p.api.get(path) if path else None
    if path is None or current is None or not current.ok:
        return _missing(p, kind)
    answer = await p.api.delete(path)
    if not answer.ok:
        return await _show(p, kind, current.body, 400, error=answer.error)
    return p.redirect("/console/numbers", f"Removed {current.body[kind.address]}.")


def _pages(kind: Kind) -> list[BaseRoute]:
    """The page of one sender of `kind`: show it, save its edit, remove it."""

    @page
    async def show(p: Page) -> Response:
        return await _open(p, kind)

    @page
    async def save(p: Page) -> Response:
        return await _save(p, kind)

    @page
    async def remove(p: Page) -> Response:
        return await _remove(p, kind)

    return [
        Route(f"{kind.console}/{{sid}}", show, methods=["GET"]),
        Route(f"{kind.console}/{{sid}}", save, methods=["POST"]),
        Route(f"{kind.console}/{{sid}}/delete", remove, methods=["POST"]),
    ]


def routes() -> list[BaseRoute]:
    return [
        Route("/console/numbers", list_senders, methods=["GET"]),
        Route("/console/numbers", register_number, methods=["POST"]),
        Route("/console/short-codes", short_codes_home, methods=["GET"]),
        Route("/console/short-codes", register_short_code, methods=["POST"]),
        *_pages(NUMBER),
        *_pages(SHORT_CODE),
    ]
