"""What the console's message log and message page read beyond the REST API: the log
filtered by status, direction and service too, and what happened around one message (its
status callbacks, its inbound webhook, the alerts that name it, the replies it caused).
Every query names the account, so one account never reads another's rows.

The log pages newest first by row id (keyset: `older_than`/`newer_than` name a SID of
the account), walking the `(account_sid, id)` index, or `(account_sid, to_number, id)` /
`(account_sid, from_number, id)` when To or From is given.
"""

from __future__ import annotations

from dataclasses import dataclass

import orjson
from sqlalchemy import ColumnElement, and_, or_, select
from sqlalchemy.engine import Connection

from herald.domain import attempts
from herald.domain.attempts import AttemptEntry
from herald.domain.message import Message
from herald.domain.status import Direction
from herald.store.inbound_schema import inbound_webhooks
from herald.store.messages import get_message
from herald.store.schema import alerts, callbacks, messages

m, cb, w, al = messages.c, callbacks.c, inbound_webhooks.c, alerts.c


@dataclass(frozen=True, slots=True, kw_only=True)
class LogFilter:
    to_number: str | None = None
    from_number: str | None = None
    status: str | None = None
    direction: str | None = None
    service_sid: str | None = None
    created_from: int | None = None  # inclusive, microseconds
    created_before: int | None = None  # exclusive


@dataclass(frozen=True, slots=True, kw_only=True)
class LogRow:
    sid: str
    direction: str
    from_number: str | None
    to_number: str
    body: str
    status: str
    num_segments: int
    error_code: int | None
    messaging_service_sid: str | None
    date_created: int


def _conditions(account_sid: str, where: LogFilter) -> list[ColumnElement[bool]]:
    found: list[ColumnElement[bool]] = [m.account_sid == account_sid]
    for column, value in (
        (m.to_number, where.to_number),
        (m.from_number, where.from_number),
        (m.status, where.status),
        (m.direction, where.direction),
        (m.messaging_service_sid, where.service_sid),
    ):
        if value:
            found.append(column == value)
    if where.created_from is not None:
        found.append(m.date_created >= where.created_from)
    if where.created_before is not None:
        found.append(m.date_created < where.created_before)
    return found


def _id_of(account_sid: str, sid: str) -> ColumnElement[int]:
    """The row id of the account's message `sid` (NULL, so no rows, for another's)."""
    return (
        select(m.id).where(m.sid == sid, m.account_sid == account_sid).scalar_subquery()
    )  # fmt: skip


def list_log(
    conn: Connection,
    account_sid: str,
    where: LogFilter,
    *,
    limit: int,
    older_than: str | None = None,
    newer_than: str | None = None,
) -> list[LogRow]:
    """Up to `limit` messages, newest first: the newest, those just older than
    `older_than`, or those just newer than `newer_than`."""
    conditions = _conditions(account_sid, where)
    order = m.id.desc()
    if older_than:
        conditions.append(m.id < _id_of(account_sid, older_than))
    elif newer_than:
        conditions.append(m.id > _id_of(account_sid, newer_than))
        order = m.id.asc()
    query = (
        select(
            m.sid, m.direction, m.from_number, m.to_number, m.body, m.status, m.num_segments,
            m.error_code, m.messaging_service_sid, m.date_created,
        )
        .where(and_(*conditions))
        .order_by(order)
        .limit(limit)
    )  # fmt: skip
    rows = [LogRow(**row._asdict()) for row in conn.execute(query)]
    return rows[::-1] if newer_than and not older_than else rows


@dataclass(frozen=True, slots=True, kw_only=True)
class CallbackRow:
    """One status callback owed (one per status change reported) and its attempts."""

    sequence: int
    status: str  # the MessageStatus it reports
    url: str
    method: str
    event_time: int  # when the status changed
    state: str  # pending | delivered | dead
    attempts: int
    last_status_code: int | None
    last_error: str | None
    last_attempt_at: int | None
    next_attempt_at: int | None  # while pending
    tries: list[AttemptEntry]  # every attempt, oldest first


def callbacks_of(conn: Connection, account_sid: str, message_sid: str) -> list[CallbackRow]:
    rows = conn.execute(
        select(
            cb.sequence, cb.params, cb.url, cb.method, cb.event_time, cb.state, cb.attempts,
            cb.last_status_code, cb.last_error, cb.date_updated, cb.next_attempt_at,
            cb.history,
        )
        .where(cb.message_sid == message_sid, cb.account_sid == account_sid)
        .order_by(cb.sequence)
    )  # fmt: skip
    return [
        CallbackRow(
            sequence=row.sequence,
            status=dict(orjson.loads(row.params)).get("MessageStatus", ""),
            url=row.url,
            method=row.method,
            event_time=row.event_time,
            state=row.state,
            attempts=row.attempts,
            last_status_code=row.last_status_code,
            last_error=row.last_error,
            last_attempt_at=row.date_updated if row.attempts else None,
            next_attempt_at=row.next_attempt_at if row.state == "pending" else None,
            tries=attempts.parse(row.history),
        )
        for row in rows
    ]


@dataclass(frozen=True, slots=True, kw_only=True)
class WebhookRow:
    """An inbound message's webhook: its targets, its attempts and the TwiML read."""

    url: str
    method: str
    fallback_url: str
    state: str  # pending | done | dead
    attempts: int
    status_code: int | None
    error_code: int | None
    answered_by: str | None
    twiml: str | None
    date_created: int
    date_updated: int
    tries: list[AttemptEntry]


def webhook_of(conn: Connection, account_sid: str, message_sid: str) -> WebhookRow | None:
    row = conn.execute(
        select(
            w.url, w.method, w.fallback_url, w.state, w.attempts, w.status_code, w.error_code,
            w.answered_by, w.twiml, w.date_created, w.date_updated, w.history,
        ).where(w.message_sid == message_sid, w.account_sid == account_sid)
    ).first()  # fmt: skip
    if row is None:
        return None
    found = row._asdict()
    tries = attempts.parse(found.pop("history"))
    return WebhookRow(**found, tries=tries)


@dataclass(frozen=True, slots=True, kw_only=True)
class AlertRow:
    sid: str
    error_code: int
    log_level: str
    alert_text: str
    date_created: int


def alerts_of(conn: Connection, account_sid: str, resource_sid: str) -> list[AlertRow]:
    """The alerts about this message (an inbound webhook's failures: one per attempt)."""
    rows = conn.execute(
        select(al.sid, al.error_code, al.log_level, al.alert_text, al.date_created)
        .where(al.account_sid == account_sid, al.resource_sid == resource_sid)
        .order_by(al.date_created, al.sid)
        .limit(100)
    )
    return [AlertRow(**row._asdict()) for row in rows]


def replies_to(conn: Connection, inbound: Message, answered_at: int | None) -> list[LogRow]:
    """The replies an inbound message caused. Herald stores no link from a reply to its
    message; each is written in the same transaction as its cause, with that write's time:
    an opt-out confirmation with the inbound message, a TwiML reply with the webhook's
    outcome. So: the account's `outbound-reply` messages created at one of those instants,
    to the texter or from the number that was texted."""
    instants = [inbound.date_created] + ([answered_at] if answered_at is not None else [])
    query = (
        select(
            m.sid, m.direction, m.from_number, m.to_number, m.body, m.status, m.num_segments,
            m.error_code, m.messaging_service_sid, m.date_created,
        )
        .where(
            m.account_sid == inbound.account_sid,
            m.direction == Direction.OUTBOUND_REPLY.value,
            m.date_created.in_(instants),
            or_(m.to_number == inbound.from_number, m.from_number == inbound.to_number),
        )
        .order_by(m.id)
        .limit(20)
    )  # fmt: skip
    return [LogRow(**row._asdict()) for row in conn.execute(query)]


@dataclass(frozen=True, slots=True, kw_only=True)
class MessageRecord:
    """All the message page reads from the store, in one transaction."""

    message: Message
    routed: bool  # a service chose its sender (so it began `accepted`)
    callbacks: list[CallbackRow]
    webhook: WebhookRow | None
    alerts: list[AlertRow]
    replies: list[LogRow]


def record_of(conn: Connection, account_sid: str, sid: str) -> MessageRecord | None:
    message = get_message(conn, account_sid, sid)
    if message is None:
        return None
    routed = conn.execute(
        select(m.routing.is_not(None)).where(m.sid == sid, m.account_sid == account_sid)
    ).scalar_one()
    inbound = message.direction is Direction.INBOUND
    webhook = webhook_of(conn, account_sid, sid) if inbound else None
    answered = webhook.date_updated if webhook is not None and webhook.attempts else None
    return MessageRecord(
        message=message,
        routed=bool(routed),
        callbacks=callbacks_of(conn, account_sid, sid),
        webhook=webhook,
        alerts=alerts_of(conn, account_sid, sid),
        replies=replies_to(conn, message, answered) if inbound else [],
    )
