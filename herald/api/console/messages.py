"""The message log and a message's page: filters, paging, routing, timeline, webhooks.

The log reads the store (`store/console_messages.py`): the REST list filters only To,
From and DateSent, the console also by status, direction, service and creation date.
A message's page reads its record in one transaction (times in microseconds, which the
API's RFC 2822 dates round to seconds) and its routing explanation from `Routing.json`,
as an API client would."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from herald.api.console.pages import Page, page
from herald.api.console.timeline import timeline, when
from herald.api.requests import runtime_of
from herald.domain.numbers import NumberError, parse_number
from herald.domain.status import Direction, MessageStatus, is_terminal
from herald.domain.timestamps import parse_filter
from herald.store import console_messages as store

MESSAGE_SID = re.compile(r"^(SM|MM)[0-9a-f]{32}$")
SERVICE_SID = re.compile(r"^MG[0-9a-f]{32}$")
PAGE_SIZE, MAX_PAGE_SIZE = 50, 200
FOLLOW_US = 10 * 60 * 1_000_000  # a message's page follows it for its first ten minutes
STATUSES = [s.value for s in MessageStatus]
DIRECTIONS = [d.value for d in Direction]

# What each routing rule means, as a sentence (domain/routing.py's `Rule`).
RULES = {
    "short_code": "Short code: the pool has a short code in the recipient's country, and "
    "the recipient's carrier takes short codes.",
    "alpha_sender": "Alphanumeric sender ID: the recipient's country accepts them.",
    "sticky_sender": "Sticky Sender: this recipient is mapped to this sender.",
    "area_code_geomatch": "Area Code Geomatch: a number with the recipient's area code "
    "(or an overlay of it), else a US/CA number.",
    "country_geomatch": "Country Code Geomatch: a number from the recipient's country.",
    "us_number_fallback": "No sender in the recipient's country: a US number instead.",
    "any_number": "No better match: any number of the pool.",
    "from_parameter": "The request named its sender itself (From): no routing.",
    "none": "No sender of the pool could send this message.",
}


def rule_text(rule: str | None) -> str:
    return RULES.get(rule or "", rule or "")


# ---- the log ----------------------------------------------------------------------------


def _number(raw: str) -> str:
    """A number as stored (E.164) when it reads as one; short codes and IDs as typed."""
    raw = raw.strip()
    try:
        return parse_number(raw).e164 if raw.startswith("+") else raw
    except NumberError:
        return raw


def _filters(q: Any) -> tuple[store.LogFilter, dict[str, str], str]:
    """The log's filter from the query, the values to show back, and any error."""
    shown = {
        name: (q.get(name) or "").strip()
        for name in ("to", "from", "status", "direction", "service", "since", "until")
    }
    error = ""
    bounds: list[int | None] = [None, None]
    for i, name in enumerate(("since", "until")):
        if shown[name]:
            try:
                bounds[i] = parse_filter(shown[name])[i]  # since: its start; until: its end
            except ValueError:
                error = f"{shown[name]!r} is not a date (YYYY-MM-DD)"
    where = store.LogFilter(
        to_number=_number(shown["to"]) or None,
        from_number=_number(shown["from"]) or None,
        status=shown["status"] if shown["status"] in STATUSES else None,
        direction=shown["direction"] if shown["direction"] in DIRECTIONS else None,
        service_sid=shown["service"] if SERVICE_SID.match(shown["service"]) else None,
        created_from=bounds[0],
        created_before=bounds[1],
    )
    return where, shown, error


def _size(raw: str | None) -> int:
    if raw and raw.isascii() and raw.isdigit() and len(raw) < 5:
        return max(1, min(int(raw), MAX_PAGE_SIZE))
    return PAGE_SIZE


async def services_of(p: Page) -> dict[str, str]:
    """The account's Messaging Services, SID → friendly name (the API's list)."""
    answer = await p.api.get("/v1/Services", {"PageSize": "1000"})
    found = answer.body.get("services", []) if answer.ok else []
    return {s["sid"]: s["friendly_name"] for s in found}


_CURSORS = ("older", "newer", "notice")  # not kept in the links to other pages


@dataclass(frozen=True, slots=True, kw_only=True)
class Paging:
    older: str | None
    newer: str | None


def _paging(
    p: Page, rows: list[store.LogRow], size: int, older_than: str, newer_than: str
) -> tuple[list[store.LogRow], Paging]:
    """Trim the page fetched one row long, and the links to its neighbours."""
    more = len(rows) > size
    if newer_than:
        rows = rows[1:] if more else rows
        older, newer = (rows[-1].sid if rows else None), (rows[0].sid if more and rows else None)
    else:
        rows = rows[:size]
        older = rows[-1].sid if more and rows else None
        newer = rows[0].sid if older_than and rows else None
    kept = [(k, v) for k, v in p.request.query_params.multi_items() if k not in _CURSORS]

    def link(key: str, sid: str | None) -> str | None:
        return None if sid is None else "/console/messages?" + urlencode([*kept, (key, sid)])

    return rows, Paging(older=link("older", older), newer=link("newer", newer))


@page
async def log(p: Page) -> Response:
    q = p.request.query_params
    where, shown, error = _filters(q)
    size = _size(q.get("size"))
    older_than = q.get("older", "") if MESSAGE_SID.match(q.get("older", "")) else ""
    newer_than = q.get("newer", "") if MESSAGE_SID.match(q.get("newer", "")) else ""
    account_sid = p.signed.account_sid
    rows = await runtime_of(p.request).db.read(
        lambda conn: store.list_log(
            conn, account_sid, where, limit=size + 1, older_than=older_than or None,
            newer_than=None if older_than else newer_than or None,
        )
    )  # fmt: skip
    rows, paging = _paging(p, rows, size, older_than, "" if older_than else newer_than)
    return p.render(
        "messages.html", section="messages", title="Messages", rows=[_row(r) for r in rows],
        shown=shown, error=error, statuses=STATUSES, directions=DIRECTIONS,
        services=await services_of(p), paging=paging,
    )  # fmt: skip


def _row(row: store.LogRow) -> dict[str, Any]:
    body = row.body if len(row.body) <= 80 else row.body[:79] + "…"
    return {
        "sid": row.sid, "direction": row.direction, "from": row.from_number or "",
        "to": row.to_number, "body": body, "status": row.status, "segments": row.num_segments,
        "error_code": row.error_code, "service": row.messaging_service_sid or "",
        "created": when(row.date_created),
    }  # fmt: skip


# ---- a message's page -------------------------------------------------------------------


def not_found(p: Page) -> Response:
    return p.render(
        "error.html", 404, title="No such message",
        message="This account has no message with that SID.",
    )  # fmt: skip


@page
async def message(p: Page) -> Response:
    """The message, how its sender was chosen, its timeline, callbacks, webhook, replies."""
    sid = p.request.path_params["sid"]
    if not MESSAGE_SID.match(sid):
        return not_found(p)
    account_sid = p.signed.account_sid
    found = await runtime_of(p.request).db.read(
        lambda conn: store.record_of(conn, account_sid, sid)
    )
    if found is None:
        return not_found(p)
    routing = None
    if found.message.direction is not Direction.INBOUND:
        answer = await p.api.get(p.api.account_path(f"Messages/{sid}/Routing.json"))
        routing = _routing(answer.body.get("decision")) if answer.ok else None
    msg = found.message
    return p.render(
        "message.html", section="messages", title=f"Message {sid}", m=msg,
        refresh=_in_flight(found, runtime_of(p.request).clock.now_us()),
        created=when(msg.date_created), sent=when(msg.date_sent), updated=when(msg.date_updated),
        routing=routing, steps=timeline(found), callbacks=found.callbacks,
        webhook=found.webhook, alerts=found.alerts, replies=[_row(r) for r in found.replies],
        when=when, is_reply=msg.direction is Direction.OUTBOUND_REPLY,
        is_inbound=msg.direction is Direction.INBOUND,
    )  # fmt: skip


def _in_flight(found: store.MessageRecord, now: int) -> bool:
    """Whether the page should refresh itself: something is still to happen (a status,
    a callback, the webhook), for at most `FOLLOW_US` after the message was made."""
    if now - found.message.date_created > FOLLOW_US:
        return False
    pending = any(c.state == "pending" for c in found.callbacks) or (
        found.webhook is not None and found.webhook.state == "pending"
    )
    return pending or not is_terminal(found.message.status)


def _routing(decision: dict[str, Any] | None) -> dict[str, Any] | None:
    """`Routing.json`'s decision, ready to show: the rule in words, every reason."""
    if not decision:
        return None
    sender = decision.get("sender") or {}
    return {
        "rule": decision.get("rule"),
        "text": rule_text(decision.get("rule")),
        "sender": sender.get("address"),
        "sender_sid": sender.get("sid"),
        "sender_type": sender.get("type"),
        "candidates": decision.get("candidates"),
        "pool_size": decision.get("pool_size"),
        "rerouted": bool(decision.get("rerouted")),
        "alert_code": decision.get("alert_code"),
        "error_code": decision.get("error_code"),
        "health": decision.get("health"),
        "rejected": decision.get("rejected") or [],
        "rejected_total": decision.get("rejected_total") or 0,
        "by_reason": decision.get("rejected_by_reason") or [],
        "recipient": decision.get("recipient"),
        "settings": decision.get("settings"),
    }


def routes() -> list[BaseRoute]:
    return [
        Route("/console/messages", log, methods=["GET"]),
        Route("/console/messages/{sid}", message, methods=["GET"]),
    ]
