"""How messages reach this node's queues: handed over by this process's API the moment
their create commits (the `herald.intake.Intake` seam), routed first when sent through a
Messaging Service, or found by a poll of the store (made by other nodes, or waiting at
start). The store is the queues' durable truth: a message is queued here once, however
many ways it is found.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from functools import partial

from sqlalchemy.engine import Connection

from herald.clock import Clock, sleep_or_wake
from herald.dispatch.admission import Admission
from herald.dispatch.expiry import Expiry
from herald.dispatch.ownership import Ownership
from herald.dispatch.queues import Entry, SenderQueue
from herald.dispatch.registry import QueueRegistry, queue_key
from herald.dispatch.sender_loop import SenderLoops
from herald.domain.queued import QueuedMessage, message_parts
from herald.domain.ratelimit import validity_deadline
from herald.domain.status import MessageStatus
from herald.store import dispatch as store
from herald.store.db import Database

POLL_S = 1.0
LOOKBACK_IDS = 5_000
LOAD_BATCH = 5_000

Acquire = Callable[[set[str]], Awaitable[None]]


class DispatchIntake:
    """A dispatching node's side of the seam, and the poll that finds the rest."""

    def __init__(
        self,
        registry: QueueRegistry,
        admission: Admission,
        ownership: Ownership,
        expiry: Expiry,
        loops: SenderLoops,
        db: Database,
        clock: Clock,
        *,
        route: Callable[[QueuedMessage], None],
        acquire: Acquire,
    ) -> None:
        self._registry = registry
        self._admission = admission
        self._ownership = ownership
        self._expiry = expiry
        self._loops = loops
        self._db = db
        self._clock = clock
        self._route = route  # a service send goes to the router first
        self._acquire = acquire  # take the leases of senders found with work
        self._high_water = 0
        self._wake = asyncio.Event()

    # ---- the seam -----------------------------------------------------------------

    def admit(self, conn: Connection, message: QueuedMessage) -> None:
        self._admission.admit(conn, message, message.num_segments)

    def announce(self, message: QueuedMessage) -> None:
        if message.status is MessageStatus.ACCEPTED:
            self._route(message)
        elif message.status is MessageStatus.QUEUED:
            self.enqueue(message)
        # (a scheduled message is routed when due: the router finds it)

    def abandon(self, sid: str) -> None:
        self._admission.abandon(sid)

    # ---- queuing ------------------------------------------------------------------

    def enqueue(self, row: QueuedMessage) -> None:
        """Queue a message just stored `queued` (by the API, or routed by the router)."""
        registry = self._registry
        if row.sid in registry.entries:
            return
        known = not row.sender_sid or row.sender_sid in registry.senders  # (read by admit)
        if not known or not self._ownership.owns(queue_key(row)):
            self._wake.set()  # the poll will find it (and take the sender's lease)
            return
        self._add(registry.queue_for(row), row)

    async def add_rows(self, rows: list[QueuedMessage]) -> None:
        """Queue the messages among `rows` not held here already, with their senders'
        details read first."""
        missing = self._registry.missing_senders(rows)
        if missing:
            await self._db.read(partial(self._registry.cache_senders, sids=missing))
        for row in rows:
            if row.sid not in self._registry.entries:
                self._add(self._registry.queue_for(row), row)

    def _add(self, queue: SenderQueue, row: QueuedMessage) -> None:
        parts, encoding = message_parts(row)
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
        self._registry.hold(queue, entry)
        self._expiry.track(entry, queue.key)
        self._loops.start(queue)

    # ---- the poll -----------------------------------------------------------------

    def wake(self) -> None:
        self._wake.set()

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            if self._ownership.leased:
                # Other nodes commit rows out of id order: look back over recent ids (rows
                # already queued here are skipped), and find senders whose lease expired.
                self._high_water = max(0, self._high_water - LOOKBACK_IDS)
            await self.load(statuses=(MessageStatus.QUEUED,))
            await sleep_or_wake(self._clock, self._wake, POLL_S)
            self._wake.clear()

    async def load(self, *, statuses: tuple[MessageStatus, ...]) -> None:
        """Queue the stored messages in `statuses` above the high-water mark."""
        while True:
            found = await self._db.read(
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
            held = self._registry.entries
            unknown = [sid for _, sid in found if sid not in held]
            rows = await self._db.read(partial(store.load_by_sids, sids=unknown)) if unknown else []
            rows = [r for r in rows if r.status in statuses]  # as they are now
            if self._ownership.leased:
                unowned = {queue_key(r) for r in rows if not self._ownership.owns(queue_key(r))}
                if unowned:
                    await self._acquire(unowned)
                rows = [r for r in rows if self._ownership.owns(queue_key(r))]
            await self.add_rows(rows)
            if len(found) < LOAD_BATCH:
                return
