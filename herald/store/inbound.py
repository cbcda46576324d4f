"""Inbound messages' carrier ids and the inbound webhooks owed.

Webhooks are claimed like status callbacks: leased to one node (`leased_by` until
`lease_expires_at`), so a node that dies leaves them for another once the lease runs out;
on SQLite, the only node releases its old leases at start. The statements every inbound
message runs are `RawStatement`s (compiled once: Core's per-call cost was most of the
receive path).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import and_, bindparam, func, insert, null, or_, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from herald.domain.attempts import entry as attempt_entry
from herald.domain.inbound import InboundWebhook, WebhookTarget
from herald.domain.senders import SenderKind, SmsWebhook
from herald.store.inbound_schema import carrier_inbound, inbound_webhooks
from herald.store.raw import RawStatement
from herald.store.schema import accounts, incoming_numbers, messages, service_senders, short_codes

w = inbound_webhooks.c
n, sc, ci = incoming_numbers.c, short_codes.c, carrier_inbound.c

PENDING, DONE, DEAD = "pending", "done", "dead"


@dataclass(frozen=True, slots=True, kw_only=True)
class Receiver:
    """The number or short code an inbound message was sent to, and whose it is."""

    sid: str
    account_sid: str
    address: str
    kind: SenderKind
    country: str
    webhook: SmsWebhook
    service_sid: str | None


# sid, account_sid, address, country, the four SmsWebhook fields, the service (or None),
# and for a number its type.
_NUMBER = RawStatement(
    select(
        n.sid, n.account_sid, n.phone_number, n.country, n.sms_url, n.sms_method,
        n.sms_fallback_url, n.sms_fallback_method, service_senders.c.service_sid, n.number_type,
    )
    .outerjoin(service_senders, service_senders.c.sid == n.sid)
    .where(n.phone_number == bindparam("to"))
)  # fmt: skip
_SHORT_CODE = RawStatement(
    select(
        sc.sid, sc.account_sid, sc.short_code, sc.country, sc.sms_url, sc.sms_method,
        sc.sms_fallback_url, sc.sms_fallback_method, service_senders.c.service_sid,
    )
    .outerjoin(service_senders, service_senders.c.sid == sc.sid)
    .where(sc.short_code == bindparam("to"), sc.country == bindparam("country"))
)  # fmt: skip
_STORED_AS = RawStatement(
    select(ci.message_sid).where(
        ci.carrier == bindparam("carrier"), ci.carrier_id == bindparam("carrier_id")
    )
)
_REMEMBER = RawStatement(
    insert(carrier_inbound).values({c.name: bindparam(c.name) for c in carrier_inbound.c})
)
_OWE_WEBHOOK = RawStatement(
    insert(inbound_webhooks).values(
        {
            name: bindparam(name)
            for name in ("account_sid", "message_sid", "token", "url", "method", "fallback_url",
                         "fallback_method", "params", "next_attempt_at", "date_created",
                         "date_updated")
        }
        | {"state": PENDING, "attempts": 0}
    )
)  # fmt: skip
_RECORD = RawStatement(
    update(inbound_webhooks)
    .where(w.id == bindparam("job_id"), w.state == PENDING)
    .values(
        {
            name: bindparam(name)
            for name in ("state", "next_attempt_at", "status_code", "error_code", "answered_by",
                         "twiml", "date_updated")
        }
        | {"attempts": w.attempts + 1, "leased_by": null(), "lease_expires_at": null(),
           "history": w.history.concat(bindparam("entry"))}
    )
)  # fmt: skip
_REPLY_CONTEXT = RawStatement(
    select(
        messages.c.messaging_service_sid, messages.c.to_number, messages.c.sender_sid,
        messages.c.from_number,
    ).where(messages.c.sid == bindparam("sid"), messages.c.account_sid == bindparam("account_sid"))
)  # fmt: skip


def _receiver(row: tuple[Any, ...], kind: SenderKind) -> Receiver:
    sid, account_sid, address, country, url, method, fallback_url, fallback_method = row[:8]
    return Receiver(
        sid=sid, account_sid=account_sid, address=address, kind=kind, country=country,
        webhook=SmsWebhook(
            sms_url=url, sms_method=method,
            sms_fallback_url=fallback_url, sms_fallback_method=fallback_method,
        ),
        service_sid=row[8],
    )  # fmt: skip


def receiver_of(conn: Connection, to: str, from_country: str) -> Receiver | None:
    """The number `to` names, or the short code in the sender's country."""
    rows = _NUMBER.fetch(conn, {"to": to})
    if rows:
        toll_free = rows[0][9] == "toll-free"
        return _receiver(rows[0], SenderKind.TOLL_FREE if toll_free else SenderKind.LONG_CODE)
    rows = _SHORT_CODE.fetch(conn, {"to": to, "country": from_country})
    return _receiver(rows[0], SenderKind.SHORT_CODE) if rows else None


def stored_as(conn: Connection, carrier: str, carrier_id: str) -> str | None:
    """The SID of the message a carrier already handed over with this id."""
    rows = _STORED_AS.fetch(conn, {"carrier": carrier, "carrier_id": carrier_id})
    return str(rows[0][0]) if rows else None


def remember(conn: Connection, carrier: str, carrier_id: str, message_sid: str, now: int) -> None:
    """Raises `IntegrityError` when another node stored the same hand-over meanwhile."""
    row = {"carrier": carrier, "carrier_id": carrier_id, "message_sid": message_sid,
           "date_created": now}  # fmt: skip
    try:
        _REMEMBER.run_many(conn, [row])
    except conn.dialect.loaded_dbapi.IntegrityError as exc:  # the driver's, as Core wraps it
        raise IntegrityError("INSERT INTO carrier_inbound", row, exc) from exc


@dataclass(frozen=True, slots=True, kw_only=True)
class ReplyContext:
    """What answering an inbound message needs of it (`InboundDelivery`)."""

    messaging_service_sid: str | None
    to_number: str
    sender_sid: str | None
    from_number: str | None


def reply_context(conn: Connection, account_sid: str, message_sid: str) -> ReplyContext | None:
    """The inbound message's service, numbers and sender; None once it is deleted."""
    rows = _REPLY_CONTEXT.fetch(conn, {"sid": message_sid, "account_sid": account_sid})
    if not rows:
        return None
    service_sid, to_number, sender_sid, from_number = rows[0]
    return ReplyContext(
        messaging_service_sid=service_sid, to_number=to_number, sender_sid=sender_sid,
        from_number=from_number,
    )  # fmt: skip


def owe_webhook(
    conn: Connection,
    *,
    account_sid: str,
    message_sid: str,
    token: str,
    target: WebhookTarget,
    params: Sequence[tuple[str, str]],
    now: int,
) -> None:
    row = {
        "account_sid": account_sid, "message_sid": message_sid, "token": token,
        "url": target.url, "method": target.method,
        "fallback_url": target.fallback_url, "fallback_method": target.fallback_method,
        "params": orjson.dumps([list(p) for p in params]).decode(),
        "next_attempt_at": now, "date_created": now, "date_updated": now,
    }  # fmt: skip
    _OWE_WEBHOOK.run_many(conn, [row])


_JOB_COLUMNS = (
    w.id, w.account_sid, w.message_sid, w.token, w.url, w.method, w.fallback_url,
    w.fallback_method, w.params, w.attempts, accounts.c.auth_token,
)  # fmt: skip
_DUE = (
    select(*_JOB_COLUMNS)
    .join(accounts, accounts.c.sid == w.account_sid)
    .where(
        w.state == PENDING,
        w.next_attempt_at <= bindparam("now"),
        or_(w.leased_by.is_(None), w.lease_expires_at < bindparam("now")),
    )
    .order_by(w.next_attempt_at, w.id)
    .limit(bindparam("limit"))
)
_CLAIM = {
    "sqlite": RawStatement(_DUE),
    "postgresql": RawStatement(_DUE.with_for_update(of=inbound_webhooks, skip_locked=True)),
}
_LEASE = RawStatement(
    update(inbound_webhooks)
    .where(w.id == bindparam("job_id"))
    .values(leased_by=bindparam("node"), lease_expires_at=bindparam("until"))
)


def _job(row: tuple[Any, ...]) -> InboundWebhook:
    job_id, account_sid, message_sid, token, url, method, fallback_url, fallback_method = row[:8]
    params, attempts, auth_token = row[8:]
    return InboundWebhook(
        id=int(job_id),
        account_sid=account_sid,
        message_sid=message_sid,
        token=token,
        target=WebhookTarget(
            url=url, method=method, fallback_url=fallback_url, fallback_method=fallback_method
        ),
        params=tuple((name, value) for name, value in orjson.loads(params)),
        attempts=attempts,
        auth_token=auth_token,
    )


def claim_due(
    conn: Connection, *, node: str, now: int, lease_us: int, limit: int
) -> list[InboundWebhook]:
    """Up to `limit` webhooks due now, leased to `node`, with their account's token."""
    rows = _CLAIM[conn.dialect.name].fetch(conn, {"now": now, "limit": limit})
    if not rows:
        return []
    until = now + lease_us
    _LEASE.run_many(conn, [{"job_id": row[0], "node": node, "until": until} for row in rows])
    return [_job(row) for row in rows]


@dataclass(frozen=True, slots=True, kw_only=True)
class Outcome:
    """How one attempt ended: `done`, `pending` again at `next_attempt_at`, or `dead`."""

    job_id: int
    state: str
    next_attempt_at: int
    status_code: int | None = None
    error_code: int | None = None
    answered_by: str | None = None
    twiml: str | None = None


def record(conn: Connection, outcome: Outcome, now: int) -> None:
    row = {
        "job_id": outcome.job_id, "state": outcome.state,
        "next_attempt_at": outcome.next_attempt_at,
        "status_code": outcome.status_code, "error_code": outcome.error_code,
        "answered_by": outcome.answered_by, "twiml": outcome.twiml, "date_updated": now,
        "entry": attempt_entry(now, outcome.status_code,
                               None if outcome.error_code is None else str(outcome.error_code)),
    }  # fmt: skip
    _RECORD.run_many(conn, [row])


def release_leases(conn: Connection, now: int) -> int:
    """At a sole node's start: whatever it held before a crash is free again."""
    result = conn.execute(
        update(inbound_webhooks)
        .where(w.state == PENDING, w.leased_by.is_not(None))
        .values(leased_by=null(), lease_expires_at=null(), date_updated=now)
    )
    return int(result.rowcount or 0)


def next_due(conn: Connection) -> int | None:
    """When the earliest pending webhook is due (µs), if any."""
    value = conn.execute(
        select(func.min(w.next_attempt_at)).where(and_(w.state == PENDING))
    ).scalar_one_or_none()
    return None if value is None else int(value)


@dataclass(frozen=True, slots=True, kw_only=True)
class WebhookRecord:
    state: str
    attempts: int
    url: str
    status_code: int | None
    error_code: int | None
    answered_by: str | None
    twiml: str | None


def webhook_of(conn: Connection, message_sid: str) -> WebhookRecord | None:
    row = conn.execute(select(inbound_webhooks).where(w.message_sid == message_sid)).first()
    if row is None:
        return None
    return WebhookRecord(
        state=row.state, attempts=row.attempts, url=row.url, status_code=row.status_code,
        error_code=row.error_code, answered_by=row.answered_by, twiml=row.twiml,
    )  # fmt: skip


def count_by_state(conn: Connection) -> dict[str, int]:
    rows = conn.execute(select(w.state, func.count()).group_by(w.state))
    return {state: int(n) for state, n in rows}
