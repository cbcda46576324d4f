"""Inbound webhook delivery: claim the webhooks owed, call each (`InboundCaller`), and in
one write store the outcome with the replies its TwiML asked for, so a reply is created
exactly when its webhook's outcome is: a crash in between calls the webhook again (the
same token) and creates the replies then.

No answer or a non-2xx from every URL tried is retried with the status callbacks'
backoff and dead-lettered after as many attempts; an answer that is not valid TwiML is
not retried (it would be the same answer), only recorded. Every failure is a Monitor
alert (11200, 11205, 11750, 12100, 12300), never an exception out of this loop.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable

from sqlalchemy.engine import Connection

from herald.clock import Clock
from herald.domain.callbacks import RetryPolicy
from herald.domain.inbound import InboundWebhook
from herald.domain.message import Message
from herald.domain.queued import queued_message
from herald.domain.reply_guard import ReplyGuard
from herald.inbound.replies import Conversation, NewSid, alert
from herald.inbound.twiml_replies import build_replies
from herald.intake import Intake
from herald.metrics import Metrics
from herald.store import inbound as store
from herald.store import routing as routing_store
from herald.store.db import Database
from herald.webhooks.inbound_call import Exchange, InboundCaller

log = logging.getLogger("herald.inbound")

LEASE_S = 120.0  # beyond a call's worst case: two chains of CHAIN_S (inbound_call)


class InboundDelivery:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        *,
        node: str,
        new_sid: NewSid,
        intake: Callable[[], Intake],
        metrics: Metrics,
        allow_private: bool,
        max_attempts: int = 8,
        backoff_s: float = 1.0,
        concurrency: int = 32,
        poll_s: float = 0.5,
        sole_node: bool = False,
        timeout_s: float = 15.0,
    ) -> None:
        self._db = db
        self._clock = clock
        self._node = node
        self._new_sid = new_sid
        self._intake = intake
        self._metrics = metrics
        self._allow_private = allow_private
        self._policy = RetryPolicy(max_attempts=max_attempts, backoff_s=backoff_s)
        self._concurrency = concurrency
        self._poll_s = poll_s
        self._sole_node = sole_node
        self._timeout_s = timeout_s
        self._guard = ReplyGuard()
        self._wakeup = asyncio.Event()
        self._running: set[asyncio.Task[None]] = set()

    def wake(self) -> None:
        self._wakeup.set()

    async def run(self, stop: asyncio.Event) -> None:
        if self._sole_node:
            now = self._clock.now_us()
            released = await self._db.write(lambda conn: store.release_leases(conn, now))
            if released:
                log.info("%d inbound webhooks leased by a previous run are due again", released)
        async with InboundCaller.open(
            allow_private=self._allow_private, timeout_s=self._timeout_s
        ) as caller:
            try:
                while not stop.is_set():
                    self._wakeup.clear()
                    room = self._concurrency - len(self._running)
                    jobs = await self._claim(room) if room > 0 else []
                    for job in jobs:
                        task = asyncio.create_task(self._deliver(caller, job))
                        self._running.add(task)
                        task.add_done_callback(self._finished)
                    if len(jobs) < room or room <= 0:
                        await self._idle(stop)
            finally:
                for task in list(self._running):
                    task.cancel()
                await asyncio.gather(*self._running, return_exceptions=True)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._running.discard(task)
        self._wakeup.set()  # a slot is free
        if not task.cancelled() and task.exception() is not None:
            log.error("inbound webhook delivery failed", exc_info=task.exception())

    async def _idle(self, stop: asyncio.Event) -> None:
        waiters = {asyncio.ensure_future(self._wakeup.wait()), asyncio.ensure_future(stop.wait())}
        try:
            await asyncio.wait(waiters, timeout=self._poll_s, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()

    async def _claim(self, limit: int) -> list[InboundWebhook]:
        now = self._clock.now_us()
        lease_us = round(LEASE_S * 1e6)
        return await self._db.write(
            lambda conn: store.claim_due(
                conn, node=self._node, now=now, lease_us=lease_us, limit=limit
            )
        )

    async def _deliver(self, caller: InboundCaller, job: InboundWebhook) -> None:
        exchange = await caller.call(job)
        now = self._clock.now_us()
        replies = await self._db.write(lambda conn: self._record(conn, job, exchange, now))
        intake = self._intake()
        for message in replies:
            intake.announce(queued_message(message))

    def _record(
        self, conn: Connection, job: InboundWebhook, exchange: Exchange, now: int
    ) -> list[Message]:
        inbound = store.reply_context(conn, job.account_sid, job.message_sid)
        if inbound is None:  # deleted meanwhile: nothing to answer, nothing to retry
            store.record(
                conn, store.Outcome(job_id=job.id, state=store.DONE, next_attempt_at=now), now
            )
            return []
        chat = Conversation(
            account_sid=job.account_sid,
            service_sid=inbound.messaging_service_sid,
            our_address=inbound.to_number,
            our_sid=inbound.sender_sid,
            their_address=inbound.from_number or "",
        )
        alerts = [
            alert(
                chat,
                self._new_sid,
                now,
                f.code,
                f"{f.url}: {f.detail}".replace("\x00", "\ufffd"),
                resource_sid=job.message_sid,
            )
            for f in exchange.failures
        ]
        alerts += [
            alert(chat, self._new_sid, now, code, "TwiML warning", resource_sid=job.message_sid,
                  level="warning")
            for code in sorted(set(exchange.warnings))
        ]  # fmt: skip
        created: list[Message] = []
        if exchange.answered:
            state, due, outcome = store.DONE, now, "done"
            created, more = build_replies(
                conn, chat, exchange.messages, self._guard, self._new_sid, now
            )
            alerts += more
        elif exchange.retry and job.attempts + 1 < self._policy.max_attempts:
            delay = self._policy.delay_s(job.attempts + 1, random.random())
            state, due, outcome = store.PENDING, now + round(delay * 1e6), "retry"
        else:
            state, due = (store.DEAD, now) if exchange.retry else (store.DONE, now)
            outcome = "dead" if exchange.retry else "done"
        self._metrics.inbound_webhooks.labels(outcome).inc()
        store.record(
            conn,
            store.Outcome(
                job_id=job.id,
                state=state,
                next_attempt_at=due,
                status_code=exchange.status_code,
                error_code=exchange.failures[-1].code
                if exchange.failures and not exchange.answered
                else None,
                answered_by=(exchange.answered_by or "")[:1024] or None,
                twiml=exchange.twiml,
            ),
            now,
        )
        routing_store.insert_alerts(conn, alerts)
        return [m for m in created if m.status.value == "queued"]
