"""Sending a test message from the console, with a live preview before sending.

From a service, the preview is the service's `Preview` (`/v1/Services/{MG}/Preview`): the
encoding, the segments, the sender routing would choose and why, that sender's queue wait
and the price, sending nothing. A number has no Preview resource, so its preview is worked
out here as Preview works it out: `encode_body` (no Smart Encoding, as a send without
`SmartEncoded`), the number's backlog at its rate, the carrier's price per segment; the
sender is the number itself. Sending is `POST Messages.json`, through the API; the browser
then goes to the new message's page."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy.engine import Connection
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from herald.api.console.messages import SERVICE_SID, rule_text, services_of
from herald.api.console.pages import Page, page
from herald.api.requests import runtime_of
from herald.domain.encoding import encode_body
from herald.domain.numbers import NumberError, parse_number
from herald.domain.queued import QueuedMessage
from herald.domain.status import MessageStatus
from herald.store import dispatch as dispatch_store
from herald.store import senders as sender_store

FIELDS = ("From", "To", "Body", "StatusCallback")


def _values(p: Page) -> dict[str, str]:
    form = p.form
    return {name: (form.get(name) or "") if form is not None else "" for name in FIELDS}


def _wait(seconds: float | None) -> str:
    return "—" if seconds is None else f"{seconds:g} s"


def _price(price: str | None, unit: str = "USD") -> str:
    return "unknown" if price is None else f"{price} {unit}"


def _refused(error: str) -> dict[str, Any]:
    return {"ok": False, "error": error, "encoding": "—", "segments": "—", "sender": "—",
            "rule": "—", "wait": "—", "price": "—"}  # fmt: skip


async def _service_preview(p: Page, service: str, to: str, body: str) -> dict[str, Any]:
    answer = await p.api.post(f"/v1/Services/{service}/Preview", [("To", to), ("Body", body)])
    if not answer.ok:
        return _refused(answer.error)
    found = answer.body
    routing = found.get("routing") or {}
    no_sender = routing.get("error_code")
    return {
        "ok": not no_sender,
        "error": f"No sender of the pool can send this (error {no_sender})" if no_sender else "",
        "encoding": found["encoding"],
        "segments": found["num_segments"],
        "sender": found.get("from") or "none",
        "rule": rule_text(routing.get("rule")),
        "wait": _wait(found.get("queue_wait_s")),
        "price": _price(found.get("price"), found.get("price_unit") or "USD"),
    }


async def _number_preview(p: Page, number: str, to: str, body: str) -> dict[str, Any]:
    try:
        recipient = parse_number(to.strip()).e164
    except NumberError:
        return _refused(f"The 'To' number {to} is not a valid phone number.")
    if not body.strip():
        return _refused("A message needs a Body.")
    encoded = encode_body(body, smart=False)
    runtime = runtime_of(p.request)
    account_sid = p.signed.account_sid

    def read(conn: Connection) -> float | None:
        found = sender_store.number_sender(conn, account_sid, number)
        if found is None:
            return None
        draft = QueuedMessage(
            id=0, sid="", account_sid=account_sid, messaging_service_sid=None,
            from_number=number, to_number=recipient, sender_sid=found[0], body=body,
            smart_encoded=False, num_segments=encoded.num_segments, num_media=0,
            validity_period=None, status_callback=None, status=MessageStatus.QUEUED,
            date_created=0,
        )  # fmt: skip
        backlog, mps = dispatch_store.backlog_and_rate(conn, draft)
        return round(backlog / mps, 3)

    wait = await runtime.db.read(read)
    if wait is None:
        return _refused(f"{number} is not one of this account's numbers.")
    unit = runtime.transport.price(recipient, mms=False)
    price = None if unit is None else f"-{Decimal(unit) * encoded.num_segments:.5f}"
    return {
        "ok": True, "error": "", "encoding": encoded.encoding.value,
        "segments": str(encoded.num_segments), "sender": number,
        "rule": rule_text("from_parameter"), "wait": _wait(wait), "price": _price(price),
    }  # fmt: skip


async def preview_of(p: Page, values: dict[str, str]) -> dict[str, Any]:
    sender, to, body = values["From"], values["To"], values["Body"]
    if not sender or not to.strip() or not body:
        return _refused("Choose a sender, and fill in To and Body to see the preview.")
    if SERVICE_SID.match(sender):
        return await _service_preview(p, sender, to, body)
    return await _number_preview(p, sender, to, body)


async def _numbers_of(p: Page) -> list[dict[str, str]]:
    answer = await p.api.get(p.api.account_path("IncomingPhoneNumbers.json"), {"PageSize": "1000"})
    found = answer.body.get("incoming_phone_numbers", []) if answer.ok else []
    return [
        {"number": n["phone_number"], "name": n["friendly_name"]}
        for n in found
        if (n.get("capabilities") or {}).get("sms", True)
    ]


async def _form(
    p: Page, values: dict[str, str], *, error: str = "", preview: dict[str, Any] | None = None,
    status: int = 200,
) -> Response:  # fmt: skip
    return p.render(
        "send.html", status, section="send", title="Send a test message", values=values,
        services=await services_of(p), numbers=await _numbers_of(p), error=error,
        preview=preview or _refused(""),
    )  # fmt: skip


@page
async def send_form(p: Page) -> Response:
    values = dict.fromkeys(FIELDS, "")
    values["From"] = p.request.query_params.get("From", "")
    return await _form(p, values)


@page
async def send(p: Page) -> Response:
    """Preview (the form's own button, without JavaScript) or send through the API."""
    values = _values(p)
    if p.form is not None and p.form.get("action") == "preview":
        return await _form(p, values, preview=await preview_of(p, values))
    sender = values["From"]
    pairs = [("To", values["To"]), ("Body", values["Body"])]
    pairs.append(("MessagingServiceSid" if SERVICE_SID.match(sender) else "From", sender))
    if values["StatusCallback"].strip():
        pairs.append(("StatusCallback", values["StatusCallback"].strip()))
    answer = await p.api.post(p.api.account_path("Messages.json"), pairs)
    if not answer.ok:
        return await _form(p, values, error=answer.error, status=400)
    sid = answer.body["sid"]
    return p.redirect(f"/console/messages/{sid}", notice=f"Sent: {sid} is {answer.body['status']}.")


@page
async def preview(p: Page) -> Response:
    """The live preview's answer (`static/send.js`), as JSON."""
    found = await preview_of(p, _values(p))
    return JSONResponse(found, headers={"Cache-Control": "no-store"})


def routes() -> list[BaseRoute]:
    return [
        Route("/console/send", send_form, methods=["GET"]),
        Route("/console/send", send, methods=["POST"]),
        Route("/console/send/preview.json", preview, methods=["POST"]),
    ]
