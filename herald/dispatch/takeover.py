"""Senders changing hands between nodes (PostgreSQL): taking the leases of senders this
node finds work for and loading their queues; renewing them, dropping at once the queues
of any lost; adopting senders whose node is gone (messages left `sending`, or owed a
receipt); handing back idle senders beyond this node's share. Messages a gone node may
have submitted are reconciled with the carrier, never resent blindly.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from functools import partial

from herald.carriers.base import Transport
from herald.clock import Clock, sleep_or_wake
from herald.dispatch.expiry import RECEIPT_WAIT_S
from herald.dispatch.ownership import RENEW_S, Ownership
from herald.dispatch.registry import QueueRegistry, queue_key
from herald.dispatch.sender_loop import SenderLoops
from herald.domain.queued import QueuedMessage, last_submission
from herald.domain.ratelimit import SECOND_US
from herald.domain.status import MessageStatus
from herald.store import dispatch as store
from herald.store import leases
from herald.store.db import Database

log = logging.getLogger("herald.dispatch")

STALE_SENDING_US = 10 * SECOND_US  # `sending` this long with no entry here: nobody's

AddRows = Callable[[list[QueuedMessage]], Awaitable[None]]


class Takeover:
    def __init__(
        self,
        ownership: Ownership,
        registry: QueueRegistry,
        loops: SenderLoops,
        transport: Transport,
        db: Database,
        clock: Clock,
        *,
        add_rows: AddRows,
    ) -> None:
        self._ownership = ownership
        self._registry = registry
        self._loops = loops
        self._transport = transport
        self._db = db
        self._clock = clock
        self._add_rows = add_rows

    async def acquire(self, keys: set[str]) -> None:
        """Take what leases we may among `keys` and load those senders' queues."""
        taken = await self._ownership.acquire(keys)
        if not taken:
            return
        fresh = [key for key, _ in taken]
        waiting = (MessageStatus.QUEUED, MessageStatus.SENDING)
        await self._add_rows(
            await self._db.read(partial(store.load_for_keys, keys=fresh, statuses=waiting))
        )
        took_over = [key for key, previous in taken if previous]
        if took_over:  # receipts owed to the previous owner may have died with it
            since = self._clock.now_us() - RECEIPT_WAIT_S * SECOND_US
            sent = await self._db.read(
                partial(
                    store.load_for_keys,
                    keys=took_over,
                    statuses=(MessageStatus.SENT,),
                    sent_since=since,
                )
            )
            if sent:
                await self._transport.reconcile([last_submission(row) for row in sent])

    async def run(self, stop: asyncio.Event) -> None:
        """Renew our leases, dropping at once the queues of any lost; adopt orphans; hand
        back idle senders."""
        while not stop.is_set():
            await sleep_or_wake(self._clock, stop, RENEW_S)
            if stop.is_set():
                continue
            try:
                lost = await self._ownership.renew()
            except Exception:
                log.exception("could not renew the sender leases; retrying")
                continue
            for key in lost:
                self.drop(key)
            await self._adopt_orphans()
            awaiting = {queue_key(entry.row) for entry in self._registry.inflight.values()}
            idle = partial(self._is_idle, awaiting)
            for key in await self._ownership.hand_back_idle(idle):
                self.drop(key)

    def drop(self, key: str) -> None:
        """The sender is no longer ours: its lease, loop and queue go."""
        self._ownership.forget(key)
        self._loops.cancel(key)
        self._registry.drop_queue(key)

    async def _adopt_orphans(self) -> None:
        """Senders with messages left `sending` (or owed a receipt) by a node that is
        gone, and nothing queued that would bring the intake to them: take them over."""
        now = self._clock.now_us()
        since = now - RECEIPT_WAIT_S * SECOND_US
        try:
            orphans = await self._db.read(partial(leases.orphaned_keys, now=now, sent_since=since))
        except Exception:
            log.exception("could not look for orphaned senders; retrying")
            return
        unowned = {key for key in orphans if not self._ownership.owns(key)}
        if unowned:
            await self.acquire(unowned)
        await self._adopt_stale_sending(now)

    async def _adopt_stale_sending(self, now: int) -> None:
        """Messages of our senders left `sending` by an attempt that is not ours (a node
        that died before we took the sender over, then lost a race with our intake): they
        have no entry here, so nothing would ever finish them. Reconcile them."""
        keys = self._ownership.keys()
        if not keys:
            return
        rows = await self._db.read(
            partial(
                store.load_for_keys,
                keys=keys,
                statuses=(MessageStatus.SENDING,),
                updated_before=now - STALE_SENDING_US,
            )
        )
        ours = self._registry.entries.keys() | self._registry.inflight.keys()
        stray = [row for row in rows if row.sid not in ours]
        if stray:
            log.warning("adopting %d messages left sending by another attempt", len(stray))
            await self._add_rows([row for row in stray if self._ownership.owns(queue_key(row))])

    def _is_idle(self, awaiting_receipts: set[str], key: str) -> bool:
        """Nothing queued, no loop (which may be mid-submit with its queue empty), nothing
        awaiting a receipt."""
        queue = self._registry.queues.get(key)
        if (queue is not None and queue.entries) or self._loops.running(key):
            return False
        return key not in awaiting_receipts
