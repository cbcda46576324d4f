"""Herald's routing resources, beyond Twilio: why a message went from its sender
(`Routing.json`), the Sticky Sender mappings of a service (list, fetch, pin, delete),
a dry run of a send (`Preview`), and the alerts routing raised (Twilio's Monitor Alerts,
served at `/v1/Alerts`)."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from typing import Any

import orjson
from sqlalchemy.engine import Connection
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from herald.api import forms, render
from herald.api.paging import check_token
from herald.api.requests import (
    account_of,
    fetch_owned,
    form_of,
    json,
    no_content,
    not_found,
    query_of,
    runtime_of,
)
from herald.api.v1_paging import base_url, envelope, page_request
from herald.domain import errors, numbers, outbound
from herald.domain.alerts import Alert
from herald.domain.decisions import (
    addresses_of,
    converted_to_sms,
    converts,
    decide,
    explain,
    recipient_of,
)
from herald.domain.encoding import encode_body
from herald.domain.health import HERALD_CODES, impaired_among
from herald.domain.queued import QueuedMessage
from herald.domain.senders import SenderKind
from herald.domain.services import Mapping, Service
from herald.domain.sids import Prefix, is_sid
from herald.domain.status import MessageStatus
from herald.domain.timestamps import iso8601
from herald.store import dispatch as dispatch_store
from herald.store import health as health_store
from herald.store import routing as store
from herald.store import services as service_store

SERVICE = f"{render.SERVICES}/{{service_sid}}"
MAPPINGS = f"{SERVICE}/StickyMappings"


# ---- Routing.json -------------------------------------------------------------------


async def message_routing(request: Request) -> Response:
    """How the message's sender was chosen: the rule, and every candidate turned down
    with the reason. A message sent with its own `From` names that rule."""
    account = await account_of(request)
    sid = request.path_params["sid"]
    found = await runtime_of(request).db.read(lambda conn: store.routing_of(conn, account.sid, sid))
    if found is None:
        raise not_found(f"/Messages/{sid}/Routing")
    message, routing = found
    decision: dict[str, Any] | None = orjson.loads(routing) if routing else None
    if decision is None and message.from_number is not None:
        decision = {"rule": "from_parameter", "sender": {"address": message.from_number}}
    return json(
        {
            "account_sid": account.sid,
            "message_sid": sid,
            "messaging_service_sid": message.messaging_service_sid,
            "status": message.status.value,
            "from": message.from_number,
            "to": message.to_number,
            "decision": decision,
            "uri": f"{render.BASE}/{account.sid}/Messages/{sid}/Routing.json",
        }
    )


# ---- Sticky Sender mappings -----------------------------------------------------------


async def _service(request: Request) -> Service:
    """The caller's service named by the path."""
    return await fetch_owned(request, service_store.get_service, render.SERVICES, "service_sid")


def _mapping(mapping: Mapping, base: str) -> dict[str, Any]:
    return {
        "service_sid": mapping.service_sid,
        "to": mapping.to_number,
        "sender_sid": mapping.sender_sid,
        "pinned": mapping.pinned,
        "date_created": iso8601(mapping.date_created),
        "date_updated": iso8601(mapping.date_updated),
        "url": f"{base}{render.SERVICES}/{mapping.service_sid}/StickyMappings/{mapping.to_number}",
    }


def _recipient(raw: str) -> str:
    try:
        return numbers.parse_number(raw.strip()).e164
    except numbers.NumberError:
        raise errors.InvalidTo(f"The 'To' number {raw} is not a valid phone number.") from None


async def list_mappings(request: Request) -> Response:
    service = await _service(request)
    query = query_of(request)
    page = page_request(query)
    sender = query.get("SenderSid") or None

    def read(conn: Connection) -> list[Mapping]:
        check_token(page, lambda key: store.get_mapping(conn, service.sid, key))
        return store.list_mappings(
            conn, service.sid, limit=page.size + 1, offset=page.offset, sender_sid=sender
        )

    rows = await runtime_of(request).db.read(read)
    base = base_url(request)
    records = [_mapping(m, base) for m in rows[: page.size]]
    return json(
        envelope(
            request,
            "sticky_mappings",
            records,
            page,
            has_more=len(rows) > page.size,
            token_key="to",
        )
    )


async def fetch_mapping(request: Request) -> Response:
    service = await _service(request)
    to = _recipient(request.path_params["to"])
    found = await runtime_of(request).db.read(lambda conn: store.get_mapping(conn, service.sid, to))
    if found is None:
        raise not_found(f"{MAPPINGS}/{to}")
    return json(_mapping(found, base_url(request)))


async def pin_mapping(request: Request) -> Response:
    """Map a recipient to a sender of the pool by hand (`To`, `SenderSid`)."""
    service = await _service(request)
    form = await form_of(request)
    raw_to = request.path_params.get("to") or form.get("To")
    if not raw_to:
        raise errors.InvalidParameter("To is required")
    to = _recipient(raw_to)
    sender = form.get("SenderSid") or ""
    if not is_sid(sender, Prefix.PHONE_NUMBER, Prefix.SHORT_CODE, Prefix.ALPHA_SENDER):
        raise errors.InvalidParameter("SenderSid must be the PN, SC or AI SID of a pool sender")
    runtime = runtime_of(request)

    def write(conn: Connection) -> Mapping:
        pool = {s.sid for s in service_store.pool_of(conn, service.sid)}
        if sender not in pool:
            raise errors.InvalidParameter(f"{sender} is not in the service's sender pool")
        return store.pin_mapping(conn, service.sid, to, sender, runtime.clock.now_us())

    mapping = await runtime.db.write(write)
    return json(
        _mapping(mapping, base_url(request)), 201 if "to" not in request.path_params else 200
    )


async def delete_mapping(request: Request) -> Response:
    service = await _service(request)
    to = _recipient(request.path_params["to"])
    if not await runtime_of(request).db.write(
        lambda conn: store.delete_mapping(conn, service.sid, to)
    ):
        raise not_found(f"{MAPPINGS}/{to}")
    return no_content()


# ---- Preview ----------------------------------------------------------------------------


async def preview(request: Request) -> Response:
    """What sending `Body` to `To` through the service would do, sending nothing: the
    smart-encoded body, its encoding and segments, the sender and why, the wait in its
    queue and the price."""
    service = await _service(request)
    account_sid = service.account_sid
    form = await form_of(request)
    runtime = runtime_of(request)
    raw_to = form.get("To")
    if not raw_to:
        raise errors.ToRequired()
    to = _recipient(raw_to)
    body = form.get("Body") or ""
    media = forms.media_urls(form)
    # as a send checks them (21617, 21623, 21620, the webhook target policy)
    outbound.check_content(body, media, runtime.settings.webhook_allow_private)
    if not body.strip() and not media:
        raise errors.BodyOrMediaRequired()
    smart = form.boolean("SmartEncoded")
    smart = service.smart_encoding if smart is None else smart
    encoded = encode_body(body, smart=smart)
    lookup = runtime.transport.lookup
    recipient = recipient_of(to, lookup)
    info = lookup(to)
    row = _draft_row(account_sid, service, to, body, smart, encoded.num_segments, len(media))

    def read(conn: Connection) -> dict[str, Any]:
        pool = store.pool_entries(conn, service.sid)
        mapping = store.get_mapping(conn, service.sid, to)
        counts = store.mapping_counts(conn, service.sid) if service.sticky_sender else {}
        candidates = (e.candidate for e in pool)  # a preview is never a probe: sender health
        impaired = impaired_among(account_sid, candidates, health_store.impaired(conn))
        decision = decide(
            service, pool, row, recipient, mapping=mapping, waits={}, counts=counts,
            impaired=impaired,
        )  # fmt: skip
        wait = None
        sender = decision.sender
        if sender is not None:  # the seconds its backlog takes at its rate
            alpha = sender.kind is SenderKind.ALPHANUMERIC
            on_sender = replace(
                row, from_number=sender.address, sender_sid=None if alpha else sender.sid
            )
            backlog, mps = dispatch_store.backlog_and_rate(conn, on_sender)
            wait = round(backlog / mps, 3)
        return {
            "decision": explain(
                decision,
                addresses_of(pool),
                recipient,
                service,
                carrier=info.name if info else None,
            ),
            "wait": wait,
        }

    found = await runtime.db.read(read)
    # The MMS Converter would send it as SMS, with a link of this length appended.
    converted = converts(service, info, row)
    if converted:
        sms = converted_to_sms(row, runtime.settings.media_link("x" * 7))
        encoded = encode_body(sms.text, smart=smart)
    as_mms = bool(media) and not converted
    segments = 1 if as_mms else encoded.num_segments
    unit_price = runtime.transport.price(to, mms=as_mms)
    price = None if unit_price is None else Decimal(unit_price) * segments
    return json(
        {
            "account_sid": account_sid,
            "messaging_service_sid": service.sid,
            "to": to,
            "body": body if as_mms else "".join(encoded.segments),
            "encoding": encoded.encoding,
            "num_segments": str(segments),
            "mms_converted": converted,
            "smart_encoded": smart,
            "from": (found["decision"]["sender"] or {}).get("address"),
            "routing": found["decision"],
            "queue_wait_s": found["wait"],
            "price": None if price is None else f"-{price:.5f}",
            "price_unit": "USD",
        }
    )


def _draft_row(
    account_sid: str, service: Service, to: str, body: str, smart: bool, segments: int, media: int
) -> QueuedMessage:
    return QueuedMessage(
        id=0, sid="", account_sid=account_sid, messaging_service_sid=service.sid,
        from_number="", to_number=to, sender_sid=None, body=body, smart_encoded=smart,
        num_segments=segments, num_media=media, validity_period=None, status_callback=None,
        status=MessageStatus.ACCEPTED, date_created=0,
    )  # fmt: skip


# ---- Alerts ---------------------------------------------------------------------------


def _alert(alert: Alert, base: str) -> dict[str, Any]:
    return {
        "sid": alert.sid,
        "account_sid": alert.account_sid,
        "alert_text": alert.alert_text,
        "api_version": "2010-04-01",
        "date_created": iso8601(alert.date_created),
        "date_generated": iso8601(alert.date_created),
        "date_updated": iso8601(alert.date_updated),
        "error_code": str(alert.error_code),
        "log_level": alert.log_level,
        "more_info": None  # Herald's own codes (six digits: sender health) have no page there
        if alert.error_code >= HERALD_CODES
        else f"https://www.twilio.com/docs/errors/{alert.error_code}",
        "request_method": None,
        "request_url": None,
        "resource_sid": alert.resource_sid,
        "service_sid": alert.service_sid,
        "url": f"{base}/v1/Alerts/{alert.sid}",
    }


async def list_alerts(request: Request) -> Response:
    account = await account_of(request)
    page = page_request(query_of(request))

    def read(conn: Connection) -> list[Alert]:
        check_token(page, lambda key: store.get_alert(conn, account.sid, key))
        return store.list_alerts(conn, account.sid, limit=page.size + 1, offset=page.offset)

    rows = await runtime_of(request).db.read(read)
    base = base_url(request)
    records = [_alert(a, base) for a in rows[: page.size]]
    return json(envelope(request, "alerts", records, page, has_more=len(rows) > page.size))


async def fetch_alert(request: Request) -> Response:
    account = await account_of(request)
    sid = request.path_params["sid"]
    found = await runtime_of(request).db.read(lambda conn: store.get_alert(conn, account.sid, sid))
    if found is None:
        raise not_found(f"/v1/Alerts/{sid}")
    return json(_alert(found, base_url(request)))


def routes() -> list[Route]:
    messages = f"{render.BASE}/{{account_sid}}/Messages"
    return [
        Route(f"{messages}/{{sid}}/Routing.json", message_routing, methods=["GET"]),
        Route(MAPPINGS, list_mappings, methods=["GET"]),
        Route(MAPPINGS, pin_mapping, methods=["POST"]),
        Route(f"{MAPPINGS}/{{to}}", fetch_mapping, methods=["GET"]),
        Route(f"{MAPPINGS}/{{to}}", pin_mapping, methods=["POST"]),
        Route(f"{MAPPINGS}/{{to}}", delete_mapping, methods=["DELETE"]),
        Route(f"{SERVICE}/Preview", preview, methods=["POST"]),
        Route("/v1/Alerts", list_alerts, methods=["GET"]),
        Route("/v1/Alerts/{sid}", fetch_alert, methods=["GET"]),
    ]
