"""Sender health (beyond Twilio): outcomes counted and added up by slice and node, the
judgement that takes a failing sender out of routing and puts it back, the probes, the
alerts, and the routing of a service send around an impaired sender. Laws: tallies add
up in any order; a judgement counts only what came after the last change."""

from __future__ import annotations

from dataclasses import replace

from hypothesis import given
from hypothesis import strategies as st

from herald.domain.decisions import IMPAIRED, ONLY_IMPAIRED, PROBE, REROUTED, decide, explain
from herald.domain.health import (
    IMPAIRED_ALERT,
    LATENCY_BOUNDS_S,
    RECOVERED_ALERT,
    Change,
    Health,
    Outcome,
    Policy,
    Slice,
    State,
    Subject,
    Tally,
    alert_for,
    candidate_key,
    health_sid,
    impaired_among,
    in_window,
    is_probe,
    judge,
    latency_bucket,
    merge,
    slice_start,
    window_start,
)
from herald.domain.routing import Candidate, Recipient, Rule
from herald.domain.senders import SenderKind
from herald.domain.services import Mapping, Service
from tests.domain.test_decisions import AC, MG, SERVICE, US_415, entry, row

S = 1_000_000
POLICY = Policy(window_s=100, min_messages=4, failure_threshold=0.5, recovery_threshold=0.25)
NOW = 1_700_000_000 * S  # a multiple of the 10 s slice
DELIVERED = Outcome(delivered=True, latency_us=2 * S)
FAILED = Outcome(delivered=False, error_code=30007, latency_us=3 * S)
SENDER = Subject(key="PN1", address="+14155550100", account_sid=AC, resource_sid="PN1")


def tally(*outcomes: Outcome) -> Tally:
    t = Tally()
    for outcome in outcomes:
        t = t.add(outcome)
    return t


# -- counting ---------------------------------------------------------------------------


def test_an_empty_tally_has_no_rates_and_no_latency() -> None:
    t = Tally()
    assert (t.total, t.judged, t.failure_rate, t.delivery_rate) == (0, 0, None, None)
    assert t.percentile(0.5) is None


def test_outcomes_are_counted_with_their_codes_and_latencies() -> None:
    t = tally(
        DELIVERED,
        FAILED,
        FAILED,
        Outcome(delivered=False, error_code=30003),  # no latency: a receipt not timed
        Outcome(delivered=False, error_code=30006, latency_us=1),  # a landline: not judged
        Outcome(delivered=False, error_code=21612, refused=True),  # refused: not judged
        Outcome(delivered=False),  # no code: the unknown error
    )
    assert (t.delivered, t.failed, t.not_judged, t.total, t.judged) == (1, 4, 2, 7, 5)
    assert t.errors == ((21612, 1), (30003, 1), (30006, 1), (30007, 2), (30008, 1))
    assert t.failure_rate == 4 / 5
    assert t.delivery_rate == 1 / 7
    assert sum(t.latency) == 4


def test_latency_buckets_and_percentiles() -> None:
    assert latency_bucket(0) == 0
    assert latency_bucket(S // 2) == 0  # at the bound: that bucket
    assert latency_bucket(S // 2 + 1) == 1
    assert latency_bucket(100_000 * S) == len(LATENCY_BOUNDS_S) - 1  # beyond: the last
    t = tally(*[Outcome(delivered=True, latency_us=S // 10)] * 9, FAILED)
    assert t.percentile(0.5) == 0.5
    assert t.percentile(0.95) == 5.0  # the tenth receipt took 3 s: at most 5
    assert t.percentile(0.0) == 0.5


@given(st.lists(st.tuples(st.booleans(), st.sampled_from([30003, 30006, 30007, None]))))
def test_tallies_add_up_in_any_order(outcomes: list[tuple[bool, int | None]]) -> None:
    made = [Outcome(delivered=d, error_code=c, latency_us=S) for d, c in outcomes]
    half = len(made) // 2
    whole = tally(*made)
    assert merge([tally(*made[:half]), tally(*made[half:])]) == whole
    assert merge([tally(*made[half:]), tally(*made[:half])]) == whole
    assert whole.total == len(made)
    assert merge([]) == Tally()


# -- the window -------------------------------------------------------------------------


def test_slices_and_the_window() -> None:
    assert POLICY.window_us == 100 * S and POLICY.slice_us == 10 * S
    assert slice_start(NOW + 3 * S, POLICY) == NOW
    assert window_start(NOW + 3 * S, POLICY) == NOW - 90 * S
    assert Policy(window_s=0.000001).slice_us == 1  # never a zero slice
    old = Slice(NOW - 100 * S, tally(FAILED))  # out of the window
    kept = [Slice(NOW - 90 * S, tally(FAILED)), Slice(NOW, tally(DELIVERED))]
    assert in_window([old, *kept], NOW + S, POLICY).total == 2
    assert in_window([old, *kept], NOW + S, POLICY, since_us=NOW - 5 * S).total == 1


# -- the judgement ----------------------------------------------------------------------


def slices(*per_slice: Tally, first: int = NOW - 30 * S) -> list[Slice]:
    return [Slice(first + i * 10 * S, t) for i, t in enumerate(per_slice)]


def test_too_few_messages_are_not_judged() -> None:
    assert judge(State(), slices(tally(FAILED, FAILED, FAILED)), NOW, POLICY) is None
    assert judge(State(), [], NOW, POLICY) is None
    # failures that describe the recipient do not count toward the minimum
    landlines = tally(*[Outcome(delivered=False, error_code=30006)] * 10)
    assert judge(State(), slices(landlines), NOW, POLICY) is None


def test_a_failing_sender_is_impaired_and_a_recovered_one_healthy() -> None:
    failing = slices(tally(FAILED, FAILED), tally(FAILED, DELIVERED))
    change = judge(State(), failing, NOW, POLICY)
    assert change is not None
    assert change.state == State(health=Health.IMPAIRED, changed_at=NOW)
    assert (change.counted.failed, change.counted.judged) == (3, 4)
    # the same failures never judge it again: only what came after the change counts
    impaired = change.state
    assert judge(impaired, failing, NOW + 10 * S, POLICY) is None
    probes = [*failing, Slice(NOW + 10 * S, tally(DELIVERED, DELIVERED, DELIVERED, FAILED))]
    back = judge(impaired, probes, NOW + 15 * S, POLICY)
    assert back is not None and back.state == State(health=Health.HEALTHY, changed_at=NOW + 15 * S)
    # the slice the change fell in is not counted (some of it came before)
    partly = [*failing, Slice(NOW, tally(DELIVERED, DELIVERED, DELIVERED, DELIVERED))]
    assert judge(replace(impaired, changed_at=NOW + S), partly, NOW + 5 * S, POLICY) is None


def test_between_the_thresholds_nothing_changes() -> None:
    half = slices(tally(FAILED, DELIVERED, DELIVERED, DELIVERED))  # 25 %: not 50 %
    assert judge(State(), half, NOW, POLICY) is None
    impaired = State(health=Health.IMPAIRED, changed_at=NOW - 40 * S)
    worse = slices(tally(FAILED, FAILED, DELIVERED, DELIVERED))  # 50 %: not 25 %
    assert judge(impaired, worse, NOW, POLICY) is None
    at_threshold = slices(tally(FAILED, DELIVERED, DELIVERED, DELIVERED))
    assert judge(impaired, at_threshold, NOW, POLICY) is not None  # at most 25 %: back


# -- probes, keys, SIDs -----------------------------------------------------------------


def test_probes_are_a_share_of_messages_by_their_sid() -> None:
    low, high = "SM" + "0" * 32, "SM" + "f" * 32
    assert is_probe(low, 0.05) and not is_probe(high, 0.05)
    assert not is_probe(low, 0.0) and is_probe(high, 1.0 + 1e-9)
    assert not is_probe("", 1.0)  # a preview's draft: never
    assert not is_probe("SM" + "z" * 32, 1.0)
    spread = [f"SM{'0' * 24}{i * (2**32 // 1000):08x}" for i in range(1000)]
    assert 95 <= sum(is_probe(sid, 0.1) for sid in spread) <= 105


def test_keys_of_candidates_and_the_impaired_among_them() -> None:
    number = Candidate(sid="PN1", address="+14155550100", kind=SenderKind.LONG_CODE)
    alpha = Candidate(sid="AI1", address="Herald", kind=SenderKind.ALPHANUMERIC)
    assert candidate_key(AC, number) == "PN1"
    assert candidate_key(AC, alpha) == f"{AC}/Herald"
    assert impaired_among(AC, [number, alpha], {f"{AC}/Herald"}) == {"AI1"}
    assert impaired_among(AC, [number, alpha], set()) == frozenset()


def test_a_health_sid_is_stable_and_fits_a_page_token() -> None:
    sid = health_sid("PN1")
    assert sid == health_sid("PN1") != health_sid("PN2")
    assert sid.startswith("HS") and len(sid) == 34


# -- alerts -----------------------------------------------------------------------------


def test_taken_out_and_put_back_each_raise_an_alert() -> None:
    counted = tally(FAILED, FAILED, FAILED, DELIVERED)
    out = Change(state=State(health=Health.IMPAIRED, changed_at=NOW), counted=counted)
    alert = alert_for(SENDER, out, sid="NO1", now_us=NOW, policy=POLICY)
    assert alert is not None
    assert (alert.error_code, alert.log_level, alert.resource_sid) == (
        IMPAIRED_ALERT,
        "warning",
        "PN1",
    )
    assert "+14155550100 was taken out of service routing" in alert.alert_text
    assert "3 of 4 messages failed (75%)" in alert.alert_text
    assert "30007 ×3" in alert.alert_text
    back = Change(state=State(health=Health.HEALTHY, changed_at=NOW), counted=tally(DELIVERED))
    alert = alert_for(SENDER, back, sid="NO2", now_us=NOW, policy=POLICY)
    assert alert is not None
    assert (alert.error_code, alert.log_level) == (RECOVERED_ALERT, "notice")
    assert "back in service routing" in alert.alert_text
    connection = Subject(key="smpp-a", kind="connection")
    assert alert_for(connection, out, sid="NO3", now_us=NOW, policy=POLICY) is None


# -- routing around an impaired sender --------------------------------------------------

NOT_PROBE = "SM" + "f" * 32
A_PROBE = "SM" + "0" * 32


def test_an_impaired_sender_is_passed_over_and_named() -> None:
    pool = [entry("LC415", area="415", mms=True), entry("LC212", area="212", mms=True)]
    decision = decide(
        SERVICE, pool, row(sid=NOT_PROBE), US_415, mapping=None, waits={}, counts={},
        impaired=frozenset({"LC415"}), probe_share=0.05,
    )  # fmt: skip
    assert decision.sender is not None and decision.sender.sid == "LC212"
    assert decision.health == REROUTED
    assert decision.rejected_groups[0].reason == IMPAIRED
    assert decision.rejected_groups[0].sids == ("LC415",)
    explained = explain(decision, {}, US_415, SERVICE, carrier=None)
    assert explained["health"] == REROUTED
    assert {"reason": IMPAIRED, "count": 1} in explained["rejected_by_reason"]  # type: ignore[operator]


def test_a_probe_still_goes_to_the_impaired_sender() -> None:
    pool = [entry("LC415", area="415", mms=True), entry("LC212", area="212", mms=True)]
    decision = decide(
        SERVICE, pool, row(sid=A_PROBE), US_415, mapping=None, waits={}, counts={},
        impaired=frozenset({"LC415"}), probe_share=0.05,
    )  # fmt: skip
    assert decision.sender is not None and decision.sender.sid == "LC415"
    assert (decision.rule, decision.health) == (Rule.AREA_CODE_GEOMATCH, PROBE)


def test_the_only_sender_that_reaches_the_recipient_keeps_sending() -> None:
    pool = [entry("LC415", area="415", mms=True), entry("LC212", area="212", mms=False)]
    decision = decide(
        SERVICE, pool, row(sid=NOT_PROBE, num_media=1), US_415, mapping=None, waits={},
        counts={}, impaired=frozenset({"LC415"}), probe_share=0.05,
    )  # fmt: skip
    assert decision.sender is not None and decision.sender.sid == "LC415"
    assert decision.health == ONLY_IMPAIRED


def test_a_sticky_mapping_to_an_impaired_sender_routes_elsewhere() -> None:
    pool = [entry("LC415", area="415", mms=True), entry("LC212", area="212", mms=True)]
    mapping = Mapping(
        service_sid=MG, to_number="+14155550111", sender_sid="LC415", pinned=True,
        date_created=0, date_updated=0,
    )  # fmt: skip
    decision = decide(
        SERVICE, pool, row(sid=NOT_PROBE), US_415, mapping=mapping, waits={}, counts={},
        impaired=frozenset({"LC415"}), probe_share=0.05,
    )  # fmt: skip
    assert decision.sender is not None and decision.sender.sid == "LC212"
    assert decision.rule is not Rule.STICKY_SENDER and decision.health == REROUTED
    reasons = [g.reason for g in decision.rejected_groups]
    assert "Sticky Sender mapping no longer eligible" not in reasons


def test_a_healthy_choice_is_not_touched() -> None:
    pool = [entry("LC415", area="415", mms=True), entry("LC212", area="212", mms=True)]
    decision = decide(
        SERVICE, pool, row(sid=NOT_PROBE), US_415, mapping=None, waits={}, counts={},
        impaired=frozenset({"LC212"}), probe_share=0.05,
    )  # fmt: skip
    assert decision.sender is not None and decision.sender.sid == "LC415"
    assert decision.health is None
    nobody = decide(
        Service(sid=MG, account_sid=AC, friendly_name="x"), pool, row(sid=NOT_PROBE),
        Recipient(country="BR"), mapping=None, waits={}, counts={},
        impaired=frozenset({"LC415", "LC212"}),
    )  # fmt: skip
    assert nobody.sender is not None and nobody.health == ONLY_IMPAIRED
