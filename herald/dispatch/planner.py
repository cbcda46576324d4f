"""Routing a batch of one service's messages, decided before anything is written: for
each, the sender `choose_sender` picks (or why none), the row as it goes to that sender
(converted to SMS by the MMS Converter where it must be), and the explanation stored
for `Routing.json`. The batch's messages share the shortlists of like recipients and
count in Scaler's load as they are planned, so one batch spreads as single sends do.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

import orjson

from herald.clock import Clock
from herald.dispatch.health import HealthTracker
from herald.dispatch.registry import QueueRegistry, candidate_queue_key
from herald.domain import delivery_errors
from herald.domain.decisions import (
    REROUTED,
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
from herald.domain.health import impaired_among
from herald.domain.queued import QueuedMessage
from herald.domain.routing import RoutingDecision, Rule
from herald.domain.senders import SenderKind
from herald.domain.services import Mapping, PoolEntry, Service
from herald.domain.status import MessageStatus

log = logging.getLogger("herald.routing")

DAY_US = 86_400_000_000
SERVICE_GONE = delivery_errors.ServiceGone.code
UNROUTABLE = delivery_errors.UnknownError.code  # routing this message raised


@dataclass(frozen=True, slots=True)
class Context:
    """What routing a service's messages reads from the store."""

    service: Service | None
    pool: list[PoolEntry]
    sticky: dict[str, Mapping]
    counts: dict[str, int]


@dataclass(slots=True)
class Plan:
    """One message's routing, decided, before it is written."""

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
    impaired: frozenset[str] = frozenset()  # pool senders out of routing (sender health)
    probe_share: float = 0.0


class Planner:
    def __init__(
        self,
        registry: QueueRegistry,
        clock: Clock,
        media_link: Callable[[str], str],
        health: HealthTracker | None = None,
    ) -> None:
        self.registry = registry
        self.clock = clock
        self.media_link = media_link  # an MMS Converter link from its code
        self.health = health

    def _waits(self, account_sid: str, pool: Sequence[PoolEntry]) -> dict[str, float]:
        """Seconds of backlog ahead on each candidate's queue (those this node holds)."""
        waits = {}
        for entry in pool:
            key = candidate_queue_key(account_sid, entry.candidate)
            queue = self.registry.queues.get(key)
            if queue is not None:
                waits[entry.candidate.sid] = self.registry.backlog(key) / max(queue.mps, 1)
        return waits

    def plan(self, context: Context, rows: list[QueuedMessage], lookup: Lookup) -> list[Plan]:
        batch = _Batch(
            context=context,
            lookup=lookup,
            waits=self._waits(rows[0].account_sid, context.pool),
            addresses=addresses_of(context.pool),
        )
        health = self.health
        if health is not None and health.impaired_keys():
            candidates = (e.candidate for e in context.pool)
            batch.impaired = impaired_among(rows[0].account_sid, candidates, health.impaired_keys())
            batch.probe_share = health.policy.probe_share
        plans = []
        for row in rows:
            try:
                plans.append(self._plan_one(row, batch))
            except Exception:  # one message that cannot be routed holds up no other
                log.exception("routing %s failed; it fails with %d", row.sid, UNROUTABLE)
                decision = RoutingDecision(sender=None, rule=Rule.NONE, error_code=UNROUTABLE)
                plans.append(Plan(row, decision, orjson.dumps({"rule": "none"}).decode(), False))
        return plans

    def _plan_one(self, row: QueuedMessage, batch: _Batch) -> Plan:
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
                impaired=batch.impaired, probe_share=batch.probe_share,
            )  # fmt: skip
        # A message routed around an impaired sender leaves the recipient's mapping as it
        # is: the recipient goes back to its sender once that is back in routing.
        rerouted = decision.health == REROUTED
        keeps_mapping = bool(service and service.sticky_sender and not row.from_number) and (
            not rerouted
        )
        plan = Plan(row, decision, "", keeps_mapping)
        mapped = context.sticky.get(row.to_number)
        plan.touch = bool(
            decision.rule is Rule.STICKY_SENDER
            and mapped is not None
            and 0 < mapped.date_updated < self.clock.now_us() - DAY_US
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

    def _account_for(self, plan: Plan, context: Context, waits: dict[str, float]) -> None:
        """Count a routed message in Scaler's load, so one batch spreads like single sends."""
        sender = plan.decision.sender
        assert sender is not None
        queue = self.registry.queues.get(candidate_queue_key(plan.row.account_sid, sender))
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
