"""The status changes dispatch makes, each with the callbacks it owes, as write functions
for the group committer: the change and its callback commit together (an outbox)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy.engine import Connection

from herald.clock import Clock
from herald.domain.delivery_errors import OptedOut, delivery_error_message
from herald.domain.queued import QueuedMessage, StatusChange
from herald.domain.status import MessageStatus
from herald.metrics import Metrics
from herald.store import dispatch as store
from herald.store import opt_outs
from herald.store.db import Database


class CallbackSink(Protocol):
    def enqueue(self, conn: Connection, changes: Sequence[StatusChange], now: int) -> None:
        """Queue the status callbacks these changes owe, in the caller's transaction."""
        ...


@dataclass(frozen=True, slots=True, kw_only=True)
class SentMessage:
    row: QueuedMessage
    price: str | None
    price_unit: str
    carrier: str | None


def mark_sending(
    rows: Sequence[QueuedMessage], now: int, sink: CallbackSink
) -> Callable[[Connection], list[bool | None]]:
    """Record the intent to submit (invariant 2), the last gate before the carrier: a
    recipient the opt-out ledger now refuses fails with 21610 (whenever they opted out:
    after the create, while it was scheduled or queued). For each: True to send, False if
    it is no longer queued (not this submit's to send), None if refused."""

    def write(conn: Connection) -> list[bool | None]:
        refused = opt_outs.opted_out(conn, [opt_outs.Outgoing.of(row) for row in rows])
        going = [row.sid for row in rows if row.sid not in refused]
        moved = dict(zip(going, store.mark_sending(conn, going, now), strict=True))
        if refused:
            failed = [
                StatusChange(row, MessageStatus.FAILED, OptedOut.code)
                for row in rows
                if row.sid in refused
            ]
            finish_many(failed, now, sink)(conn)
        return [moved.get(row.sid) for row in rows]

    return write


def mark_sent(
    sent: Sequence[SentMessage], now: int, sink: CallbackSink
) -> Callable[[Connection], None]:
    def write(conn: Connection) -> None:
        moved = store.mark_sent(
            conn,
            [
                {
                    "b_sid": s.row.sid,
                    "b_now": now,
                    "b_price": s.price,
                    "b_price_unit": s.price_unit,
                    "b_carrier": s.carrier,
                }
                for s in sent
            ],
        )
        changes = [
            StatusChange(s.row, MessageStatus.SENT) for s, ok in zip(sent, moved, strict=True) if ok
        ]
        sink.enqueue(conn, changes, now)

    return write


def finish_many(
    changes: Sequence[StatusChange], now: int, sink: CallbackSink
) -> Callable[[Connection], list[bool]]:
    """Move each to a final status (failed, delivered, undelivered) if still legal, and
    owe the callbacks of those that moved; whether each did."""
    finishes = [
        store.Finish(
            c.row.sid,
            c.status,
            c.error_code,
            delivery_error_message(c.error_code) if c.error_code is not None else None,
        )
        for c in changes
    ]

    def write(conn: Connection) -> list[bool]:
        changed = store.finish_many(conn, finishes, now)
        sink.enqueue(conn, [c for c, done in zip(changes, changed, strict=True) if done], now)
        return changed

    return write


def finish(
    row: QueuedMessage,
    status: MessageStatus,
    now: int,
    sink: CallbackSink,
    *,
    error_code: int | None = None,
    done_at_us: int | None = None,
) -> Callable[[Connection], bool]:
    """`finish_many` for one message."""
    write_many = finish_many([StatusChange(row, status, error_code, done_at_us)], now, sink)
    return lambda conn: write_many(conn)[0]


@dataclass(frozen=True, slots=True, kw_only=True)
class Outcomes:
    """Where a message's outcome goes: stored with the callbacks it owes, counted, and
    callback delivery told."""

    db: Database
    clock: Clock
    sink: CallbackSink
    metrics: Metrics
    on_callbacks: Callable[[], None]
