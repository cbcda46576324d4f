"""Validity periods: a message still in Herald's queue when its period ends fails with
30036 and its callback (reference §8.3), and a receipt not come within the receipt wait
is no longer waited for in memory (the message stays `sent`, as with Twilio)."""

from __future__ import annotations

import asyncio
import heapq
import logging

from herald.clock import sleep_or_wake
from herald.dispatch.queues import Entry
from herald.dispatch.registry import QueueRegistry
from herald.dispatch.transitions import Outcomes, finish
from herald.domain import delivery_errors
from herald.domain.ratelimit import SECOND_US
from herald.domain.status import MessageStatus

log = logging.getLogger("herald.dispatch")

POLL_S = 1.0
RECEIPT_WAIT_S = 72 * 3600  # in-memory wait for a receipt; carriers give up well before
EXPIRED = delivery_errors.ValidityExpired.code


class Expiry:
    def __init__(self, registry: QueueRegistry, outcomes: Outcomes) -> None:
        self._registry = registry
        self._db, self._clock, self._sink = outcomes.db, outcomes.clock, outcomes.sink
        self._metrics, self._on_callbacks = outcomes.metrics, outcomes.on_callbacks
        self._deadlines: list[tuple[int, str, str]] = []  # (deadline, sid, queue key)
        self._wake = asyncio.Event()

    def track(self, entry: Entry, key: str) -> None:
        """Fail the entry when its validity ends, unless it is on its way by then."""
        heapq.heappush(self._deadlines, (entry.deadline_us, entry.sid, key))
        if entry.deadline_us <= self._deadlines[0][0]:
            self._wake.set()

    def wake(self) -> None:
        self._wake.set()

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            now = self._clock.now_us()
            await self.expire_due(now)
            self._forget_unanswered(now)
            delay = (self._deadlines[0][0] - now) / SECOND_US if self._deadlines else POLL_S
            await sleep_or_wake(self._clock, self._wake, min(delay, POLL_S))
            self._wake.clear()

    async def expire_due(self, now: int) -> None:
        """Fail every message whose validity ended by `now` and that is still queued."""
        while self._deadlines and self._deadlines[0][0] <= now:
            _, sid, key = heapq.heappop(self._deadlines)
            await self._expire(sid, key, now)

    def _forget_unanswered(self, now: int) -> None:
        """Stop waiting for receipts that never came; a late one is still applied, read
        from the store."""
        inflight = self._registry.inflight
        horizon = now - RECEIPT_WAIT_S * SECOND_US
        while inflight:
            sid, entry = next(iter(inflight.items()))
            if entry.sent_at_us > horizon:
                return
            del inflight[sid]

    async def _expire(self, sid: str, key: str, now: int) -> None:
        registry = self._registry
        entry = registry.entries.get(sid)
        if entry is None or entry.next_part > 1:
            return  # already on its way: validity counts only time in Herald's queue
        queue = registry.queues.get(key)
        if queue is not None:
            queue.drop(entry)
        else:
            entry.expired = True
        registry.forget(entry)
        await self._db.write(
            finish(entry.row, MessageStatus.FAILED, now, self._sink, error_code=EXPIRED)
        )
        self._metrics.messages.labels("failed").inc()
        log.info("message sid=%s status=failed error_code=%d reason=validity_expired", sid, EXPIRED)
        self._on_callbacks()
