"""The dispatcher: every sender's queue drained at the sender's legal rate into the
carrier transport, receipts turned into final statuses, expired messages failed.

This module assembles the parts, each a module of its own, and runs their loops under
one `asyncio.TaskGroup` with one stop event, on an injected clock (tests run on a manual
one). A message's path through them:

    intake (the API's seam, the poll) → router (service sends) → registry (its queue)
      → sender_loop (rate, intent, submit) → Transport → receipts → transitions
    expiry fails what outlives its validity; takeover moves senders between nodes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from functools import partial

from herald.carriers.base import InboundHandler, Transport
from herald.clock import Clock
from herald.dispatch.admission import Admission
from herald.dispatch.expiry import RECEIPT_WAIT_S, Expiry
from herald.dispatch.health import HealthTracker
from herald.dispatch.intake import DispatchIntake
from herald.dispatch.ownership import Ownership
from herald.dispatch.queues import SenderQueue
from herald.dispatch.receipts import Receipts
from herald.dispatch.registry import QueueRegistry
from herald.dispatch.router import Router
from herald.dispatch.sender_loop import LoopParts, SenderLoops
from herald.dispatch.takeover import Takeover
from herald.dispatch.transitions import CallbackSink, Outcomes
from herald.domain.health import Policy
from herald.domain.inbound import InboundMessage
from herald.domain.queued import last_submission
from herald.domain.ratelimit import SECOND_US
from herald.domain.sids import Prefix
from herald.domain.status import MessageStatus
from herald.metrics import Metrics
from herald.node import new_node_id
from herald.store import dispatch as store
from herald.store.db import Database

LOAD_BATCH = 5_000


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
        node: str | None = None,
        new_sid: Callable[[Prefix], str] | None = None,
        media_link: Callable[[str], str] = lambda code: f"/m/{code}",
        on_inbound: InboundHandler | None = None,
        health: Policy | None = None,
    ) -> None:
        self.db, self.clock, self.transport = db, clock, transport
        self._on_inbound = on_inbound or _no_inbound
        self._resume_after_us = round(resume_after_s * SECOND_US)
        self._resume_at_us = 0
        self.ownership = Ownership(
            db,
            clock,
            node=node or new_node_id(),
            leased=leased,
            resume_after_us=self._resume_after_us,
        )
        self.registry = QueueRegistry(not_before=self._first_send_us)
        self.admission = Admission(self.registry, self.ownership, horizon_s=horizon_s)
        outcomes = Outcomes(
            db=db, clock=clock, sink=sink, metrics=metrics, on_callbacks=on_callbacks
        )
        self.expiry = Expiry(self.registry, outcomes)
        self.health = HealthTracker(
            db, clock, metrics, health or Policy(), node=self.ownership.node, new_sid=new_sid
        )
        self.receipts = Receipts(self.registry, outcomes, self.health)
        self.loops = SenderLoops(
            LoopParts(
                registry=self.registry, ownership=self.ownership, expiry=self.expiry,
                transport=transport, db=db, clock=clock, sink=sink, metrics=metrics,
                on_callbacks=on_callbacks, health=self.health,
            )
        )  # fmt: skip
        self.intake = DispatchIntake(
            self.registry, self.admission, self.ownership, self.expiry, self.loops, db, clock,
            route=lambda row: self.router.submit(row),
            acquire=lambda keys: self.takeover.acquire(keys),
        )  # fmt: skip
        self.takeover = Takeover(
            self.ownership, self.registry, self.loops, transport, db, clock,
            add_rows=self.intake.add_rows,
        )  # fmt: skip
        self.router = Router(
            self.registry, self.admission, db, clock, sink, metrics,
            lookup=transport.lookup, enqueue=self.intake.enqueue, on_callbacks=on_callbacks,
            new_sid=new_sid or _no_sids, media_link=media_link, health=self.health,
        )  # fmt: skip

    @property
    def queues(self) -> dict[str, SenderQueue]:
        return self.registry.queues

    @property
    def node(self) -> str:
        return self.ownership.node

    def owned_senders(self) -> list[str]:
        return self.ownership.keys() if self.ownership.leased else sorted(self.queues)

    def queue_view(self) -> list[tuple[str, str, int, float]]:
        """(sender key, address, backlog segments, seconds the head has waited), for
        /metrics."""
        return self.registry.view(self.clock.now_us())

    def _first_send_us(self, key: str) -> int:
        """No send before a second after this run began, nor before a second after the
        sender's lease was taken: earlier sends age out of the window first."""
        return max(self._resume_at_us, self.ownership.first_send_us(key))

    async def run(self, stop: asyncio.Event) -> None:
        # A crashed run may have sent up to this very instant: its last second and ours
        # must not add up to more than a sender's MPS.
        self._resume_at_us = self.clock.now_us() + self._resume_after_us
        for queue in self.queues.values():
            queue.not_before_us = self._resume_at_us
        await self.transport.start(self.receipts.on_receipt, self._on_inbound)
        try:
            async with asyncio.TaskGroup() as group:
                self.loops.attach(group, stop)
                if not self.ownership.leased:  # alone on the database: every sent is ours
                    await self._reconcile_sent()
                else:  # be counted before taking a share of the senders
                    await self.ownership.heartbeat()
                await self.intake.load(statuses=(MessageStatus.QUEUED, MessageStatus.SENDING))
                group.create_task(self.intake.run(stop))
                group.create_task(self.expiry.run(stop))
                group.create_task(self.router.run(stop))
                group.create_task(self.health.run(stop))
                if self.ownership.leased:
                    group.create_task(self.takeover.run(stop))
                await stop.wait()
                self.intake.wake()
                self.expiry.wake()
                self.router.wake()
                self.loops.cancel_all()
            await self.ownership.release()
        finally:
            self.loops.attach(None, stop)
            await self.transport.close()

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
            await self.transport.reconcile([last_submission(row) for row in rows])
            if len(rows) < LOAD_BATCH:
                return


def _no_sids(prefix: Prefix) -> str:
    raise RuntimeError(f"this dispatcher was built without SIDs for {prefix}")


async def _no_inbound(message: InboundMessage) -> str:
    raise RuntimeError(f"this dispatcher takes no inbound messages ({message.carrier_id})")
