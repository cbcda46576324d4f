"""One sender's loop: take what the rate window allows from the head of its queue,
record the intent to send, submit, and record the outcome.

Segments are the unit of rate (a 3-segment message costs three), and a message may go
out over several wake-ups; it is `sent` once the carrier has accepted all its parts.

Nothing reaches the transport without a sender of its account: a message with neither a
sender SID nor a valid alphanumeric ID is failed (21606) instead, whatever let it in.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from functools import partial

from herald.carriers.base import Transport
from herald.clock import Clock
from herald.dispatch.expiry import Expiry
from herald.dispatch.health import HealthTracker
from herald.dispatch.ownership import Ownership
from herald.dispatch.queues import Entry, SenderQueue
from herald.dispatch.registry import QueueRegistry
from herald.dispatch.transitions import CallbackSink, SentMessage, finish, mark_sending, mark_sent
from herald.domain import delivery_errors
from herald.domain.carrier import Submission, SubmitResult
from herald.domain.health import Outcome
from herald.domain.numbers import is_alphanumeric_sender_id
from herald.domain.queued import QueuedMessage
from herald.domain.ratelimit import SECOND_US, admit, restamp
from herald.domain.status import MessageStatus
from herald.metrics import Metrics
from herald.store import dispatch as store
from herald.store.db import Database

log = logging.getLogger("herald.dispatch")

MAX_BATCH = 500  # segments per submit call
LEASE_WAIT_S = 0.2
NO_SENDER = delivery_errors.SenderNotOwned.code


def has_sender(row: QueuedMessage) -> bool:
    """Whether the message names a sender it may go from: one of its account's numbers or
    short codes (by SID, checked when it was accepted or routed), or an alphanumeric ID."""
    return row.sender_sid is not None or is_alphanumeric_sender_id(row.from_number or "")


@dataclass(frozen=True, slots=True, kw_only=True)
class LoopParts:
    """What every sender loop uses."""

    registry: QueueRegistry
    ownership: Ownership
    expiry: Expiry
    transport: Transport
    db: Database
    clock: Clock
    sink: CallbackSink
    metrics: Metrics
    on_callbacks: Callable[[], None]
    health: HealthTracker | None = None  # counts refusals toward their sender's health


class SenderLoops:
    """One loop per queue that has work, under the dispatcher's TaskGroup; a loop ends
    when its queue is empty and starts again when something is queued."""

    def __init__(self, parts: LoopParts) -> None:
        self._parts = parts
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._group: asyncio.TaskGroup | None = None
        self._stop = asyncio.Event()

    def attach(self, group: asyncio.TaskGroup | None, stop: asyncio.Event) -> None:
        """Run loops under `group` until `stop` (None: no loops start, as before `run`)."""
        self._group, self._stop = group, stop

    def start(self, queue: SenderQueue) -> None:
        if self._group is None or queue.key in self._tasks:
            return
        task = self._group.create_task(SenderLoop(self._parts, queue).run(self._stop))
        self._tasks[queue.key] = task
        task.add_done_callback(partial(self._done, queue.key))

    def running(self, key: str) -> bool:
        return key in self._tasks

    def cancel(self, key: str) -> None:
        task = self._tasks.pop(key, None)
        if task is not None:
            task.cancel()

    def cancel_all(self) -> None:
        for task in self._tasks.values():
            task.cancel()

    def _done(self, key: str, _task: asyncio.Task[None]) -> None:
        self._tasks.pop(key, None)
        queue = self._parts.registry.queues.get(key)
        if queue is not None and queue.wanted(1) and not self._stop.is_set():
            self.start(queue)


class SenderLoop:
    def __init__(self, parts: LoopParts, queue: SenderQueue) -> None:
        self.d = parts
        self.q = queue

    async def run(self, stop: asyncio.Event) -> None:
        d, q = self.d, self.q
        while not stop.is_set():
            now = d.clock.now_us()
            if now < q.not_before_us:
                await d.clock.sleep((q.not_before_us - now) / SECOND_US)
                continue
            if not d.ownership.may_send(q.key, now):
                if not d.ownership.owns(q.key):
                    return  # the lease is gone and so is the queue
                await d.clock.sleep(LEASE_WAIT_S)  # until the lease is renewed
                continue
            await d.expiry.expire_due(now)  # never submit a message past its validity period
            wanted = q.wanted(MAX_BATCH)
            if wanted == 0:
                return
            admission = admit(q.window, now, q.mps, wanted)
            q.window = admission.window
            if admission.granted == 0:
                await d.clock.sleep(admission.retry_after_us / SECOND_US)
                continue
            retry_at = await self._submit(q.take(admission.granted), granted_at=now)
            if retry_at:  # the carrier pushed back: wait until it said, from its answer
                await d.clock.sleep(max(0, retry_at - d.clock.now_us()) / SECOND_US)

    async def _submit(self, taken: list[tuple[Entry, int, int]], *, granted_at: int) -> int:
        """Submit the taken segments; when to try again (µs) if the carrier pushed back."""
        d = self.d
        taken = await self._refuse_senderless(taken)
        taken = await self._record_intent(taken)
        if not taken:
            return 0
        submissions: list[tuple[Entry, Submission]] = []
        for entry, first, last in taken:
            if entry.row.sends_media and not entry.media_urls:
                entry.media_urls = await d.db.read(partial(store.media_urls, message_sid=entry.sid))
            submissions.extend(
                (entry, self._submission(entry, part)) for part in range(first, last + 1)
            )
        started = d.clock.now_us()
        results = await self._carry(submissions, granted_at)
        d.metrics.submit_seconds.observe((d.clock.now_us() - started) / SECOND_US)
        return await self._record(submissions, results, started)

    async def _carry(
        self, submissions: list[tuple[Entry, Submission]], granted_at: int
    ) -> list[SubmitResult]:
        """Submit, except the parts of uncertain messages the carrier already has: those
        take the answer it gave then (asked with `reconcile`, never sent twice). The grant
        is re-dated to the submit itself, with no await between: the carrier's clock and
        the rate window must see the same instant."""
        transport = self.d.transport
        found: list[SubmitResult | None] = [None] * len(submissions)
        doubtful = [i for i, (entry, _) in enumerate(submissions) if entry.uncertain]
        if doubtful:
            had = await transport.reconcile([submissions[i][1] for i in doubtful])
            for i, answer in zip(doubtful, had, strict=True):
                found[i] = answer
            for i in doubtful:
                submissions[i][0].uncertain = False
            known = sum(answer is not None for answer in had)
            log.info("reconciled %d uncertain segments: %d the carrier had", len(doubtful), known)
        fresh = [i for i, answer in enumerate(found) if answer is None]
        if fresh:
            batch = [submissions[i][1] for i in fresh]
            self.q.window = restamp(self.q.window, granted_at, self.d.clock.now_us())
            answers = await transport.submit(batch)
            for i, answer in zip(fresh, answers, strict=True):
                found[i] = answer
        return [answer for answer in found if answer is not None]  # every one by now

    async def _refuse_senderless(
        self, taken: list[tuple[Entry, int, int]]
    ) -> list[tuple[Entry, int, int]]:
        """Fail, never submit, the messages among `taken` without a sender (`has_sender`):
        a second guard behind the API's, which once let a blank `From` through."""
        refused = [entry for entry, _, _ in taken if not has_sender(entry.row)]
        if not refused:
            return taken
        d, now = self.d, self.d.clock.now_us()
        for entry in refused:
            log.warning(
                "message sid=%s status=failed error_code=%d reason=no sender (from %r)",
                entry.sid, NO_SENDER, entry.row.from_number,
            )  # fmt: skip
            d.registry.forget(entry)
            d.metrics.messages.labels("failed").inc()
            failed = finish(entry.row, MessageStatus.FAILED, now, d.sink, error_code=NO_SENDER)
            await d.db.write(failed)
        d.on_callbacks()
        return [t for t in taken if has_sender(t[0].row)]

    async def _record_intent(
        self, taken: list[tuple[Entry, int, int]]
    ) -> list[tuple[Entry, int, int]]:
        """Mark the messages starting now `sending` (invariant 2); what may still go out.
        A message read as queued that has since left `queued` (a stale read raced its
        sending, or another node has it) is not sent again from here."""
        d = self.d
        starting = [
            entry
            for entry, first, _ in taken
            if first == 1 and not entry.uncertain and not entry.intent_recorded
        ]
        if starting:
            now = d.clock.now_us()
            for entry in starting:
                d.metrics.queue_wait_seconds.observe((now - entry.row.date_created) / SECOND_US)
            intents = await d.db.write(mark_sending([e.row for e in starting], now, d.sink))
            gone = set()
            refused = 0
            for entry, intent in zip(starting, intents, strict=True):
                entry.intent_recorded = bool(intent)
                if not intent:
                    gone.add(entry.sid)
                    refused += intent is None
            if refused:
                log.info("not sending %d messages to recipients who opted out (21610)", refused)
                d.metrics.messages.labels("failed").inc(refused)
                d.on_callbacks()
            if len(gone) > refused:
                log.info("not sending %d messages that are no longer queued", len(gone) - refused)
            if gone:
                for entry, _, _ in taken:
                    if entry.sid in gone:
                        d.registry.forget(entry)
                taken = [t for t in taken if t[0].sid not in gone]
        return taken

    def _submission(self, entry: Entry, part: int) -> Submission:
        row = entry.row
        return Submission(
            reference=f"{row.sid}/{part}",
            message_sid=row.sid,
            account_sid=row.account_sid,
            sender=row.from_number,
            sender_kind=self.q.kind,
            recipient=row.to_number,
            part=part,
            parts=entry.segments,
            text=entry.parts[part - 1],
            encoding=entry.encoding,
            media_urls=entry.media_urls,
        )

    async def _record(
        self,
        submissions: list[tuple[Entry, Submission]],
        results: list[SubmitResult],
        answered_at: int,
    ) -> int:
        d, now = self.d, self.d.clock.now_us()
        throttled: dict[str, tuple[Entry, int]] = {}
        failed: dict[str, tuple[Entry, int]] = {}
        retry_after = 0.0
        for (entry, sub), result in zip(submissions, results, strict=True):
            if entry.sid in throttled or entry.sid in failed:
                continue
            if result.accepted:
                _accept(entry, result)
            elif result.retry_after_s is not None:
                throttled[entry.sid] = (entry, sub.part)
                retry_after = max(retry_after, result.retry_after_s)
            else:
                failed[entry.sid] = (entry, result.error_code or delivery_errors.UnknownError.code)
        self._requeue(throttled)
        await self._finish_sent(submissions, throttled, failed, now)
        for entry, code in failed.values():
            d.registry.forget(entry)
            d.metrics.messages.labels("failed").inc()
            log.info("message sid=%s status=failed error_code=%s reason=refused", entry.sid, code)
            failing = finish(entry.row, MessageStatus.FAILED, now, d.sink, error_code=code)
            if await d.db.write(failing) and d.health is not None:
                refusal = Outcome(delivered=False, error_code=code, refused=True)
                d.health.record_message(entry.row, refusal)
        if failed:
            d.on_callbacks()
        return answered_at + round(retry_after * SECOND_US) if throttled else 0

    def _requeue(self, throttled: dict[str, tuple[Entry, int]]) -> None:
        """Put pushed-back messages at the head again, in their order, from the first part
        the carrier refused; the parts it accepted are not sent again."""
        for entry, part in reversed(list(throttled.values())):
            self.q.unqueue(entry)
            entry.next_part = part
            self.q.push_front(entry)

    async def _finish_sent(
        self,
        submissions: list[tuple[Entry, Submission]],
        throttled: dict[str, tuple[Entry, int]],
        failed: dict[str, tuple[Entry, int]],
        now: int,
    ) -> None:
        d = self.d
        done: dict[str, Entry] = {}
        for entry, _ in submissions:
            if entry.sid in throttled or entry.sid in failed:
                continue
            if entry.accepted_parts >= entry.segments:
                done[entry.sid] = entry
        if not done:
            return
        sent = []
        for entry in done.values():
            log.debug("message sid=%s status=sent carrier=%s", entry.sid, entry.carrier)
            d.registry.forget(entry)
            d.registry.inflight[entry.sid] = entry
            entry.sent_at_us = now
            price = f"-{entry.price:.5f}" if entry.price_known else None
            sent.append(
                SentMessage(
                    row=entry.row, price=price, price_unit=entry.price_unit, carrier=entry.carrier
                )
            )
        await d.db.write(mark_sent(sent, now, d.sink))
        d.metrics.messages.labels("sent").inc(len(sent))
        d.on_callbacks()


def _accept(entry: Entry, result: SubmitResult) -> None:
    entry.accepted_parts += 1
    entry.carrier = result.carrier
    entry.price_unit = result.price_unit
    if result.price_per_segment is not None:
        if entry.row.sends_media and entry.price_known:
            return  # MMS is priced per message
        entry.price += Decimal(result.price_per_segment)
        entry.price_known = True
