"""Status callbacks owed by a status change, written to the outbox in the change's own
transaction; `CallbackDelivery` sends them from there."""

from __future__ import annotations

from sqlalchemy.engine import Connection

from herald.domain.status import MessageStatus
from herald.store import callbacks as outbox
from herald.store.dispatch import QueuedRow
from herald.webhooks.callbacks import status_params


class OutboxSink:
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
        if not row.status_callback:
            return
        outbox.enqueue_next(
            conn,
            account_sid=row.account_sid,
            message_sid=row.sid,
            url=row.status_callback,
            method="POST",
            params=status_params(row, status, error_code=error_code, done_at_us=done_at_us),
            event_time=now,
            now=now,
        )
