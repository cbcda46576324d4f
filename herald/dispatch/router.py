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
import secrets
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from functools import partial
from typing import TYPE_CHECKING

import orjson
from sqlalchemy.engine import Connection

from herald.clock import sleep_or_wake
from herald.dispatch.transitions import Change, finish_many
from herald.domain import errors
from herald.domain.alerts import Alert
from herald.domain.decisions import (
    Lookup,
    Shortlists,
    addresses_of,
    converted_to_sms,
    converts,
    decide,
    explain,
    given_sender,
    recipient_of,
)
from herald.domain.queued import QueuedMessage
from herald.domain.routing import (
    Candidate,
    RoutingDecision,
    Rule,
)
from herald.domain.senders import SenderKind
from herald.domain.services import Mapping, PoolEntry, Service
from herald.domain.sids import Prefix
from herald.domain.status import MessageStatus
from herald.store import routing as store
from herald.store import services as service_store

if TYPE_CHECKING:
    from herald.dispatch.dispatcher import Dispatcher

log = logging.getLogger("herald.routing")

POLL_S = 1.0
LOAD_BATCH = 5_000
COUNTS_TTL_US = 60_000_000  # Scaler's mapping counts are re-read from the store this often
DAY_US = 86_400_000_000
MAPPING_RETENTION_US = 365 * DAY_US  # a mapping unused this long is deleted (§6.4)
SWEEP_EVERY_US = 3_600_000_000
SERVICE_GONE = errors.ServiceGone.code
QUEUE_OVERFLOW = errors.QueueOverflow.code
UNROUTABLE = errors.UnknownError.code  # routing this message raised
CHUNK = 200  # messages routed per write, so the event loop serves others in between


@dataclass(frozen=True, slots=True)
class Context:
    """What routing a service's messages reads from the store."""

    service: Service | None
    pool: list[PoolEntry]
    sticky: dict[str, Mapping]
    counts: dict[str, int]


def queue_key_of(account_sid: str, candidate: Candidate) -> str:
    """The dispatcher's queue for a candidate: an alphanumeric ID queues per account."""
    if candidate.kind is SenderKind.ALPHANUMERIC:
        return f"{account_sid}/{candidate.address}"
    return candidate.sid


@dataclass(slots=True)
class _Plan:
    row: QueuedMessage
    decision: RoutingDecision
    routing: str
    sticky: bool  # the service keeps Sticky Sender mappings
    routed: QueuedMessage | None = None  # the row on its sender, when one was chosen
    touch: bool = False  # a mapping used that was last marked used over a day ago


@dataclass(slots=True, kw_only=True)
class _Batch:
    """What the messages of one service's batch share while they are planned."""

    context: Context
    lookup: Lookup
    waits: dict[str, float]
    addresses: dict[str, str]
    shortlists: Shortlists = field(default_factory=dict)


class Router:
    def __init__(
        self,
        dispatcher: Dispatcher,
        new_sid: Callable[[Prefix], str],
        media_link: Callable[[str], str],
    ) -> None:
        self.dispatcher = dispatcher
        self.new_sid = new_sid
        self.media_link = media_link  # an MMS Converter link from its code
        self.pending: dict[str, QueuedMessage] = {}
        self._wake = asyncio.Event()
        self._counts: dict[str, tuple[int, dict[str, int]]] = {}
        self.routed = 0

    def submit(self, row: QueuedMessage) -> None:
        """Route a message this process has just stored `accepted`."""
        self.pending[row.sid] = row
        self._wake.set()

    async def run(self, stop: asyncio.Event) -> None:
        clock = self.dispatcher.clock
        next_poll = next_sweep = 0
        while not stop.is_set():
            if clock.now_us() >= next_sweep:
                next_sweep = clock.now_us() + SWEEP_EVERY_US
                await self._sweep_mappings()
            rows = list(self.pending.values())
            self.pending.clear()
            self._wake.clear()
            now = clock.now_us()
            if now >= next_poll:
                stored = await self.dispatcher.db.read(
                    partial(store.load_unrouted, now=now, limit=LOAD_BATCH)
                )
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
        unused_since = self.dispatcher.clock.now_us() - MAPPING_RETENTION_US
        try:
            gone = await self.dispatcher.db.write(
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
        dispatcher = self.dispatcher
        lookup = dispatcher.transport.lookup
        groups: dict[str, list[QueuedMessage]] = defaultdict(list)
        for row in rows:
            groups[row.messaging_service_sid or ""].append(row)
        plans: list[_Plan] = []
        for service_sid, group in groups.items():
            context = await dispatcher.db.read(
                partial(
                    self._context, service_sid, group[0].account_sid, [r.to_number for r in group]
                )
            )
            plans += self._plan(context, group, lookup)
        try:
            moved = await dispatcher.db.write(partial(self._write, plans))
        except BaseException:
            for plan in plans:  # nothing was written: the reservations made go too
                dispatcher.release(plan.row.sid)
            raise
        for plan in moved:
            if plan.routed is not None:
                dispatcher.enqueue(plan.routed)
        self.routed += len(moved)
        for plan in moved:
            dispatcher.metrics.routing.labels(plan.decision.rule.value).inc()
        dispatcher.on_callbacks()

    def _context(
        self, service_sid: str, account_sid: str, recipients: list[str], conn: Connection
    ) -> Context:
        service = service_store.get_service(conn, account_sid, service_sid)
        if service is None:
            return Context(None, [], {}, {})
        pool = store.pool_entries(conn, service_sid)
        sticky = store.sticky_for(conn, service_sid, recipients)
        now = self.dispatcher.clock.now_us()
        cached = self._counts.get(service_sid)
        if cached is None or now - cached[0] > COUNTS_TTL_US:
            cached = (now, store.mapping_counts(conn, service_sid))
            self._counts[service_sid] = cached
        return Context(service, pool, sticky, cached[1])

    def _waits(self, account_sid: str, pool: Sequence[PoolEntry]) -> dict[str, float]:
        """Seconds of backlog ahead on each candidate's queue (those this node holds)."""
        waits = {}
        for entry in pool:
            queue = self.dispatcher.queues.get(queue_key_of(account_sid, entry.candidate))
            if queue is not None:
                waits[entry.candidate.sid] = queue.backlog / max(queue.mps, 1)
        return waits

    def _plan(self, context: Context, rows: list[QueuedMessage], lookup: Lookup) -> list[_Plan]:
        batch = _Batch(
            context=context,
            lookup=lookup,
            waits=self._waits(rows[0].account_sid, context.pool),
            addresses=addresses_of(context.pool),
        )
        plans = []
        for row in rows:
            try:
                plans.append(self._plan_one(row, batch))
            except Exception:  # one message that cannot be routed holds up no other
                log.exception("routing %s failed; it fails with %d", row.sid, UNROUTABLE)
                decision = RoutingDecision(sender=None, rule=Rule.NONE, error_code=UNROUTABLE)
                plans.append(_Plan(row, decision, orjson.dumps({"rule": "none"}).decode(), False))
        return plans

    def _plan_one(self, row: QueuedMessage, batch: _Batch) -> _Plan:
        context, lookup = batch.context, batch.lookup
        service = context.service
        recipient = recipient_of(row.to_number, lookup)
        info = lookup(row.to_number)
        if row.from_number:  # `From` with the service (scheduled): that sender, as given
            decision = given_sender(row)
        elif service is None:
            decision = RoutingDecision(sender=None, rule=Rule.NONE, error_code=SERVICE_GONE)
        else:
            decision = decide(
                service, context.pool, row, recipient,
                mapping=context.sticky.get(row.to_number), waits=batch.waits,
                counts=context.counts, shortlists=batch.shortlists,
            )  # fmt: skip
        keeps_mapping = bool(service and service.sticky_sender and not row.from_number)
        plan = _Plan(row, decision, "", keeps_mapping)
        mapped = context.sticky.get(row.to_number)
        plan.touch = bool(
            decision.rule is Rule.STICKY_SENDER
            and mapped is not None
            and 0 < mapped.date_updated < self.dispatcher.clock.now_us() - DAY_US
        )
        sender = decision.sender
        if sender is not None:
            plan.routed = replace(
                row,
                from_number=sender.address,
                sender_sid=None if sender.kind is SenderKind.ALPHANUMERIC else sender.sid,
                status=MessageStatus.QUEUED,
            )
            if converts(service, info, row):
                link = self.media_link(secrets.token_urlsafe(5))  # 7 characters
                plan.routed = converted_to_sms(plan.routed, link)
            self._account_for(plan, context, batch.waits)
        explained = explain(
            decision, batch.addresses, recipient, service, carrier=info.name if info else None
        )
        explained["mms_link"] = plan.routed.mms_link if plan.routed else None
        plan.routing = orjson.dumps(explained).decode()
        return plan

    def _account_for(self, plan: _Plan, context: Context, waits: dict[str, float]) -> None:
        """Count a routed message in Scaler's load, so one batch spreads like single sends."""
        sender = plan.decision.sender
        assert sender is not None
        queue = self.dispatcher.queues.get(queue_key_of(plan.row.account_sid, sender))
        mps = queue.mps if queue is not None else 1
        waits[sender.sid] = waits.get(sender.sid, 0.0) + plan.row.num_segments / max(mps, 1)
        mapped = context.sticky.get(plan.row.to_number)
        if plan.sticky and (mapped is None or mapped.sender_sid != sender.sid):
            counts = context.counts
            counts[sender.sid] = counts.get(sender.sid, 0) + 1
            if mapped is not None:
                counts[mapped.sender_sid] = max(0, counts.get(mapped.sender_sid, 0) - 1)
            context.sticky[plan.row.to_number] = Mapping(
                service_sid=plan.row.messaging_service_sid or "", to_number=plan.row.to_number,
                sender_sid=sender.sid, pinned=mapped.pinned if mapped else False,
                date_created=0, date_updated=0,
            )  # fmt: skip

    def _write(self, plans: list[_Plan], conn: Connection) -> list[_Plan]:
        """Queue what has a sender (30001 when its queue is full), fail the rest; the
        plans that moved."""
        dispatcher = self.dispatcher
        now = dispatcher.clock.now_us()
        to_queue: list[_Plan] = []
        failing: list[tuple[_Plan, int]] = []
        for plan in plans:
            if plan.routed is None:
                failing.append((plan, plan.decision.error_code or errors.NoSenderReaches.code))
                continue
            try:
                dispatcher.reserve(conn, plan.routed, plan.row.num_segments)
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
                dispatcher.release(plan.row.sid)
        self._save_mappings(conn, queued, now)
        dispatcher.sink.enqueue(
            conn, [Change(p.routed, MessageStatus.QUEUED) for p in queued if p.routed], now
        )
        failed = self._fail(conn, failing, now)
        store.insert_alerts(conn, [self._alert(p, now) for p in queued if p.decision.alert])
        return queued + failed

    def _fail(self, conn: Connection, failing: list[tuple[_Plan, int]], now: int) -> list[_Plan]:
        if not failing:
            return []
        changes = [Change(p.routed or p.row, MessageStatus.FAILED, code) for p, code in failing]
        done = finish_many(changes, now, self.dispatcher.sink)(conn)
        failed = [p for (p, _), ok in zip(failing, done, strict=True) if ok]
        store.set_routing(conn, [(p.row.sid, p.routing) for p in failed])
        return [replace(p, routed=None) for p in failed]

    def _save_mappings(self, conn: Connection, queued: list[_Plan], now: int) -> None:
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

    def _alert(self, plan: _Plan, now: int) -> Alert:
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
