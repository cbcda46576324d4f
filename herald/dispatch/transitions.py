"""The status changes dispatch makes, each with the callbacks it owes, as write functions
for the group committer: the change and its callback commit together (an outbox)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy.engine import Connection

from herald.domain.errors import delivery_error_message
from herald.domain.status import MessageStatus
from herald.store import dispatch as store
from herald.store.dispatch import QueuedRow


class CallbackSink(Protocol):
    def enqueue(
        self,
        conn: Connection,
        row: QueuedRow,
        status: MessageStatus,
        *,
        error_code: int | None,
        done_at_us: int | None,
        now: int,
    ) -> None:
        """Queue the status callback for this change, in the caller's transaction."""
        ...


@dataclass(frozen=True, slots=True, kw_only=True)
class SentMessage:
    row: QueuedRow
    price: str | None
    price_unit: str
    carrier: str | None


def mark_sending(rows: Sequence[QueuedRow], now: int) -> Callable[[Connection], None]:
    sids = [row.sid for row in rows]

    def write(conn: Connection) -> None:
        store.mark_sending(conn, sids, now)

    return write


def mark_sent(
    sent: Sequence[SentMessage], now: int, sink: CallbackSink
) -> Callable[[Connection], None]:
    def write(conn: Connection) -> None:
        store.mark_sent(
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
        for s in sent:
            if s.row.status_callback:
                sink.enqueue(
                    conn, s.row, MessageStatus.SENT, error_code=None, done_at_us=None, now=now
                )

    return write


def finish(
    row: QueuedRow,
    status: MessageStatus,
    now: int,
    sink: CallbackSink,
    *,
    error_code: int | None = None,
    done_at_us: int | None = None,
) -> Callable[[Connection], bool]:
    """Move to a final status (failed, delivered, undelivered) and owe its callback."""
    message = delivery_error_message(error_code) if error_code is not None else None

    def write(conn: Connection) -> bool:
        changed = store.finish(
            conn, row.sid, status, now, error_code=error_code, error_message=message
        )
        if changed and row.status_callback:
            sink.enqueue(conn, row, status, error_code=error_code, done_at_us=done_at_us, now=now)
        return changed

    return write
