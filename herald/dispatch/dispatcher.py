"""The dispatcher: every sender's queue drained at the sender's legal rate into the
carrier transport, receipts turned into final statuses, expired messages failed.

All loops run under one `asyncio.TaskGroup` with one stop event, on an injected clock
(so tests run on a manual one). The store is the queue's durable truth: at start the
dispatcher loads what is waiting; new messages arrive from the API in-process
(`enqueue`) or, from other processes, through a poll of the store.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import logging
import threading
from collections.abc import Callable
from functools import partial

from sqlalchemy.engine import Connection

from herald.carriers.base import Transport
from herald.clock import Clock, sleep_or_wake
from herald.dispatch.ownership import RENEW_S, Ownership
from herald.dispatch.queues import Entry, SenderQueue
from herald.dispatch.router import Router
from herald.dispatch.sender_loop import SenderLoop
from herald.dispatch.transitions import CallbackSink, Change, finish, finish_many
from herald.domain import errors
from herald.domain.carrier import Receipt, Submission
from herald.domain.encoding import encode_body
from herald.domain.queued import QueuedMessage, SenderFacts, sender_mps
from herald.domain.ratelimit import (
    INTERNATIONAL_MPS,
    SECOND_US,
    validity_deadline,
    would_overflow,
)
from herald.domain.senders import SenderKind
from herald.domain.status import MessageStatus
from herald.metrics import Metrics
from herald.node import NODE_ID
from herald.store import dispatch as store
from herald.store import leases
from herald.store.db import Database

log = logging.getLogger("herald.dispatch")

POLL_S = 1.0
LOOKBACK_IDS = 5_000
STALE_SENDING_US = 10 * SECOND_US  # `sending` this long with no entry here: nobody's
RECEIPT_WAIT_S = 72 * 3600  # in-memory wait for a receipt; carriers give up well before
LOAD_BATCH = 5_000
EXPIRED = errors.ValidityExpired.code
UNKNOWN = errors.UnknownError.code  # a receipt that says undelivered and gives no code


def queue_key(row: QueuedMessage) -> str:
    return row.sender_sid or f"{row.account_sid}/{row.from_number}"


class Dispatcher:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        transport: Transport,
        sink: CallbackSink,
        *,
        horizon_s: int,
        metrics: Metrics,
        on_callbacks: Callable[[], None] = lambda: None,
        resume_after_s: float = 1.0,
        leased: bool = False,
        node: str = NODE_ID,
    ) -> None:
        self.db = db
        self.clock = clock
        self.transport = transport
        self.sink = sink
        self.horizon_s = horizon_s
        self.metrics = metrics
        self.on_callbacks = on_callbacks
        self.queues: dict[str, SenderQueue] = {}
        self.inflight: dict[str, Entry] = {}  # sent, awaiting a receipt
        self._deadlines: list[tuple[int, str, str]] = []  # (deadline, sid, queue key)
        self._entries: dict[str, Entry] = {}
        self._reserved: dict[str, str] = {}  # message SID -> queue key, until it is queued
        self._queues_lock = threading.Lock()
        self._high_water = 0
        self._loops: dict[str, asyncio.Task[None]] = {}
        self._group: asyncio.TaskGroup | None = None
        self._stop = asyncio.Event()
        self._wake_intake = asyncio.Event()
        self._wake_expiry = asyncio.Event()
        self.sender_cache: dict[str, SenderFacts | None] = {}
        self._receipts: list[tuple[Change, asyncio.Future[None]]] = []
        self._resume_at_us = 0
        self._resume_after_us = round(resume_after_s * SECOND_US)
        self.ownership = Ownership(
            db, clock, node=node, leased=leased, resume_after_us=self._resume_after_us
        )
        self._receipt_writes: set[asyncio.Task[None]] = set()
        self.router: Router | None = None  # routes Messaging Service sends onto senders

    # ---- the API's side -------------------------------------------------------------

    def reserve(self, conn: Connection, row: QueuedMessage, segments: int) -> None:
        """Refuse with 21611 a message that would overflow its sender's queue, else count
        it in the backlog until it is queued. Runs inside the create's write function."""
        if not self.owns(queue_key(row)):  # another node's queue: count it in the store
            check_overflow_in_store(conn, row, segments, self.horizon_s, self.sender_cache)
            return
        queue = self._queue_for(conn, row)
        if not queue.reserve_within(row.sid, segments, self.horizon_s):
            raise errors.QueueFull()
        self._reserved[row.sid] = queue.key

    def release(self, sid: str) -> None:
        """Forget a reservation whose message was never stored."""
        queue = self.queues.get(self._reserved.pop(sid, ""))
        if queue is not None:
            queue.release(sid)

    def enqueue(self, row: QueuedMessage) -> None:
        """Queue a message the API has just stored (in this process); one sent through a
        Messaging Service goes to the router first."""
        if row.status is MessageStatus.ACCEPTED:
            if self.router is not None:
                self.router.submit(row)
            return
        self._reserved.pop(row.sid, None)
        if row.sid in self._entries:
            return
        queue = self.queues.get(queue_key(row))
        if queue is None or not self.owns(queue.key):
            self._wake_intake.set()  # the poll will find it (and take the sender's lease)
            return
        self._add(queue, row)

    # ---- leases -----------------------------------------------------------------------

    @property
    def leased(self) -> bool:
        """Several nodes share the database: senders are dispatched under leases."""
        return self.ownership.leased

    @property
    def node(self) -> str:
        return self.ownership.node

    def owns(self, key: str) -> bool:
        return self.ownership.owns(key)

    def may_send(self, key: str, now: int) -> bool:
        return self.ownership.may_send(key, now)

    def owned_senders(self) -> list[str]:
        return self.ownership.keys() if self.leased else sorted(self.queues)

    async def _acquire(self, keys: set[str]) -> None:
        """Take what leases we may among `keys` and load those senders' queues."""
        taken = await self.ownership.acquire(keys)
        if not taken:
            return
        fresh = [key for key, _ in taken]
        waiting = (MessageStatus.QUEUED, MessageStatus.SENDING)
        await self._add_rows(
            await self.db.read(partial(store.load_for_keys, keys=fresh, statuses=waiting))
        )
        took_over = [key for key, previous in taken if previous]
        if took_over:  # receipts owed to the previous owner may have died with it
            since = self.clock.now_us() - RECEIPT_WAIT_S * SECOND_US
            sent = await self.db.read(
                partial(
                    store.load_for_keys,
                    keys=took_over,
                    statuses=(MessageStatus.SENT,),
                    sent_since=since,
                )
            )
            if sent:
                await self.transport.reconcile([_last_part(row) for row in sent])

    async def _keep_leases(self) -> None:
        """Renew our leases, dropping at once the queues of any lost; hand back idle ones."""
        while not self._stop.is_set():
            await _wait(self._stop, RENEW_S)
            if self._stop.is_set():
                continue
            try:
                lost = await self.ownership.renew()
            except Exception:
                log.exception("could not renew the sender leases; retrying")
                continue
            for key in lost:
                self._drop_queue(key)
            await self._adopt_orphans()
            awaiting = {queue_key(entry.row) for entry in self.inflight.values()}
            for key in await self.ownership.hand_back_idle(partial(self._is_idle, awaiting)):
                self._drop_queue(key)

    async def _adopt_orphans(self) -> None:
        """Senders with messages left `sending` (or owed a receipt) by a node that is
        gone, and nothing queued that would bring the intake to them: take them over."""
        now = self.clock.now_us()
        since = now - RECEIPT_WAIT_S * SECOND_US
        try:
            orphans = await self.db.read(partial(leases.orphaned_keys, now=now, sent_since=since))
        except Exception:
            log.exception("could not look for orphaned senders; retrying")
            return
        unowned = {key for key in orphans if not self.owns(key)}
        if unowned:
            await self._acquire(unowned)
        await self._adopt_stale_sending(now)

    async def _adopt_stale_sending(self, now: int) -> None:
        """Messages of our senders left `sending` by an attempt that is not ours (a node
        that died before we took the sender over, then lost a race with our intake): they
        have no entry here, so nothing would ever finish them. Reconcile them."""
        keys = self.ownership.keys()
        if not keys:
            return
        rows = await self.db.read(
            partial(
                store.load_for_keys,
                keys=keys,
                statuses=(MessageStatus.SENDING,),
                updated_before=now - STALE_SENDING_US,
            )
        )
        ours = self._entries.keys() | self.inflight.keys()  # queued, or sent and forgotten
        stray = [row for row in rows if row.sid not in ours]
        if stray:
            log.warning("adopting %d messages left sending by another attempt", len(stray))
            await self._add_rows([row for row in stray if self.owns(queue_key(row))])

    def _is_idle(self, awaiting_receipts: set[str], key: str) -> bool:
        """Nothing queued, no loop (which may be mid-submit with its queue empty), nothing
        awaiting a receipt."""
        queue = self.queues.get(key)
        if (queue is not None and queue.entries) or key in self._loops:
            return False
        return key not in awaiting_receipts

    def _drop_queue(self, key: str) -> None:
        self.ownership.forget(key)
        task = self._loops.pop(key, None)
        if task is not None:
            task.cancel()
        self.queues.pop(key, None)
        # Every entry of the sender, those its cancelled loop had taken off the queue for a
        # submit included: left behind, they would hide their messages from a later take.
        for sid in [sid for sid, entry in self._entries.items() if queue_key(entry.row) == key]:
            del self._entries[sid]

    # ---- running ----------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        self._stop = stop
        # A crashed run may have sent up to this very instant: its last second and ours
        # must not add up to more than a sender's MPS.
        self._resume_at_us = self.clock.now_us() + self._resume_after_us
        for queue in self.queues.values():
            queue.not_before_us = self._resume_at_us
        await self.transport.start(self._on_receipt)
        try:
            async with asyncio.TaskGroup() as group:
                self._group = group
                if not self.leased:  # alone on the database: every sent message is ours
                    await self._reconcile_sent()
                else:  # be counted before taking a share of the senders
                    await self.ownership.heartbeat()
                await self._load(statuses=(MessageStatus.QUEUED, MessageStatus.SENDING))
                group.create_task(self._intake())
                group.create_task(self._expiry())
                if self.router is not None:
                    group.create_task(self.router.run(stop))
                if self.leased:
                    group.create_task(self._keep_leases())
                await stop.wait()
                self._wake_intake.set()
                self._wake_expiry.set()
                for task in self._loops.values():
                    task.cancel()
            await self.ownership.release()
        finally:
            self._group = None
            await self.transport.close()

    def queue_view(self) -> list[tuple[str, str, int, float]]:
        """(sender key, address, backlog segments, seconds the head has waited) for
        /metrics."""
        now = self.clock.now_us()
        view = []
        for q in self.queues.values():
            head = q.head_created_us()
            view.append((q.key, q.address, q.backlog, (now - head) / SECOND_US if head else 0.0))
        return view

    async def _reconcile_sent(self) -> None:
        """Messages `sent` within the receipt wait and not final: a crash may have lost
        their receipts in flight. The carrier is asked again, and one that has a message
        still owes its receipt and sends it (a receipt for a final message changes
        nothing)."""
        after, since = 0, self.clock.now_us() - RECEIPT_WAIT_S * SECOND_US
        while True:
            rows = await self.db.read(
                partial(
                    store.load_waiting,
                    after_id=after,
                    limit=LOAD_BATCH,
                    statuses=(MessageStatus.SENT,),
                    sent_since=since,
                )
            )
            if not rows:
                return
            after = rows[-1].id
            await self.transport.reconcile([_last_part(row) for row in rows])
            if len(rows) < LOAD_BATCH:
                return

    # ---- intake -----------------------------------------------------------------------

    async def _intake(self) -> None:
        while not self._stop.is_set():
            if self.leased:
                # Other nodes commit rows out of id order: look back over recent ids (rows
                # already queued here are skipped), and find senders whose lease expired.
                self._high_water = max(0, self._high_water - LOOKBACK_IDS)
            await self._load(statuses=(MessageStatus.QUEUED,))
            await _wait(self._wake_intake, POLL_S)
            self._wake_intake.clear()

    async def _load(self, *, statuses: tuple[MessageStatus, ...]) -> None:
        while True:
            found = await self.db.read(
                partial(
                    store.waiting_sids,
                    after_id=self._high_water,
                    limit=LOAD_BATCH,
                    statuses=statuses,
                )
            )
            if not found:
                return
            self._high_water = found[-1][0]
            unknown = [sid for _, sid in found if sid not in self._entries]
            rows = await self.db.read(partial(store.load_by_sids, sids=unknown)) if unknown else []
            rows = [r for r in rows if r.status in statuses]  # as they are now
            if self.leased:
                unowned = {queue_key(r) for r in rows if not self.owns(queue_key(r))}
                if unowned:
                    await self._acquire(unowned)
                rows = [r for r in rows if self.owns(queue_key(r))]
            await self._add_rows(rows)
            if len(found) < LOAD_BATCH:
                return

    async def _add_rows(self, rows: list[QueuedMessage]) -> None:
        """Queue the messages among `rows` not held here already, with their senders'
        details read first."""
        missing = {
            r.sender_sid for r in rows if r.sender_sid and r.sender_sid not in self.sender_cache
        }
        if missing:
            await self.db.read(partial(self._cache_senders, sids=missing))
        for row in rows:
            if row.sid not in self._entries:
                self._add(self._queue_from_cache(row), row)

    def _cache_senders(self, conn: Connection, *, sids: set[str]) -> None:
        for sid in sids:
            self.sender_cache[sid] = store.sender(conn, sid)

    def _queue_for(self, conn: Connection, row: QueuedMessage) -> SenderQueue:
        key = queue_key(row)
        queue = self.queues.get(key)
        if queue is None:
            if row.sender_sid and row.sender_sid not in self.sender_cache:
                self._cache_senders(conn, sids={row.sender_sid})
            queue = self._queue_from_cache(row)
        return queue

    def _queue_from_cache(self, row: QueuedMessage) -> SenderQueue:
        with self._queues_lock:  # the writer thread may create one too (PostgreSQL)
            return self.queues.get(queue_key(row)) or self._new_queue(row)

    def _new_queue(self, row: QueuedMessage) -> SenderQueue:
        key = queue_key(row)
        sender = self.sender_cache.get(row.sender_sid or "")
        if sender is None:
            queue = SenderQueue(
                key=key, address=row.from_number, kind=SenderKind.ALPHANUMERIC,
                mps=INTERNATIONAL_MPS,
            )  # fmt: skip
        else:
            mps = sender_mps(sender)
            queue = SenderQueue(key=key, address=row.from_number, kind=sender.kind, mps=mps)
        queue.not_before_us = max(self._resume_at_us, self.ownership.first_send_us(key))
        self.queues[key] = queue
        return queue

    def _add(self, queue: SenderQueue, row: QueuedMessage) -> None:
        parts, encoding = _parts(row)
        # A scheduled message's validity period runs from when it was due.
        deadline = validity_deadline(max(row.date_created, row.send_at or 0), row.validity_period)
        # A message found `sending` at start goes again from its first part with the same
        # references, each first asked of the carrier (`reconcile`), never blindly resent.
        entry = Entry(
            row=row,
            deadline_us=deadline,
            parts=parts,
            encoding=encoding,
            uncertain=row.status is MessageStatus.SENDING,
        )
        queue.push(entry)
        self._entries[row.sid] = entry
        heapq.heappush(self._deadlines, (deadline, row.sid, queue.key))
        if deadline <= (self._deadlines[0][0] if self._deadlines else deadline):
            self._wake_expiry.set()
        self._start_loop(queue)

    def _start_loop(self, queue: SenderQueue) -> None:
        if self._group is None or queue.key in self._loops:
            return
        loop = SenderLoop(self, queue)
        task = self._group.create_task(loop.run())
        self._loops[queue.key] = task
        task.add_done_callback(partial(self._loop_done, queue.key))

    def _loop_done(self, key: str, _task: asyncio.Task[None]) -> None:
        self._loops.pop(key, None)
        queue = self.queues.get(key)
        if queue is not None and queue.wanted(1) and not self._stop.is_set():
            self._start_loop(queue)

    def forget(self, entry: Entry) -> None:
        """The entry left its queue for good (sent, failed or expired)."""
        self._entries.pop(entry.sid, None)

    # ---- validity ---------------------------------------------------------------------

    async def expire_due(self, now: int) -> None:
        """Fail every message whose validity ended by `now` and that is still queued."""
        while self._deadlines and self._deadlines[0][0] <= now:
            _, sid, key = heapq.heappop(self._deadlines)
            await self._expire(sid, key, now)

    def _forget_unanswered(self, now: int) -> None:
        """Stop waiting for receipts that never came (the message stays `sent`, as with
        Twilio); a late one is still applied, read from the store."""
        horizon = now - RECEIPT_WAIT_S * SECOND_US
        while self.inflight:
            sid, entry = next(iter(self.inflight.items()))
            if entry.sent_at_us > horizon:
                return
            del self.inflight[sid]

    async def _expiry(self) -> None:
        while not self._stop.is_set():
            now = self.clock.now_us()
            await self.expire_due(now)
            self._forget_unanswered(now)
            delay = (self._deadlines[0][0] - now) / SECOND_US if self._deadlines else POLL_S
            await sleep_or_wake(self.clock, self._wake_expiry, min(delay, POLL_S))
            self._wake_expiry.clear()

    async def _expire(self, sid: str, key: str, now: int) -> None:
        entry = self._entries.get(sid)
        if entry is None or entry.next_part > 1:
            return  # already on its way: validity counts only time in Herald's queue
        queue = self.queues.get(key)
        if queue is not None:
            queue.drop(entry)
        else:
            entry.expired = True
        self.forget(entry)
        await self.db.write(
            finish(entry.row, MessageStatus.FAILED, now, self.sink, error_code=EXPIRED)
        )
        self.metrics.messages.labels("failed").inc()
        log.info("message sid=%s status=failed error_code=%d reason=validity_expired", sid, EXPIRED)
        self.on_callbacks()

    # ---- receipts ---------------------------------------------------------------------

    async def _on_receipt(self, receipt: Receipt) -> None:
        entry = self.inflight.pop(receipt.message_sid, None)
        row = entry.row if entry else None
        if row is None:
            row = await self.db.read(lambda conn: store.load_message(conn, receipt.message_sid))
            if row is None:
                log.warning("receipt for unknown message %s", receipt.message_sid)
                return
        status = MessageStatus.DELIVERED if receipt.delivered else MessageStatus.UNDELIVERED
        if entry is not None and entry.sent_at_us:
            self.metrics.receipt_seconds.observe(
                (receipt.done_at_us - entry.sent_at_us) / SECOND_US
            )
        self.metrics.messages.labels(status.value).inc()
        log.debug(
            "message sid=%s status=%s error_code=%s",
            receipt.message_sid,
            status.value,
            receipt.error_code,
        )
        change = Change(
            row,
            status,
            error_code=None
            if receipt.delivered
            else receipt.error_code or errors.UnknownError.code,
            done_at_us=receipt.done_at_us,
        )
        await self._finish_soon(change)
        self.on_callbacks()

    def _finish_soon(self, change: Change) -> asyncio.Future[None]:
        """Receipts arriving in one pass of the event loop are stored by one write (one
        statement per final status, two for their callbacks); each waits for its commit."""
        loop = asyncio.get_running_loop()
        if not self._receipts:
            loop.call_soon(self._write_receipts)
        stored: asyncio.Future[None] = loop.create_future()
        self._receipts.append((change, stored))
        return stored

    def _write_receipts(self) -> None:
        batch, self._receipts = self._receipts, []
        task = asyncio.get_running_loop().create_task(self._store_receipts(batch))
        self._receipt_writes.add(task)
        task.add_done_callback(self._receipt_writes.discard)

    async def _store_receipts(self, batch: list[tuple[Change, asyncio.Future[None]]]) -> None:
        changes = [change for change, _ in batch]
        try:
            await self.db.write(finish_many(changes, self.clock.now_us(), self.sink))
            outcomes: list[BaseException | None] = [None] * len(batch)
        except Exception as exc:
            if len(batch) == 1:
                outcomes = [exc]
            else:  # one bad receipt must not cost the others theirs: each again, alone
                outcomes = [
                    result if isinstance(result, BaseException) else None
                    for result in await asyncio.gather(
                        *(
                            self.db.write(finish_many([c], self.clock.now_us(), self.sink))
                            for c in changes
                        ),
                        return_exceptions=True,
                    )
                ]
        for (_, stored), outcome in zip(batch, outcomes, strict=True):
            if stored.done():
                continue
            if outcome is None:
                stored.set_result(None)
            else:
                stored.set_exception(outcome)


def check_overflow_in_store(
    conn: Connection,
    row: QueuedMessage,
    segments: int,
    horizon_s: int,
    senders: dict[str, SenderFacts | None] | None = None,
) -> None:
    """The overflow rule (21611) from the store's count of the sender's waiting segments:
    for a node that does not hold the sender's queue (an API-only node, or the sender is
    leased to another). Concurrent creates on several nodes may each pass it at the edge."""
    backlog, mps = backlog_in_store(conn, row, senders)
    if would_overflow(backlog, segments, mps, horizon_s):
        raise errors.QueueFull()


def backlog_in_store(
    conn: Connection, row: QueuedMessage, senders: dict[str, SenderFacts | None] | None = None
) -> tuple[int, int]:
    """The segments waiting for the row's sender, counted in the store, and the sender's
    MPS (`senders` caches the senders' details)."""
    senders = {} if senders is None else senders
    if row.sender_sid and row.sender_sid not in senders:
        senders[row.sender_sid] = store.sender(conn, row.sender_sid)
    sender = senders.get(row.sender_sid or "")
    mps = INTERNATIONAL_MPS if sender is None else sender_mps(sender)
    return store.backlog_segments(conn, row), mps


def _parts(row: QueuedMessage) -> tuple[tuple[str, ...], str]:
    """The texts a message goes out in (its segments; an MMS is one part) and their
    encoding."""
    encoded = encode_body(row.text, smart=row.smart_encoded)
    parts = (row.body,) if row.sends_media else encoded.segments
    return tuple(parts), encoded.encoding


def _last_part(row: QueuedMessage) -> Submission:
    """The submission of a message's last part, as the sender loop made it: the part
    that carries the receipt. (Only its reference and recipient matter to `reconcile`.)"""
    parts, encoding = _parts(row)
    return Submission(
        reference=f"{row.sid}/{len(parts)}",
        message_sid=row.sid,
        account_sid=row.account_sid,
        sender=row.from_number,
        sender_kind=SenderKind.LONG_CODE,
        recipient=row.to_number,
        part=len(parts),
        parts=len(parts),
        text=parts[-1],
        encoding=encoding,
        media_urls=(),
    )


async def _wait(event: asyncio.Event, timeout: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(event.wait(), timeout)
