"""Delivery receipts from the carrier, turned into final statuses: `delivered`, or
`undelivered` with the carrier's code (30008 when it gives none), each with its callback.

Receipts arriving in one pass of the event loop are stored by one write; one that
cannot be stored costs the others nothing (they are stored again, each alone).
"""

from __future__ import annotations

import asyncio
import logging

from herald.dispatch.health import HealthTracker
from herald.dispatch.registry import QueueRegistry
from herald.dispatch.transitions import Outcomes, finish_many
from herald.domain import delivery_errors
from herald.domain.carrier import Receipt
from herald.domain.health import Outcome
from herald.domain.queued import StatusChange
from herald.domain.ratelimit import SECOND_US
from herald.domain.status import MessageStatus
from herald.store import dispatch as store

log = logging.getLogger("herald.dispatch")

UNKNOWN = delivery_errors.UnknownError.code  # a receipt that says undelivered and gives no code


class Receipts:
    def __init__(
        self, registry: QueueRegistry, outcomes: Outcomes, health: HealthTracker | None = None
    ) -> None:
        self._registry = registry
        self._health = health
        self._db, self._clock, self._sink = outcomes.db, outcomes.clock, outcomes.sink
        self._metrics, self._on_callbacks = outcomes.metrics, outcomes.on_callbacks
        self._batch: list[tuple[StatusChange, asyncio.Future[bool]]] = []
        self._writes: set[asyncio.Task[None]] = set()

    async def on_receipt(self, receipt: Receipt) -> None:
        """The transport's receipt handler: returns once the final status is stored."""
        entry = self._registry.inflight.pop(receipt.message_sid, None)
        row = entry.row if entry else None
        if row is None:
            row = await self._db.read(lambda conn: store.load_message(conn, receipt.message_sid))
            if row is None:
                log.warning("receipt for unknown message %s", receipt.message_sid)
                return
        status = MessageStatus.DELIVERED if receipt.delivered else MessageStatus.UNDELIVERED
        latency_us = None
        if entry is not None and entry.sent_at_us:
            latency_us = max(0, receipt.done_at_us - entry.sent_at_us)
            self._metrics.receipt_seconds.observe(latency_us / SECOND_US)
        self._metrics.messages.labels(status.value).inc()
        log.debug(
            "message sid=%s status=%s error_code=%s",
            receipt.message_sid,
            status.value,
            receipt.error_code,
        )
        change = StatusChange(
            row,
            status,
            error_code=None if receipt.delivered else receipt.error_code or UNKNOWN,
            done_at_us=receipt.done_at_us,
        )
        moved = await self._finish_soon(change)
        self._on_callbacks()
        if moved and self._health is not None:  # counted once, however often it arrives
            outcome = Outcome(
                delivered=receipt.delivered, error_code=change.error_code, latency_us=latency_us
            )
            self._health.record_message(row, outcome)

    def _finish_soon(self, change: StatusChange) -> asyncio.Future[bool]:
        """Join this pass's batch (one statement per final status, two for their
        callbacks); the future is done when the change is stored: whether it moved."""
        loop = asyncio.get_running_loop()
        if not self._batch:
            loop.call_soon(self._write_batch)
        stored: asyncio.Future[bool] = loop.create_future()
        self._batch.append((change, stored))
        return stored

    def _write_batch(self) -> None:
        batch, self._batch = self._batch, []
        task = asyncio.get_running_loop().create_task(self._store(batch))
        self._writes.add(task)
        task.add_done_callback(self._writes.discard)

    async def _store(self, batch: list[tuple[StatusChange, asyncio.Future[bool]]]) -> None:
        changes = [change for change, _ in batch]
        outcomes: list[BaseException | bool]
        try:
            moved = await self._db.write(finish_many(changes, self._clock.now_us(), self._sink))
            outcomes = list(moved)
        except Exception as exc:
            outcomes = [exc] if len(batch) == 1 else await self._store_each(changes)
        for (_, stored), outcome in zip(batch, outcomes, strict=True):
            if stored.done():
                continue
            if isinstance(outcome, BaseException):
                stored.set_exception(outcome)
            else:
                stored.set_result(outcome)

    async def _store_each(self, changes: list[StatusChange]) -> list[BaseException | bool]:
        """One bad receipt must not cost the others theirs: each again, alone."""
        results = await asyncio.gather(
            *(self._db.write(finish_many([c], self._clock.now_us(), self._sink)) for c in changes),
            return_exceptions=True,
        )
        return [result if isinstance(result, BaseException) else result[0] for result in results]
