"""The SQL of dispatch: messages waiting to go, their senders, and guarded status changes.

Every change is an `UPDATE … WHERE status IN (allowed)` from domain/status.py, so a
message that moved on meanwhile (a lost race) is left alone and reported as such.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

from sqlalchemy import ColumnElement, bindparam, func, literal_column, or_, select, update
from sqlalchemy.engine import Connection

from herald.domain.queued import QueuedMessage, SenderFacts, queued, sender_mps
from herald.domain.ratelimit import INTERNATIONAL_MPS, would_overflow
from herald.domain.senders import SenderKind
from herald.domain.status import MessageStatus, allowed_from
from herald.store.portable import in_chunks
from herald.store.raw import RawStatement
from herald.store.schema import incoming_numbers, media, messages, short_codes

m = messages.c


QUEUED_COLUMNS = (
    m.id, m.sid, m.account_sid, m.messaging_service_sid, m.from_number, m.to_number,
    m.sender_sid, m.body, m.smart_encoded, m.num_segments, m.num_media, m.validity_period,
    m.status_callback, m.status, m.date_created, m.send_at, m.mms_link,
)  # fmt: skip


def queued_from(row: Any) -> QueuedMessage:
    """A row selected with `QUEUED_COLUMNS`."""
    return queued(row, row.id)


def load_waiting(
    conn: Connection,
    *,
    after_id: int,
    limit: int,
    statuses: Sequence[MessageStatus],
    sent_since: int | None = None,
) -> list[QueuedMessage]:
    """Messages in `statuses` with a row id above `after_id`, oldest first (with
    `sent_since`, only those sent since then)."""
    query = select(*QUEUED_COLUMNS).where(
        m.id > after_id, m.status.in_([s.value for s in statuses])
    )
    if sent_since is not None:
        query = query.where(m.date_sent >= sent_since)
    rows = conn.execute(query.order_by(m.id).limit(limit))
    return [queued(row, row.id) for row in rows]


def waiting_sids(
    conn: Connection, *, after_id: int, limit: int, statuses: Sequence[MessageStatus]
) -> list[tuple[int, str]]:
    """(row id, SID) of messages in `statuses` above `after_id`, oldest first: the intake
    reads whole rows only for those it does not hold already (most it was handed)."""
    query = select(m.id, m.sid).where(m.id > after_id, m.status.in_([s.value for s in statuses]))
    return [(row_id, sid) for row_id, sid in conn.execute(query.order_by(m.id).limit(limit))]


def load_by_sids(conn: Connection, sids: Sequence[str]) -> list[QueuedMessage]:
    """These messages, oldest first."""
    rows: list[QueuedMessage] = []
    for chunk in in_chunks(sids):
        found = conn.execute(select(*QUEUED_COLUMNS).where(m.sid.in_(chunk)))
        rows += [queued(row, row.id) for row in found]
    return sorted(rows, key=lambda row: row.id)


def load_for_keys(
    conn: Connection,
    keys: Sequence[str],
    statuses: Sequence[MessageStatus],
    sent_since: int | None = None,
    updated_before: int | None = None,
) -> list[QueuedMessage]:
    """Messages in `statuses` of the senders whose queue keys these are (a sender's SID,
    or `account/from` for an alphanumeric ID), oldest first."""
    sids = [key for key in keys if "/" not in key]
    pairs = [key.split("/", 1) for key in keys if "/" in key]
    senders: list[ColumnElement[bool]] = [m.sender_sid.in_(sids)] if sids else []
    senders += [
        (m.account_sid == a) & (m.from_number == f) & m.sender_sid.is_(None) for a, f in pairs
    ]
    if not senders:
        return []
    query = select(*QUEUED_COLUMNS).where(m.status.in_([s.value for s in statuses]), or_(*senders))
    if sent_since is not None:
        query = query.where(m.date_sent >= sent_since)
    if updated_before is not None:
        query = query.where(m.date_updated < updated_before)
    rows = conn.execute(query.order_by(m.id))
    return [queued(row, row.id) for row in rows]


def backlog_segments(conn: Connection, row: QueuedMessage) -> int:
    """Segments waiting for this message's sender, counted in the store (for a node that
    does not own the sender's queue)."""
    if row.sender_sid:
        mine = m.sender_sid == row.sender_sid
    else:
        mine = (m.account_sid == row.account_sid) & (m.from_number == row.from_number)
    waiting = m.status.in_([MessageStatus.QUEUED.value, MessageStatus.SENDING.value])
    found = conn.execute(select(func.coalesce(func.sum(m.num_segments), 0)).where(mine, waiting))
    return int(found.scalar_one())


def backlog_and_rate(
    conn: Connection, row: QueuedMessage, senders: dict[str, SenderFacts | None] | None = None
) -> tuple[int, int]:
    """The segments waiting for the row's sender, counted in the store, and the sender's
    MPS (`senders` caches the senders' details)."""
    senders = {} if senders is None else senders
    if row.sender_sid and row.sender_sid not in senders:
        senders[row.sender_sid] = sender(conn, row.sender_sid)
    found = senders.get(row.sender_sid or "")
    mps = INTERNATIONAL_MPS if found is None else sender_mps(found)
    return backlog_segments(conn, row), mps


def fits_queue(
    conn: Connection,
    row: QueuedMessage,
    segments: int,
    horizon_s: int,
    senders: dict[str, SenderFacts | None] | None = None,
) -> bool:
    """The overflow rule (21611) from the store's count of the sender's waiting segments:
    for a node that does not hold the sender's queue (an API-only node, or the sender is
    leased to another). Concurrent creates on several nodes may each pass it at the edge."""
    backlog, mps = backlog_and_rate(conn, row, senders)
    return not would_overflow(backlog, segments, mps, horizon_s)


def load_message(conn: Connection, sid: str) -> QueuedMessage | None:
    row = conn.execute(select(*QUEUED_COLUMNS).where(m.sid == sid)).first()
    return queued(row, row.id) if row else None


def media_urls(conn: Connection, message_sid: str) -> tuple[str, ...]:
    rows = conn.execute(
        select(media.c.url).where(media.c.message_sid == message_sid).order_by(media.c.sid)
    )
    return tuple(row.url for row in rows)


def sender(conn: Connection, sender_sid: str) -> SenderFacts | None:
    n = incoming_numbers.c
    row = conn.execute(select(n.sid, n.number_type, n.country, n.mps).where(n.sid == sender_sid))
    found = row.first()
    if found is not None:
        kind = SenderKind.TOLL_FREE if found.number_type == "toll-free" else SenderKind.LONG_CODE
        return SenderFacts(sid=found.sid, kind=kind, country=found.country, mps=found.mps)
    s = short_codes.c
    code = conn.execute(select(s.sid, s.country, s.mps).where(s.sid == sender_sid)).first()
    if code is None:
        return None
    return SenderFacts(sid=code.sid, kind=SenderKind.SHORT_CODE, country=code.country, mps=code.mps)


def _literal(status: MessageStatus) -> Any:
    """A status written into the SQL itself, so precompiled statements need no parameter."""
    return literal_column(f"'{status.value}'")


def _guard(new: MessageStatus) -> Any:
    return m.status.in_([_literal(s) for s in sorted(allowed_from(new))])


_TO_SENDING = RawStatement(
    update(messages)
    .where(m.sid == bindparam("b_sid"), _guard(MessageStatus.SENDING))
    .values(status=_literal(MessageStatus.SENDING), date_updated=bindparam("b_now"))
)
_TO_SENT = RawStatement(
    update(messages)
    .where(m.sid == bindparam("b_sid"), _guard(MessageStatus.SENT))
    .values(
        status=_literal(MessageStatus.SENT),
        date_sent=bindparam("b_now"),
        date_updated=bindparam("b_now"),
        # A price set when the message was made stands: keyword replies are free (§11.1).
        price=func.coalesce(m.price, bindparam("b_price")),
        price_unit=bindparam("b_price_unit"),
        carrier=bindparam("b_carrier"),
    )
)

# A receipt that overtook its submit's answer (an SMSC may send it first) finished the
# message before `sent` was written: it still gets its price, carrier and date sent.
_SENT_LATE = RawStatement(
    update(messages)
    .where(
        m.sid == bindparam("b_sid"),
        m.status.in_([_literal(MessageStatus.DELIVERED), _literal(MessageStatus.UNDELIVERED)]),
        m.date_sent.is_(None),
    )
    .values(
        date_sent=bindparam("b_now"),
        price=func.coalesce(m.price, bindparam("b_price")),
        price_unit=bindparam("b_price_unit"),
        carrier=bindparam("b_carrier"),
    )
)


def mark_sending(conn: Connection, sids: Sequence[str], now: int) -> list[bool]:
    """Record the intent to submit (invariant 2) before the carrier sees anything; for
    each, whether it was still queued (if not, it is not this submit's to send: another
    node or an earlier pass has it)."""
    counts = _TO_SENDING.run_each(conn, [{"b_sid": sid, "b_now": now} for sid in sids])
    return [count > 0 for count in counts]


def mark_sent(conn: Connection, rows: Sequence[dict[str, Any]]) -> list[bool]:
    """Rows of b_sid, b_now, b_price, b_price_unit, b_carrier; whether each moved (a
    message already past `sent` stays as it is, and owes no callback)."""
    moved = [count > 0 for count in _TO_SENT.run_each(conn, rows)]
    overtaken = [row for row, ok in zip(rows, moved, strict=True) if not ok]
    if overtaken:
        _SENT_LATE.run_each(conn, overtaken)
    return moved


def _finishing(new: MessageStatus) -> RawStatement:
    return RawStatement(
        update(messages)
        .where(m.sid == bindparam("b_sid"), _guard(new))
        .values(
            status=_literal(new),
            date_updated=bindparam("b_now"),
            error_code=bindparam("b_error_code"),
            error_message=bindparam("b_error_message"),
        )
    )


_FINISH = {
    status: _finishing(status)
    for status in (MessageStatus.DELIVERED, MessageStatus.UNDELIVERED, MessageStatus.FAILED)
}


def finish(
    conn: Connection,
    sid: str,
    new: MessageStatus,
    now: int,
    *,
    error_code: int | None = None,
    error_message: str | None = None,
) -> bool:
    """A final status (delivered, undelivered, failed) if still legal; False on a lost race."""
    return finish_many(conn, [Finish(sid, new, error_code, error_message)], now)[0]


class Finish(NamedTuple):
    sid: str
    status: MessageStatus
    error_code: int | None = None
    error_message: str | None = None


def finish_many(conn: Connection, changes: Sequence[Finish], now: int) -> list[bool]:
    """`finish` for each change, in one cursor per final status; whether each happened."""
    changed = [False] * len(changes)
    for status, statement in _FINISH.items():
        chosen = [i for i, change in enumerate(changes) if change.status is status]
        if not chosen:
            continue
        counts = statement.run_each(
            conn,
            [
                {
                    "b_sid": changes[i].sid,
                    "b_now": now,
                    "b_error_code": changes[i].error_code,
                    "b_error_message": changes[i].error_message,
                }
                for i in chosen
            ],
        )
        for i, count in zip(chosen, counts, strict=True):
            changed[i] = count > 0
    return changed
