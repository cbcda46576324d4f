"""Status callbacks owed by status changes, written to the outbox in the changes' own
transaction; `CallbackDelivery` (herald/webhooks/delivery.py) sends them from there."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.engine import Connection

from herald.domain.callbacks import status_params
from herald.domain.queued import StatusChange
from herald.store import callbacks as outbox


class OutboxSink:
    def enqueue(self, conn: Connection, changes: Sequence[StatusChange], now: int) -> None:
        outbox.enqueue_many(
            conn,
            [
                outbox.NewCallback(
                    account_sid=c.row.account_sid,
                    message_sid=c.row.sid,
                    url=c.row.status_callback,
                    method="POST",
                    params=status_params(
                        c.row, c.status, error_code=c.error_code, done_at_us=c.done_at_us
                    ),
                    event_time=now,
                )
                for c in changes
                if c.row.status_callback
            ],
            now,
        )
