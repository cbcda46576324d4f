"""Routing messages sent through a Messaging Service onto a sender of its pool.

A service send is stored `accepted` with no sender; right after its commit (in this
process) or at the next poll (made by another node, or due when scheduled), the router
asks `choose_sender` for every waiting message of a batch, then in one write moves each to
`queued` on its sender with the decision's explanation, saves the Sticky Sender mappings,
owes the `queued` callback and raises any alert. A message no sender can take fails
(21703, or 21704 for an empty pool), and one whose sender's queue is full fails with
30001. The move is guarded (`accepted`/`scheduled` → `queued`), so when two nodes route
the same message only one routing counts.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import replace
from functools import partial

from sqlalchemy.engine import Connection

from herald.clock import Clock, sleep_or_wake
from herald.dispatch.admission import Admission
from herald.dispatch.health import HealthTracker
from herald.dispatch.planner import Context, Plan, Planner
from herald.dispatch.registry import QueueRegistry
from herald.dispatch.transitions import CallbackSink, finish_many
from herald.domain import delivery_errors, errors
from herald.domain.alerts import Alert
from herald.domain.decisions import (
    Lookup,
)
from herald.domain.queued import QueuedMessage, StatusChange
from herald.domain.sids import Prefix
from herald.domain.status import MessageStatus
from herald.metrics import Metrics
from herald.store import routing as store
from herald.store import services as service_store
from herald.store.db import Database

log = logging.getLogger("herald.routing")

POLL_S = 1.0
LOAD_BATCH = 5_000
COUNTS_TTL_US = 60_000_000  # Scaler's mapping counts are re-read from the store this often
DAY_US = 86_400_000_000
MAPPING_RETENTION_US = 365 * DAY_US  # a mapping unused this long is deleted (§6.4)
SWEEP_EVERY_US = 3_600_000_000
SERVICE_GONE = delivery_errors.ServiceGone.code
QUEUE_OVERFLOW = delivery_errors.QueueOverflow.code
NO_SENDER = delivery_errors.NoSenderReaches.code
UNROUTABLE = delivery_errors.UnknownError.code  # routing this message raised
CHUNK = 200  # messages routed per write, so the event loop serves others in between


class Router:
    def __init__(
        self,
        registry: QueueRegistry,
        admission: Admission,
        db: Database,
        clock: Clock,
        sink: CallbackSink,
        metrics: Metrics,
        *,
        lookup: Lookup,
        enqueue: Callable[[QueuedMessage], None],
        on_callbacks: Callable[[], None],
        new_sid: Callable[[Prefix], str],
        media_link: Callable[[str], str],
        health: HealthTracker | None = None,
    ) -> None:
        self.registry = registry
        self.admission = admission
        self.db = db
        self.clock = clock
        self.sink = sink
        self.metrics = metrics
        self.lookup = lookup
        self.enqueue = enqueue  # a routed message joins its sender's queue
        self.on_callbacks = on_callbacks
        self.new_sid = new_sid
        self.planner = Planner(registry, clock, media_link, health)
        self.pending: dict[str, QueuedMessage] = {}
        self._wake = asyncio.Event()
        self._counts: dict[str, tuple[int, dict[str, int]]] = {}
        self.routed = 0

    def submit(self, row: QueuedMessage) -> None:
        """Route a message this process has just stored `accepted`."""
        self.pending[row.sid] = row
        self._wake.set()

    def wake(self) -> None:
        self._wake.set()

    async def run(self, stop: asyncio.Event) -> None:
        clock = self.clock
        next_poll = next_sweep = 0
        while not stop.is_set():
            # Cleared with no await since the check: the wake that follows a stop is
            # never cleared unseen (on a manual clock the poll would never end it).
            self._wake.clear()
            if clock.now_us() >= next_sweep:
                next_sweep = clock.now_us() + SWEEP_EVERY_US
                await self._sweep_mappings()
            rows = list(self.pending.values())
            self.pending.clear()
            now = clock.now_us()
            if now >= next_poll:
                stored = await self.db.read(partial(store.load_unrouted, now=now, limit=LOAD_BATCH))
                seen = {r.sid for r in rows}
                rows += [r for r in stored if r.sid not in seen]
                next_poll = now + round(POLL_S * 1_000_000)
            if rows:
                try:
                    await self.route(rows)
                except Exception:  # the poll finds them again
                    log.exception(
                        "routing %d messages failed; retrying at the next poll", len(rows)
                    )
            if not self.pending:
                await sleep_or_wake(clock, self._wake, POLL_S)

    async def _sweep_mappings(self) -> None:
        unused_since = self.clock.now_us() - MAPPING_RETENTION_US
        try:
            gone = await self.db.write(
                partial(store.forget_unused_mappings, unused_since=unused_since)
            )
        except Exception:  # tried again at the next sweep
            log.exception("deleting unused Sticky Sender mappings failed")
            return
        if gone:
            log.info("deleted %d Sticky Sender mappings unused for a year", gone)
            self._counts.clear()

    async def route(self, rows: Sequence[QueuedMessage]) -> None:
        for start in range(0, len(rows), CHUNK):
            await self._route(rows[start : start + CHUNK])

    async def _route(self, rows: Sequence[QueuedMessage]) -> None:
        lookup = self.lookup
        groups: dict[str, list[QueuedMessage]] = defaultdict(list)
        for row in rows:
            groups[row.messaging_service_sid or ""].append(row)
        plans: list[Plan] = []
        for service_sid, group in groups.items():
            context = await self.db.read(
                partial(
                    self._context, service_sid, group[0].account_sid, [r.to_number for r in group]
                )
            )
            plans += self.planner.plan(context, group, lookup)
        try:
            moved = await self.db.write(partial(self._write, plans))
        except BaseException:
            for plan in plans:  # nothing was written: the reservations made go too
                self.admission.abandon(plan.row.sid)
            raise
        for plan in moved:
            if plan.routed is not None:
                self.enqueue(plan.routed)
        self.routed += len(moved)
        for plan in moved:
            self.metrics.routing.labels(plan.decision.rule.value).inc()
        self.on_callbacks()

    def _context(
        self, service_sid: str, account_sid: str, recipients: list[str], conn: Connection
    ) -> Context:
        service = service_store.get_service(conn, account_sid, service_sid)
        if service is None:
            return Context(None, [], {}, {})
        pool = store.pool_entries(conn, service_sid)
        sticky = store.sticky_for(conn, service_sid, recipients)
        now = self.clock.now_us()
        cached = self._counts.get(service_sid)
        if cached is None or now - cached[0] > COUNTS_TTL_US:
            cached = (now, store.mapping_counts(conn, service_sid))
            self._counts[service_sid] = cached
        return Context(service, pool, sticky, cached[1])

    def _write(self, plans: list[Plan], conn: Connection) -> list[Plan]:
        """Queue what has a sender (30001 when its queue is full), fail the rest; the
        plans that moved."""
        now = self.clock.now_us()
        to_queue: list[Plan] = []
        failing: list[tuple[Plan, int]] = []
        for plan in plans:
            if plan.routed is None:
                failing.append(
                    (plan, plan.decision.error_code or delivery_errors.NoSenderReaches.code)
                )
                continue
            try:
                self.admission.admit(conn, plan.routed, plan.row.num_segments)
            except errors.QueueFull:
                failing.append((plan, QUEUE_OVERFLOW))
                continue
            to_queue.append(plan)
        moved_flags = store.route_messages(
            conn,
            [
                {
                    "b_sid": p.row.sid,
                    "b_from": p.routed.from_number if p.routed else None,
                    "b_sender": p.routed.sender_sid if p.routed else None,
                    "b_routing": p.routing,
                    "b_mms_link": p.routed.mms_link if p.routed else None,
                    "b_segments": p.routed.num_segments if p.routed else p.row.num_segments,
                    "b_now": now,
                }
                for p in to_queue
            ],
        )
        queued = [p for p, ok in zip(to_queue, moved_flags, strict=True) if ok]
        for plan, ok in zip(to_queue, moved_flags, strict=True):
            if not ok:
                self.admission.abandon(plan.row.sid)
        self._save_mappings(conn, queued, now)
        self.sink.enqueue(
            conn, [StatusChange(p.routed, MessageStatus.QUEUED) for p in queued if p.routed], now
        )
        failed = self._fail(conn, failing, now)
        store.insert_alerts(conn, [self._alert(p, now) for p in queued if p.decision.alert])
        return queued + failed

    def _fail(self, conn: Connection, failing: list[tuple[Plan, int]], now: int) -> list[Plan]:
        if not failing:
            return []
        changes = [
            StatusChange(p.routed or p.row, MessageStatus.FAILED, code) for p, code in failing
        ]
        done = finish_many(changes, now, self.sink)(conn)
        failed = [p for (p, _), ok in zip(failing, done, strict=True) if ok]
        store.set_routing(conn, [(p.row.sid, p.routing) for p in failed])
        return [replace(p, routed=None) for p in failed]

    def _save_mappings(self, conn: Connection, queued: list[Plan], now: int) -> None:
        chosen: dict[str, dict[str, str]] = defaultdict(dict)
        for plan in queued:
            sender = plan.decision.sender
            if sender is not None and plan.row.messaging_service_sid and plan.sticky:
                chosen[plan.row.messaging_service_sid][plan.row.to_number] = sender.sid
        for service_sid, mapping in chosen.items():
            store.save_mappings(conn, service_sid, mapping, now)
        used: dict[str, list[str]] = defaultdict(list)
        for plan in queued:
            if plan.touch and plan.row.messaging_service_sid:
                used[plan.row.messaging_service_sid].append(plan.row.to_number)
        for service_sid, recipients in used.items():
            store.touch_mappings(conn, service_sid, recipients, now)

    def _alert(self, plan: Plan, now: int) -> Alert:
        sender = plan.decision.sender
        assert sender is not None
        return Alert(
            sid=self.new_sid(Prefix.ALERT),
            account_sid=plan.row.account_sid,
            error_code=plan.decision.alert or 0,
            log_level="warning",
            alert_text=(
                f"Sender ID Pre-registration Alert: message {plan.row.sid} to "
                f"{plan.row.to_number} was sent from the alphanumeric sender ID "
                f"{sender.address!r}, which is not registered in the destination country; "
                "carriers there may block it or replace the sender ID."
            ),
            resource_sid=plan.row.sid,
            service_sid=plan.row.messaging_service_sid,
            date_created=now,
            date_updated=now,
        )
