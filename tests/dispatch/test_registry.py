"""The queues a node holds: one key per sender whichever way a message reaches it, the
segments reserved by creates not yet queued (the overflow rule's other half), and the
backlog the overflow rule, Scaler and /metrics see."""

from __future__ import annotations

from dataclasses import replace

import pytest

from herald.carriers.network import lookup_carrier
from herald.clock import ManualClock
from herald.dispatch.planner import Context, Planner
from herald.dispatch.queues import Entry
from herald.dispatch.registry import QueueRegistry, Reservations, candidate_queue_key, queue_key
from herald.domain.decisions import given_sender
from herald.domain.queued import QueuedMessage, SenderFacts, queued_message
from herald.domain.ratelimit import INTERNATIONAL_MPS, queue_capacity, would_overflow
from herald.domain.routing import Candidate
from herald.domain.senders import SenderKind
from herald.domain.services import PoolEntry, Service
from herald.domain.status import MessageStatus
from herald.provisioning import create_account
from herald.runtime import Runtime
from herald.store import senders
from tests.dispatch.test_dispatcher import START
from tests.store.test_records import _number, message

AC = "AC" + "1" * 32
PN_A = "PN" + "a" * 32
PN_B = "PN" + "b" * 32
SC = "SC" + "c" * 32
AI = "AI" + "d" * 32
MG = "MG" + "e" * 32


def row(
    i: int, *, sender_sid: str | None = PN_A, from_number: str = "+14155550100", **changes: object
) -> QueuedMessage:
    made = QueuedMessage(
        id=i + 1,
        sid=f"SM{i:032x}",
        account_sid=AC,
        messaging_service_sid=None,
        from_number=from_number,
        to_number="+14155550111",
        sender_sid=sender_sid,
        body=f"m{i}",
        smart_encoded=False,
        num_segments=1,
        num_media=0,
        validity_period=None,
        status_callback=None,
        status=MessageStatus.QUEUED,
        date_created=START + i,
    )
    return replace(made, **changes)  # type: ignore[arg-type]


def held(r: QueuedMessage) -> Entry:
    return Entry(row=r, deadline_us=START + 10**12)


# ---- queue keys -------------------------------------------------------------------------


def test_queue_key_is_the_senders_sid_or_account_and_alphanumeric_id() -> None:
    assert queue_key(row(0)) == PN_A
    assert queue_key(row(0, sender_sid=None, from_number="Herald")) == f"{AC}/Herald"


LONG_CODE = Candidate(
    sid=PN_A, address="+14155550100", kind=SenderKind.LONG_CODE, country="US", area_code="415"
)
SHORT_CODE = Candidate(sid=SC, address="51234", kind=SenderKind.SHORT_CODE, country="US")
ALPHA = Candidate(
    sid=AI, address="Herald", kind=SenderKind.ALPHANUMERIC, registered_in=frozenset({"GB"})
)


@pytest.mark.parametrize(
    ("candidate", "to_number"),
    [(LONG_CODE, "+14155550111"), (SHORT_CODE, "+14155550111"), (ALPHA, "+447911123456")],
    ids=["long code", "short code", "alphanumeric"],
)
def test_a_routed_message_joins_the_queue_its_candidate_was_counted_on(
    candidate: Candidate, to_number: str
) -> None:
    """The planner counts a candidate's load under `candidate_queue_key` and the message it
    routes there is queued under `queue_key`: the two must name the same queue."""
    service = Service(sid=MG, account_sid=AC, friendly_name="s")
    waiting = row(
        0, sender_sid=None, from_number="", messaging_service_sid=MG, to_number=to_number,
        status=MessageStatus.ACCEPTED,
    )  # fmt: skip
    planner = Planner(QueueRegistry(not_before=lambda key: 0), ManualClock(START), str)
    context = Context(service, [PoolEntry(candidate, False)], {}, {})
    [plan] = planner.plan(context, [waiting], lookup_carrier)
    assert plan.decision.sender == candidate and plan.routed is not None
    assert queue_key(plan.routed) == candidate_queue_key(AC, candidate)
    # And back: the sender named by a routed (or `From`-given) row keys the same queue.
    given = given_sender(plan.routed).sender
    assert given is not None and candidate_queue_key(AC, given) == queue_key(plan.routed)


# ---- reservations -----------------------------------------------------------------------


def test_reserve_within_stops_exactly_at_the_overflow_boundary() -> None:
    reservations = Reservations()
    mps, horizon = 1, 5
    assert queue_capacity(mps, horizon) == 5
    # 3 queued: 2 more fit (3 + 2 = 5), then not one more.
    assert reservations.reserve_within(PN_A, "SM1", 2, queued=3, mps=mps, horizon_s=horizon)
    assert reservations.segments(PN_A) == 2
    assert would_overflow(3 + 2, 1, mps, horizon)
    assert not reservations.reserve_within(PN_A, "SM2", 1, queued=3, mps=mps, horizon_s=horizon)
    assert reservations.segments(PN_A) == 2  # a refusal reserves nothing
    # Another sender's queue is counted apart.
    assert reservations.reserve_within(PN_B, "SM3", 5, queued=0, mps=mps, horizon_s=horizon)
    assert reservations.segments(PN_B) == 5 and reservations.segments(PN_A) == 2
    # Released, the room is there again.
    reservations.release("SM1")
    assert reservations.segments(PN_A) == 0
    assert reservations.reserve_within(PN_A, "SM2", 2, queued=3, mps=mps, horizon_s=horizon)


@pytest.mark.parametrize(
    ("queued", "reserved", "segments"),
    [(0, 0, 10), (0, 0, 11), (4, 5, 1), (4, 5, 2), (10, 0, 1), (0, 9, 1), (3, 3, 4), (3, 3, 5)],
)
def test_reserve_within_agrees_with_would_overflow(
    queued: int, reserved: int, segments: int
) -> None:
    reservations = Reservations()
    if reserved:
        assert reservations.reserve_within(PN_A, "SMr", reserved, 0, mps=2, horizon_s=5)
    fits = reservations.reserve_within(PN_A, "SMx", segments, queued, mps=2, horizon_s=5)
    assert fits is not would_overflow(queued + reserved, segments, 2, 5)
    assert reservations.segments(PN_A) == reserved + (segments if fits else 0)


def test_releasing_an_unknown_or_released_sid_is_harmless() -> None:
    reservations = Reservations()
    assert reservations.reserve_within(PN_A, "SM1", 3, 0, mps=1, horizon_s=10)
    reservations.release("SMnever")
    assert reservations.segments(PN_A) == 3
    reservations.release("SM1")
    reservations.release("SM1")
    assert reservations.segments(PN_A) == 0
    assert reservations.segments("PNunknown") == 0


def test_a_message_admitted_twice_is_counted_once() -> None:
    reservations = Reservations()
    assert reservations.reserve_within(PN_A, "SM1", 3, 0, mps=1, horizon_s=10)
    assert reservations.reserve_within(PN_A, "SM1", 3, 0, mps=1, horizon_s=10)
    assert reservations.segments(PN_A) == 3
    reservations.release("SM1")
    assert reservations.segments(PN_A) == 0


# ---- the registry -----------------------------------------------------------------------


def _registry() -> QueueRegistry:
    registry = QueueRegistry(not_before=lambda key: START + 7 if key == PN_A else 0)
    for sid in (PN_A, PN_B):
        registry.senders[sid] = SenderFacts(sid=sid, kind=SenderKind.LONG_CODE, country="US", mps=3)
    return registry


def test_queue_for_makes_one_queue_per_sender_from_its_cached_details() -> None:
    registry = _registry()
    q = registry.queue_for(row(0))
    assert (q.key, q.kind, q.mps, q.not_before_us) == (PN_A, SenderKind.LONG_CODE, 3, START + 7)
    assert registry.queue_for(row(1)) is q
    alpha = registry.queue_for(row(2, sender_sid=None, from_number="Herald"))
    assert (alpha.key, alpha.kind, alpha.mps) == (
        f"{AC}/Herald",
        SenderKind.ALPHANUMERIC,
        INTERNATIONAL_MPS,
    )
    assert set(registry.queues) == {PN_A, f"{AC}/Herald"}


def test_backlog_is_queued_plus_reserved_and_holding_releases_the_reservation() -> None:
    registry = _registry()
    assert registry.backlog(PN_A) == 0
    first, second = row(0, num_segments=2), row(1, num_segments=3)
    assert registry.reservations.reserve_within(PN_A, first.sid, 2, 0, mps=3, horizon_s=10)
    assert registry.reservations.reserve_within(PN_A, second.sid, 3, 0, mps=3, horizon_s=10)
    assert registry.backlog(PN_A) == 5  # no queue yet: all reserved
    q = registry.queue_for(first)
    registry.hold(q, held(first))
    assert q.backlog == 2 and registry.reservations.segments(PN_A) == 3
    assert registry.backlog(PN_A) == 5  # counted once, moved from reserved to queued
    assert registry.entries == {first.sid: q.entries[0]}
    registry.hold(q, held(second))
    assert registry.reservations.segments(PN_A) == 0 and registry.backlog(PN_A) == 5
    q.take(4)
    assert registry.backlog(PN_A) == 1
    assert registry.backlog(PN_B) == 0


def test_reserve_reads_the_senders_rate_from_the_store(runtime: Runtime) -> None:
    """A message about to be stored for a sender not yet seen: its details are read in
    the create's own transaction, and its `Mps` sets the room (mps × horizon)."""
    account = create_account(runtime, friendly_name="r", is_test=False)
    number = replace(_number(runtime, account.sid, "+14155550100"), mps=2)
    runtime.db.run(lambda c: senders.insert_number(c, number))
    registry = QueueRegistry(not_before=lambda key: 0)
    rows = [
        replace(
            queued_message(message(runtime, account.sid, i)), sender_sid=number.sid, num_segments=2
        )
        for i in range(4)
    ]
    fits = [runtime.db.run(lambda c, r=r: registry.reserve(c, r, 2, 3)) for r in rows]
    assert fits == [True, True, True, False]  # room for 2 × 3 = 6 segments
    assert registry.senders[number.sid] == SenderFacts(
        sid=number.sid, kind=SenderKind.LONG_CODE, country="US", mps=2
    )
    assert registry.backlog(number.sid) == 6
    q = registry.queue_for(rows[0])
    registry.hold(q, held(rows[0]))
    assert registry.backlog(number.sid) == 6  # queued now, no longer reserved
    first = q.entries[0]
    assert q.take(2) == [(first, 1, 2)]  # submitted: room for one more
    assert registry.backlog(number.sid) == 4
    assert runtime.db.run(lambda c: registry.reserve(c, rows[3], 2, 3))
    assert registry.backlog(number.sid) == 6


def test_drop_queue_takes_only_that_senders_entries() -> None:
    registry = _registry()
    a1, a2, b1 = row(0), row(1), row(2, sender_sid=PN_B)
    alpha = row(3, sender_sid=None, from_number="Herald")
    for r in (a1, a2, b1, alpha):
        registry.hold(registry.queue_for(r), held(r))
    registry.queues[PN_A].take(1)  # a1 is off the queue, being submitted
    registry.drop_queue(PN_A)
    assert set(registry.queues) == {PN_B, f"{AC}/Herald"}
    assert set(registry.entries) == {b1.sid, alpha.sid}  # a1 went too
    registry.drop_queue(f"{AC}/Herald")
    assert set(registry.entries) == {b1.sid}
    registry.drop_queue("PNunknown")  # harmless
    assert set(registry.queues) == {PN_B}


def test_a_dropped_sender_takes_its_reservations_with_it() -> None:
    """A lease lost between a create's write and its hand-over: what was reserved on this
    node for the sender must not count against it when it comes back."""
    registry = _registry()
    assert registry.reservations.reserve_within(PN_A, "SM1", 4, 0, mps=3, horizon_s=10)
    assert registry.reservations.reserve_within(PN_B, "SM2", 2, 0, mps=3, horizon_s=10)
    registry.drop_queue(PN_A)
    assert (registry.backlog(PN_A), registry.backlog(PN_B)) == (0, 2)
    registry.reservations.release("SM1")  # harmless afterwards
    assert registry.backlog(PN_B) == 2


def test_view_shows_each_queues_backlog_and_how_long_its_head_has_waited() -> None:
    registry = _registry()
    a = row(0, num_segments=2)
    registry.hold(registry.queue_for(a), held(a))
    assert registry.reservations.reserve_within(PN_A, "SMr", 1, 2, mps=3, horizon_s=10)
    empty = registry.queue_for(row(1, sender_sid=PN_B))
    assert not empty.entries
    now = START + 2_500_000
    assert sorted(registry.view(now)) == [
        (PN_A, "+14155550100", 3, 2.5),
        (PN_B, "+14155550100", 0, 0.0),
    ]
