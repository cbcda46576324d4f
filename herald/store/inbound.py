"""Inbound messages' carrier ids and the inbound webhooks owed.

Webhooks are claimed like status callbacks: leased to one node (`leased_by` until
`lease_expires_at`), so a node that dies leaves them for another once the lease runs out;
on SQLite, the only node releases its old leases at start.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import and_, func, insert, null, or_, select, update
from sqlalchemy.engine import Connection

from herald.domain.inbound import InboundWebhook, WebhookTarget
from herald.domain.senders import SenderKind, SmsWebhook
from herald.store.inbound_schema import carrier_inbound, inbound_webhooks
from herald.store.schema import accounts, incoming_numbers, service_senders, short_codes

w = inbound_webhooks.c

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


def _webhook(row: Any) -> SmsWebhook:
    return SmsWebhook(
        sms_url=row.sms_url, sms_method=row.sms_method,
        sms_fallback_url=row.sms_fallback_url, sms_fallback_method=row.sms_fallback_method,
    )  # fmt: skip


def receiver_of(conn: Connection, to: str, from_country: str) -> Receiver | None:
    """The number `to` names, or the short code in the sender's country."""
    n, sc = incoming_numbers.c, short_codes.c
    row = conn.execute(
        select(incoming_numbers, service_senders.c.service_sid)
        .outerjoin(service_senders, service_senders.c.sid == n.sid)
        .where(n.phone_number == to)
    ).first()
    if row is not None:
        kind = SenderKind.TOLL_FREE if row.number_type == "toll-free" else SenderKind.LONG_CODE
        return Receiver(
            sid=row.sid, account_sid=row.account_sid, address=row.phone_number, kind=kind,
            country=row.country, webhook=_webhook(row), service_sid=row.service_sid,
        )  # fmt: skip
    row = conn.execute(
        select(short_codes, service_senders.c.service_sid)
        .outerjoin(service_senders, service_senders.c.sid == sc.sid)
        .where(sc.short_code == to, sc.country == from_country)
    ).first()
    if row is None:
        return None
    return Receiver(
        sid=row.sid, account_sid=row.account_sid, address=row.short_code,
        kind=SenderKind.SHORT_CODE, country=row.country, webhook=_webhook(row),
        service_sid=row.service_sid,
    )  # fmt: skip


def stored_as(conn: Connection, carrier: str, carrier_id: str) -> str | None:
    """The SID of the message a carrier already handed over with this id."""
    row = conn.execute(
        select(carrier_inbound.c.message_sid).where(
            carrier_inbound.c.carrier == carrier, carrier_inbound.c.carrier_id == carrier_id
        )
    ).first()
    return None if row is None else str(row[0])


def remember(conn: Connection, carrier: str, carrier_id: str, message_sid: str, now: int) -> None:
    conn.execute(
        insert(carrier_inbound).values(
            carrier=carrier, carrier_id=carrier_id, message_sid=message_sid, date_created=now
        )
    )


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
    conn.execute(
        insert(inbound_webhooks).values(
            account_sid=account_sid, message_sid=message_sid, token=token,
            url=target.url, method=target.method,
            fallback_url=target.fallback_url, fallback_method=target.fallback_method,
            params=orjson.dumps([list(p) for p in params]).decode(),
            state=PENDING, attempts=0, next_attempt_at=now,
            date_created=now, date_updated=now,
        )
    )  # fmt: skip


def _job(row: Any) -> InboundWebhook:
    return InboundWebhook(
        id=int(row.id),
        account_sid=row.account_sid,
        message_sid=row.message_sid,
        token=row.token,
        target=WebhookTarget(
            url=row.url,
            method=row.method,
            fallback_url=row.fallback_url,
            fallback_method=row.fallback_method,
        ),
        params=tuple((name, value) for name, value in orjson.loads(row.params)),
        attempts=row.attempts,
        auth_token=row.auth_token,
    )


def claim_due(
    conn: Connection, *, node: str, now: int, lease_us: int, limit: int
) -> list[InboundWebhook]:
    """Up to `limit` webhooks due now, leased to `node`, with their account's token."""
    free = or_(w.leased_by.is_(None), w.lease_expires_at < now)
    query = (
        select(inbound_webhooks, accounts.c.auth_token)
        .join(accounts, accounts.c.sid == w.account_sid)
        .where(w.state == PENDING, w.next_attempt_at <= now, free)
        .order_by(w.next_attempt_at, w.id)
        .limit(limit)
    )
    if conn.dialect.name == "postgresql":
        query = query.with_for_update(of=inbound_webhooks, skip_locked=True)
    rows = conn.execute(query).all()
    if not rows:
        return []
    conn.execute(
        update(inbound_webhooks)
        .where(w.id.in_([row.id for row in rows]))
        .values(leased_by=node, lease_expires_at=now + lease_us)
    )
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
    conn.execute(
        update(inbound_webhooks)
        .where(w.id == outcome.job_id, w.state == PENDING)
        .values(
            state=outcome.state, attempts=w.attempts + 1,
            next_attempt_at=outcome.next_attempt_at,
            status_code=outcome.status_code, error_code=outcome.error_code,
            answered_by=outcome.answered_by, twiml=outcome.twiml,
            leased_by=null(), lease_expires_at=null(), date_updated=now,
        )
    )  # fmt: skip


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
