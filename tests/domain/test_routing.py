# ruff: noqa: E501  (one scenario per line, so that the table reads as a table)
"""Copilot sender selection (reference §6): a table of scenarios, one or more for each rule
and for their interactions, and Hypothesis laws: the sender chosen is always in the pool
and eligible, and repeated sends keep it unless a §6.4 event happened."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from hypothesis import given
from hypothesis import strategies as st

from herald.domain.numbers import is_local_area
from herald.domain.routing import (
    NO_SENDER_ERROR,
    PREREGISTRATION_ALERT,
    Candidate,
    Options,
    Recipient,
    Rule,
    choose_from,
    choose_sender,
    shortlist,
)
from herald.domain.senders import SenderKind

LC, TF, SC, AL = (
    SenderKind.LONG_CODE,
    SenderKind.TOLL_FREE,
    SenderKind.SHORT_CODE,
    SenderKind.ALPHANUMERIC,
)


def number(
    sid: str, country: str = "US", area: str | None = None, kind: SenderKind = LC
) -> Candidate:
    return Candidate(sid=sid, address=sid, kind=kind, country=country, area_code=area)


def short(sid: str, country: str = "US") -> Candidate:
    return Candidate(sid=sid, address=sid, kind=SC, country=country)


def alpha(sid: str, *registered: str) -> Candidate:
    return Candidate(sid=sid, address=sid, kind=AL, registered_in=frozenset(registered))


US_415 = Recipient(country="US", area_code="415")
US_628 = Recipient(country="US", area_code="628")  # an overlay of 415
US_212 = Recipient(country="US", area_code="212")
US_NO_SC = Recipient(country="US", area_code="415", short_codes_reachable=False)
CA_416 = Recipient(country="CA", area_code="416")
GB = Recipient(country="GB", alpha="yes")
FR = Recipient(country="FR", alpha="yes")
DE = Recipient(country="DE", alpha="yes")
IN = Recipient(country="IN", alpha="yes", alpha_preregistration="required")
AU = Recipient(country="AU", alpha="yes", alpha_preregistration="required")
BR = Recipient(country="BR", alpha="no")
MX = Recipient(country="MX", alpha="restricted")


@dataclass(frozen=True)
class Case:
    name: str
    pool: tuple[Candidate, ...]
    recipient: Recipient
    sender: str | None
    rule: Rule
    sticky: str | None = None
    pinned: bool = False
    waits: dict[str, float] = field(default_factory=dict)
    mappings: dict[str, int] = field(default_factory=dict)
    options: Options = field(default_factory=Options)
    rerouted: bool = False
    alert: int | None = None
    rejected: tuple[tuple[str, str], ...] = ()  # (sid, words in the reason) that must appear


CASES = [
    # Sender type: short code first, when it can reach the recipient.
    Case("US short code beats a 415 long code", (short("SC1"), number("LC415", area="415")), US_415, "SC1", Rule.SHORT_CODE, rejected=(("LC415", "short code can reach"),)),
    Case("carrier without short codes: Reroute to the long code", (short("SC1"), number("LC415", area="415")), US_NO_SC, "LC415", Rule.AREA_CODE_GEOMATCH, rerouted=True, rejected=(("SC1", "does not take short codes"),)),
    Case("a short code of another country is passed over", (short("SCGB", "GB"), number("LC415", area="415")), US_415, "LC415", Rule.AREA_CODE_GEOMATCH, rejected=(("SCGB", "another country"),)),
    Case("rerouted with only a short code: no sender", (short("SC1"),), US_NO_SC, None, Rule.NONE, rerouted=True),
    Case("two short codes: Scaler picks the shorter queue", (short("SC1"), short("SC2")), US_415, "SC2", Rule.SHORT_CODE, waits={"SC1": 5.0, "SC2": 1.0}),
    Case("a GB short code for a GB recipient beats alpha", (short("SCGB", "GB"), alpha("ALPHA")), GB, "SCGB", Rule.SHORT_CODE),
    # Alpha Sender.
    Case("UK recipient, alpha ID and a UK number: alpha", (alpha("ALPHA"), number("LCGB", "GB")), GB, "ALPHA", Rule.ALPHA_SENDER, rejected=(("LCGB", "alphanumeric"),)),
    Case("alpha wins even with a backlog", (alpha("ALPHA"), number("LCGB", "GB")), GB, "ALPHA", Rule.ALPHA_SENDER, waits={"ALPHA": 9_000.0}),
    Case("no alpha for US recipients", (alpha("ALPHA"), number("LC415", area="415")), US_415, "LC415", Rule.AREA_CODE_GEOMATCH, rejected=(("ALPHA", "does not accept"),)),
    Case("no alpha for Canada", (alpha("ALPHA"), number("LC416", "CA", "416")), CA_416, "LC416", Rule.AREA_CODE_GEOMATCH),
    Case("no alpha in Brazil", (alpha("ALPHA"), number("LCBR", "BR")), BR, "LCBR", Rule.COUNTRY_GEOMATCH),
    Case("restricted alpha countries get a number", (alpha("ALPHA"), number("LCUS", area="415")), MX, "LCUS", Rule.US_FALLBACK),
    Case("a UK short code in the pool keeps alpha out of the UK even when rerouted", (short("SCGB", "GB"), alpha("ALPHA"), number("LCGB", "GB")), Recipient(country="GB", alpha="yes", short_codes_reachable=False), "LCGB", Rule.COUNTRY_GEOMATCH, rerouted=True, rejected=(("ALPHA", "short code in this country"),)),
    Case("India needs registration: the registered ID", (alpha("A1"), alpha("A2", "IN")), IN, "A2", Rule.ALPHA_SENDER, rejected=(("A1", "not registered"),)),
    Case("unregistered in India: sent with the 30018 alert", (alpha("A1"), number("LCUS")), IN, "A1", Rule.ALPHA_SENDER, alert=PREREGISTRATION_ALERT),
    Case("unregistered skipped when the service says so", (alpha("A1"), number("LCUS", area="415")), IN, "LCUS", Rule.US_FALLBACK, options=Options(skip_unregistered_alpha=True), rejected=(("A1", "skips unregistered"),)),
    Case("registered in Australia: no alert", (alpha("A1", "AU"),), AU, "A1", Rule.ALPHA_SENDER),
    Case("two alpha IDs: Scaler", (alpha("A1"), alpha("A2")), DE, "A2", Rule.ALPHA_SENDER, waits={"A1": 3.0, "A2": 0.5}),
    # Country Geomatch.
    Case("French recipient, only US numbers: a US number", (number("LC415", area="415"), number("LC212", area="212")), FR, "LC212", Rule.US_FALLBACK, waits={"LC415": 2.0}),
    Case("French recipient with a French number", (number("LCFR", "FR"), number("LC415", area="415")), FR, "LCFR", Rule.COUNTRY_GEOMATCH, rejected=(("LC415", "recipient's country"),)),
    Case("German recipient, GB and FR numbers only: any", (number("LCGB", "GB"), number("LCFR", "FR")), Recipient(country="DE"), "LCFR", Rule.ANY_NUMBER),
    Case("US numbers before others when none is local", (number("LCGB", "GB"), number("LCUS", area="212")), Recipient(country="DE"), "LCUS", Rule.US_FALLBACK, rejected=(("LCGB", "US number first"),)),
    Case("empty pool: no sender, 21703", (), US_415, None, Rule.NONE),
    # Area Code Geomatch.
    Case("415 recipient, 415 and 212 numbers: 415", (number("LC212", area="212"), number("LC415", area="415")), US_415, "LC415", Rule.AREA_CODE_GEOMATCH, rejected=(("LC212", "area code"),)),
    Case("628 recipient, a 415 number: the overlay", (number("LC212", area="212"), number("LC415", area="415")), US_628, "LC415", Rule.AREA_CODE_GEOMATCH),
    Case("no local number: any US/CA number", (number("LC212", area="212"), number("LCGB", "GB")), US_415, "LC212", Rule.AREA_CODE_GEOMATCH, rejected=(("LCGB", "US/CA"),)),
    Case("a Canadian number serves a US recipient when no local one", (number("LC416", "CA", "416"),), US_212, "LC416", Rule.AREA_CODE_GEOMATCH),
    Case("Area Code Geomatch off: country match only", (number("LC212", area="212"), number("LC415", area="415")), US_415, "LC212", Rule.COUNTRY_GEOMATCH, options=Options(area_code_geomatch=False), waits={"LC415": 4.0}),
    Case("two local numbers: Scaler", (number("LC415a", area="415"), number("LC415b", area="415")), US_415, "LC415b", Rule.AREA_CODE_GEOMATCH, waits={"LC415a": 2.0, "LC415b": 1.0}),
    Case("a US recipient and only a UK number: any number", (number("LCGB", "GB"),), US_415, "LCGB", Rule.ANY_NUMBER),
    Case("a non-NANP recipient ignores area codes", (number("LCGB", "GB"),), GB, "LCGB", Rule.COUNTRY_GEOMATCH),
    # Toll-free in Canada.
    Case("Canada prefers toll-free", (number("LC416", "CA", "416"), number("TF800", "CA", "800", TF)), CA_416, "TF800", Rule.AREA_CODE_GEOMATCH, rejected=(("LC416", "toll-free"),)),
    Case("a US toll-free number for Canada when no local one", (number("TFUS", "US", "833", TF), number("LCUS", area="212")), CA_416, "TFUS", Rule.AREA_CODE_GEOMATCH),
    Case("US recipients: toll-free and long codes alike", (number("TF", "US", "888", TF), number("LC415", area="415")), US_415, "LC415", Rule.AREA_CODE_GEOMATCH),
    # Sticky Sender.
    Case("a valid mapping is kept", (number("LC415a", area="415"), number("LC415b", area="415")), US_415, "LC415a", Rule.STICKY_SENDER, sticky="LC415a", waits={"LC415a": 9.0}),
    Case("the mapping wins over Area Code Geomatch", (number("LC212", area="212"), number("LC415", area="415")), US_415, "LC212", Rule.STICKY_SENDER, sticky="LC212"),
    Case("Sticky Sender off: the mapping is ignored", (number("LC212", area="212"), number("LC415", area="415")), US_415, "LC415", Rule.AREA_CODE_GEOMATCH, sticky="LC212", options=Options(sticky_sender=False)),
    Case("a mapping to a sender no longer in the pool is dropped", (number("LC415", area="415"),), US_415, "LC415", Rule.AREA_CODE_GEOMATCH, sticky="GONE"),
    Case("a mapping to an ineligible short code is invalidated", (short("SC1"), number("LC415", area="415")), US_NO_SC, "LC415", Rule.AREA_CODE_GEOMATCH, sticky="SC1", rerouted=True, rejected=(("SC1", "no longer eligible"),)),
    Case("a same-country sender added: remapped", (number("LCUS", area="212"), number("LCFR", "FR")), FR, "LCFR", Rule.COUNTRY_GEOMATCH, sticky="LCUS", rejected=(("LCUS", "no longer eligible"),)),
    Case("a pinned mapping to a US number holds when a same-country sender is added", (number("LCUS", area="212"), number("LCFR", "FR")), FR, "LCUS", Rule.STICKY_SENDER, sticky="LCUS", pinned=True),
    Case("a pinned mapping to an ineligible short code is still invalidated", (short("SC1"), number("LC415", area="415")), US_NO_SC, "LC415", Rule.AREA_CODE_GEOMATCH, sticky="SC1", pinned=True, rerouted=True),
    Case("a mapping to a short code holds", (short("SC1"), short("SC2")), US_415, "SC2", Rule.STICKY_SENDER, sticky="SC2"),
    Case("a mapping to an alpha ID holds", (alpha("A1"), alpha("A2")), GB, "A1", Rule.STICKY_SENDER, sticky="A1", waits={"A1": 50.0}),
    # Scaler with Sticky Sender: the fewest mappings.
    Case("Scaler with Sticky Sender: fewest mappings", (number("LC415a", area="415"), number("LC415b", area="415")), US_415, "LC415a", Rule.AREA_CODE_GEOMATCH, mappings={"LC415a": 3, "LC415b": 7}, waits={"LC415a": 5.0}),
    Case("Scaler without Sticky Sender: the shortest wait", (number("LC415a", area="415"), number("LC415b", area="415")), US_415, "LC415b", Rule.AREA_CODE_GEOMATCH, mappings={"LC415a": 3, "LC415b": 7}, waits={"LC415a": 5.0}, options=Options(sticky_sender=False)),
]  # fmt: skip


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_routing_scenarios(case: Case) -> None:
    decision = choose_sender(
        case.pool,
        case.recipient,
        sticky=case.sticky,
        pinned=case.pinned,
        queue_waits=case.waits,
        mappings=case.mappings,
        options=case.options,
        is_overlay=is_local_area,
    )
    assert (decision.sender.sid if decision.sender else None) == case.sender
    assert decision.rule is case.rule
    assert decision.rerouted is case.rerouted
    assert decision.alert == case.alert
    assert decision.error_code == (NO_SENDER_ERROR if case.sender is None else None)
    reasons = {(r.sid, r.reason) for r in decision.rejected}
    for sid, words in case.rejected:
        assert any(s == sid and words in reason for s, reason in reasons), (sid, words, reasons)
    # Every other candidate is explained.
    losers = {c.sid for c in case.pool} - {case.sender}
    assert losers <= {r.sid for r in decision.rejected}


def test_at_least_forty_scenarios() -> None:
    assert len(CASES) >= 40


COUNTRIES = ("US", "CA", "GB", "FR", "IN", "BR")
AREAS = ("415", "628", "212", "416", "800")
candidates = st.builds(
    Candidate,
    sid=st.sampled_from([f"S{i}" for i in range(8)]),
    address=st.just("x"),
    kind=st.sampled_from(list(SenderKind)),
    country=st.sampled_from(COUNTRIES),
    area_code=st.one_of(st.none(), st.sampled_from(AREAS)),
    registered_in=st.frozensets(st.sampled_from(COUNTRIES), max_size=2),
)
pools = st.lists(candidates, max_size=6, unique_by=lambda c: c.sid)
recipients = st.builds(
    Recipient,
    country=st.sampled_from(COUNTRIES),
    area_code=st.one_of(st.none(), st.sampled_from(AREAS)),
    short_codes_reachable=st.booleans(),
    alpha=st.sampled_from(("yes", "no", "restricted")),
    alpha_preregistration=st.sampled_from(("required", "no", "unknown")),
)
options = st.builds(
    Options,
    area_code_geomatch=st.booleans(),
    sticky_sender=st.booleans(),
    skip_unregistered_alpha=st.booleans(),
)
waits = st.dictionaries(st.sampled_from([f"S{i}" for i in range(8)]), st.floats(0, 100))


def _eligible(c: Candidate, recipient: Recipient, pool: list[Candidate]) -> bool:
    if c.kind is SenderKind.SHORT_CODE:
        return c.country == recipient.country and recipient.short_codes_reachable
    if c.kind is SenderKind.ALPHANUMERIC:  # not where the pool has a short code (§6.1)
        return recipient.alpha == "yes" and not any(
            o.kind is SenderKind.SHORT_CODE and o.country == recipient.country for o in pool
        )
    return True


@given(pools, recipients, options, waits)
def test_the_sender_is_in_the_pool_and_eligible(
    pool: list[Candidate], recipient: Recipient, opts: Options, wait: dict[str, float]
) -> None:
    decision = choose_sender(
        pool, recipient, queue_waits=wait, options=opts, is_overlay=is_local_area
    )
    if decision.sender is None:
        assert decision.error_code == NO_SENDER_ERROR
        assert not any(
            _eligible(c, recipient, pool)
            for c in pool
            if c.kind is not SenderKind.ALPHANUMERIC or not opts.skip_unregistered_alpha
        )
    else:
        assert decision.sender in pool and _eligible(decision.sender, recipient, pool)
        assert {c.sid for c in pool} - {decision.sender.sid} <= {r.sid for r in decision.rejected}


@given(pools, recipients, options, waits, waits)
def test_repeated_sends_keep_their_sender(
    pool: list[Candidate],
    recipient: Recipient,
    opts: Options,
    first: dict[str, float],
    later: dict[str, float],
) -> None:
    """With the mapping made by the first send, later sends go to the same sender however
    the queues move, until a §6.4 event (here: none) happens."""
    sticky = Options(
        area_code_geomatch=opts.area_code_geomatch,
        sticky_sender=True,
        skip_unregistered_alpha=opts.skip_unregistered_alpha,
    )
    decision = choose_sender(
        pool, recipient, queue_waits=first, options=sticky, is_overlay=is_local_area
    )
    if decision.sender is None:
        return
    again = choose_sender(
        pool,
        recipient,
        sticky=decision.sender.sid,
        queue_waits=later,
        options=sticky,
        is_overlay=is_local_area,
    )
    assert again.sender == decision.sender


def test_one_shortlist_serves_like_recipients() -> None:
    """The router keeps a recipient's shortlist for a batch: each message is still
    chosen on its own mapping and on the queue waits as they are then."""
    pool = (number("LC415a", area="415"), number("LC415b", area="415"), number("LC212", area="212"))
    short = shortlist(pool, US_415, is_overlay=is_local_area)
    first = choose_from(short, queue_waits={"LC415a": 1.0})
    second = choose_from(short, queue_waits={"LC415b": 1.0})
    mapped = choose_from(short, sticky="LC212")
    assert (first.sender and first.sender.sid, second.sender and second.sender.sid) == (
        "LC415b",
        "LC415a",
    )
    assert first.rule is second.rule is Rule.AREA_CODE_GEOMATCH
    assert first.rejected[0] == second.rejected[0]  # the geomatch step, worked out once
    assert mapped.sender is not None and mapped.sender.sid == "LC212"
    assert mapped.rule is Rule.STICKY_SENDER
