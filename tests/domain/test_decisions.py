"""One message's routing through a Messaging Service (reference §6), the MMS Converter
(§12) and the explanation `Routing.json` serves. Laws: a shared shortlist never changes
a decision; an SMS is routed as the routing core rules, an MMS only among the senders
that can send one, the others named."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from herald.domain import service_errors
from herald.domain.carrier import CarrierInfo
from herald.domain.decisions import (
    LISTED,
    addresses_of,
    converted_to_sms,
    converts,
    decide,
    explain,
    given_sender,
    recipient_of,
)
from herald.domain.numbers import is_local_area
from herald.domain.queued import QueuedMessage, message_parts
from herald.domain.routing import (
    NO_SENDER_ERROR,
    Candidate,
    Options,
    Recipient,
    Rejected,
    RoutingDecision,
    Rule,
    choose_sender,
)
from herald.domain.senders import SenderKind
from herald.domain.services import Mapping, PoolEntry, Service
from herald.domain.status import MessageStatus

LC, SC, AL = SenderKind.LONG_CODE, SenderKind.SHORT_CODE, SenderKind.ALPHANUMERIC
AC = "AC" + "1" * 32
MG = "MG" + "2" * 32
SERVICE = Service(sid=MG, account_sid=AC, friendly_name="notifications")
US_415 = Recipient(country="US", area_code="415")
INDIA = Recipient(country="IN", alpha="yes", alpha_preregistration="required")
LINK = "https://p.twil.io/abcdefg"  # Twilio's converter link: 7 characters after the host
NO_MMS = CarrierInfo(
    name="Textless", country="US", supports_short_codes=True, supports_mms=False, is_landline=False
)
TAKES_MMS = CarrierInfo(
    name="Picture Co", country="US", supports_short_codes=True, supports_mms=True, is_landline=False
)


def entry(
    sid: str, *, area: str | None = None, country: str = "US", kind: SenderKind = LC, mms: bool
) -> PoolEntry:
    candidate = Candidate(
        sid=sid, address=f"addr-{sid}", kind=kind, country=country, area_code=area
    )
    return PoolEntry(candidate, mms)


def row(**changes: Any) -> QueuedMessage:
    """A message through the service, its sender not chosen yet."""
    fields: dict[str, Any] = {
        "id": 1,
        "sid": "SM" + "3" * 32,
        "account_sid": AC,
        "messaging_service_sid": MG,
        "from_number": "",
        "to_number": "+14155550111",
        "sender_sid": None,
        "body": "hi",
        "smart_encoded": False,
        "num_segments": 1,
        "num_media": 0,
        "validity_period": None,
        "status_callback": None,
        "status": MessageStatus.ACCEPTED,
        "date_created": 0,
    }
    return QueuedMessage(**{**fields, **changes})


def mapping(sender_sid: str, *, pinned: bool = False) -> Mapping:
    return Mapping(
        service_sid=MG,
        to_number="+14155550111",
        sender_sid=sender_sid,
        pinned=pinned,
        date_created=0,
        date_updated=0,
    )


def route(
    pool: list[PoolEntry],
    message: QueuedMessage,
    recipient: Recipient = US_415,
    *,
    service: Service = SERVICE,
    sticky: Mapping | None = None,
    waits: dict[str, float] | None = None,
    counts: dict[str, int] | None = None,
) -> RoutingDecision:
    return decide(
        service, pool, message, recipient, mapping=sticky, waits=waits or {}, counts=counts or {}
    )


def sid_of(decision: RoutingDecision) -> str | None:
    return decision.sender.sid if decision.sender is not None else None


# -- the recipient ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("to", "carrier", "expected"),
    [
        (
            "+14155550111",
            NO_MMS,
            Recipient(country="US", area_code="415", alpha="no", alpha_preregistration="no"),
        ),
        (
            "+14155550111",
            CarrierInfo(
                name="No SC", country="US", supports_short_codes=False, supports_mms=True,
                is_landline=False,
            ),
            Recipient(country="US", area_code="415", short_codes_reachable=False),
        ),
        ("+14155550111", None, Recipient(country="US", area_code="415")),  # unknown: try
        ("+447400123456", None, Recipient(country="GB", alpha="yes", alpha_preregistration="no")),
        ("+919812345678", None, INDIA),
        ("+38343201234", None, Recipient(country="XK", alpha="no")),  # not in the alpha table
    ],
)  # fmt: skip
def test_the_recipient_is_its_country_area_carrier_and_alpha_rules(
    to: str, carrier: CarrierInfo | None, expected: Recipient
) -> None:
    asked: list[str] = []

    def lookup(e164: str) -> CarrierInfo | None:
        asked.append(e164)
        return carrier

    assert recipient_of(to, lookup) == expected
    assert asked == [to]


# -- deciding through a service ---------------------------------------------------------


def test_a_service_with_an_empty_pool_fails_with_21704() -> None:
    decision = route([], row())
    assert (decision.sender, decision.rule) == (None, Rule.NONE)
    assert decision.error_code == service_errors.ServiceHasNoSenders.code == 21704


def test_an_sms_goes_from_any_sender_mms_capable_or_not() -> None:
    pool = [entry("LC212", area="212", mms=True), entry("LC415", area="415", mms=False)]
    decision = route(pool, row())
    assert (sid_of(decision), decision.rule) == ("LC415", Rule.AREA_CODE_GEOMATCH)
    assert all("MMS" not in r.reason for r in decision.rejected)


def test_an_mms_goes_only_from_an_mms_capable_sender_the_others_rejected() -> None:
    pool = [entry("LC415", area="415", mms=False), entry("LC212", area="212", mms=True)]
    decision = route(pool, row(num_media=1))
    assert sid_of(decision) == "LC212"
    assert decision.rejected_groups[0] == Rejected("cannot send MMS", ("LC415",))


def test_an_mms_with_no_mms_capable_sender_is_routed_nowhere() -> None:
    pool = [entry("LC415", area="415", mms=False), entry("SC1", kind=SC, mms=False)]
    decision = route(pool, row(num_media=2))
    assert (decision.sender, decision.error_code) == (None, NO_SENDER_ERROR)
    assert {(r.sid, r.reason) for r in decision.rejected} == {
        ("LC415", "cannot send MMS"),
        ("SC1", "cannot send MMS"),
    }


def test_the_services_settings_steer_routing() -> None:
    pool = [entry("LC415", area="415", mms=True), entry("LC212", area="212", mms=True)]
    busy_415 = {"LC415": 5.0}
    assert sid_of(route(pool, row(), waits=busy_415)) == "LC415"  # Area Code Geomatch
    no_geomatch = Service(sid=MG, account_sid=AC, friendly_name="s", area_code_geomatch=False)
    decision = route(pool, row(), service=no_geomatch, waits=busy_415)
    assert (sid_of(decision), decision.rule) == ("LC212", Rule.COUNTRY_GEOMATCH)


def test_a_sticky_mapping_holds_unless_the_service_turns_sticky_sender_off() -> None:
    pool = [entry("LC415", area="415", mms=True), entry("LC212", area="212", mms=True)]
    mapped = route(pool, row(), sticky=mapping("LC212"))
    assert (sid_of(mapped), mapped.rule) == ("LC212", Rule.STICKY_SENDER)
    off = Service(sid=MG, account_sid=AC, friendly_name="s", sticky_sender=False)
    assert sid_of(route(pool, row(), service=off, sticky=mapping("LC212"))) == "LC415"


def test_a_pinned_mapping_is_not_remapped_to_a_new_country_sender() -> None:
    pool = [entry("LCUS", area="212", mms=True), entry("LCFR", country="FR", mms=True)]
    france = Recipient(country="FR", alpha="yes")
    assert sid_of(route(pool, row(), france, sticky=mapping("LCUS"))) == "LCFR"
    assert sid_of(route(pool, row(), france, sticky=mapping("LCUS", pinned=True))) == "LCUS"


def test_scaler_prefers_the_sender_with_fewer_mappings() -> None:
    pool = [entry("LC415a", area="415", mms=True), entry("LC415b", area="415", mms=True)]
    decision = route(pool, row(), counts={"LC415a": 9, "LC415b": 2}, waits={"LC415b": 3.0})
    assert sid_of(decision) == "LC415b"


def test_skipping_unregistered_alpha_ids_is_the_services_choice() -> None:
    pool = [entry("ALPHA", country="", kind=AL, mms=False), entry("LCUS", mms=False)]
    assert sid_of(route(pool, row(), INDIA)) == "ALPHA"
    skips = Service(sid=MG, account_sid=AC, friendly_name="s", skip_unregistered_alpha=True)
    assert sid_of(route(pool, row(), INDIA, service=skips)) == "LCUS"


SIDS = [f"S{i}" for i in range(6)]
pool_entries = st.lists(
    st.builds(
        entry,
        st.sampled_from(SIDS),
        area=st.one_of(st.none(), st.sampled_from(("415", "628", "212", "416"))),
        country=st.sampled_from(("US", "CA", "GB", "FR")),
        kind=st.sampled_from(list(SenderKind)),
        mms=st.booleans(),
    ),
    max_size=6,
    unique_by=lambda e: e.candidate.sid,
)
recipients = st.builds(
    Recipient,
    country=st.sampled_from(("US", "CA", "GB", "FR")),
    area_code=st.one_of(st.none(), st.sampled_from(("415", "416"))),
    short_codes_reachable=st.booleans(),
    alpha=st.sampled_from(("yes", "no")),
    alpha_preregistration=st.sampled_from(("required", "no")),
)
services = st.builds(
    Service,
    sid=st.just(MG),
    account_sid=st.just(AC),
    friendly_name=st.just("s"),
    sticky_sender=st.booleans(),
    area_code_geomatch=st.booleans(),
    skip_unregistered_alpha=st.booleans(),
)
mappings = st.one_of(st.none(), st.builds(mapping, st.sampled_from(SIDS), pinned=st.booleans()))
waits = st.dictionaries(st.sampled_from(SIDS), st.floats(0, 100))
counts = st.dictionaries(st.sampled_from(SIDS), st.integers(0, 50))


def test_like_recipients_of_a_batch_share_one_shortlist() -> None:
    pool = [entry("LC1", area="415", mms=True), entry("LC2", area="212", mms=False)]
    shared: dict[Any, Any] = {}
    first = decide(
        SERVICE, pool, row(), US_415, mapping=None, waits={}, counts={}, shortlists=shared
    )
    again = decide(
        SERVICE, pool, row(), US_415, mapping=None, waits={}, counts={}, shortlists=shared
    )
    assert len(shared) == 1 and first == again and sid_of(first) == "LC1"


@settings(max_examples=50, deadline=None)
@given(
    services,
    pool_entries,
    recipients,
    st.integers(0, 3),
    mappings,
    waits,
    counts,
)
def test_an_sms_is_routed_as_the_core_rules_an_mms_among_mms_senders(
    service: Service,
    pool: list[PoolEntry],
    recipient: Recipient,
    num_media: int,
    sticky: Mapping | None,
    wait: dict[str, float],
    count: dict[str, int],
) -> None:
    decision = route(
        pool, row(num_media=num_media), recipient, service=service, sticky=sticky,
        waits=wait, counts=count,
    )  # fmt: skip
    if not pool:
        assert decision.error_code == 21704
        return
    usable = [e.candidate for e in pool if e.mms or not num_media]
    core = choose_sender(
        usable,
        recipient,
        sticky=sticky.sender_sid if sticky else None,
        pinned=sticky.pinned if sticky else False,
        queue_waits=wait,
        mappings=count,
        options=Options(
            area_code_geomatch=service.area_code_geomatch,
            sticky_sender=service.sticky_sender,
            skip_unregistered_alpha=service.skip_unregistered_alpha,
        ),
        is_overlay=is_local_area,
    )
    assert (decision.sender, decision.rule, decision.error_code) == (
        core.sender,
        core.rule,
        core.error_code,
    )
    if num_media and decision.sender is not None:
        assert decision.sender in {e.candidate for e in pool if e.mms}
    cannot = {e.candidate.sid for e in pool if num_media and not e.mms}
    assert {r.sid for r in decision.rejected if r.reason == "cannot send MMS"} == cannot


@settings(max_examples=50, deadline=None)
@given(
    services,
    pool_entries,
    st.lists(st.tuples(recipients, st.integers(0, 1), mappings), min_size=2, max_size=5),
    waits,
    counts,
)
def test_a_shared_shortlist_never_changes_a_decision(
    service: Service,
    pool: list[PoolEntry],
    batch: list[tuple[Recipient, int, Mapping | None]],
    wait: dict[str, float],
    count: dict[str, int],
) -> None:
    shared: dict[Any, Any] = {}
    for recipient, num_media, sticky in batch:
        message = row(num_media=num_media)
        alone = decide(service, pool, message, recipient, mapping=sticky, waits=wait, counts=count)
        batched = decide(
            service, pool, message, recipient, mapping=sticky, waits=wait, counts=count,
            shortlists=shared,
        )  # fmt: skip
        assert batched == alone


# -- a sender named by the request ------------------------------------------------------


@pytest.mark.parametrize(
    ("from_number", "sender_sid", "kind"),
    [
        ("+14155550100", "PN" + "4" * 32, LC),
        ("+18005550100", "PN" + "6" * 32, SenderKind.TOLL_FREE),
        ("12345", "SC" + "5" * 32, SC),
        ("Herald", None, AL),
    ],
)
def test_from_with_a_service_keeps_that_sender(
    from_number: str, sender_sid: str | None, kind: SenderKind
) -> None:
    decision = given_sender(row(from_number=from_number, sender_sid=sender_sid))
    assert decision.sender == Candidate(sid=sender_sid or "", address=from_number, kind=kind)
    assert (decision.rule, decision.candidates) == (Rule.FROM_PARAMETER, 1)
    assert (decision.rejected, decision.error_code) == ((), None)


# -- the MMS Converter (§12) ------------------------------------------------------------


@pytest.mark.parametrize(
    ("service", "carrier", "num_media", "converted"),
    [
        (SERVICE, NO_MMS, 1, True),
        (SERVICE, NO_MMS, 0, False),  # nothing to convert
        (None, NO_MMS, 1, False),  # a direct send has no converter
        (Service(sid=MG, account_sid=AC, friendly_name="s", mms_converter=False), NO_MMS, 1, False),
        (SERVICE, None, 1, False),  # an unknown carrier is sent the MMS
        (SERVICE, TAKES_MMS, 1, False),
    ],
)  # fmt: skip
def test_the_converter_sends_media_as_sms_only_to_a_carrier_without_mms(
    service: Service | None, carrier: CarrierInfo | None, num_media: int, converted: bool
) -> None:
    assert converts(service, carrier, row(num_media=num_media)) is converted


def test_a_converted_mms_is_an_sms_with_the_link_counted_in_segments() -> None:
    mms = row(body="x" * 150, num_media=1, num_segments=1)
    sms = converted_to_sms(mms, LINK)
    assert sms.text == "x" * 150 + "\n" + LINK
    assert not sms.sends_media and sms.num_media == 1
    assert sms.num_segments == 2  # 176 characters: two GSM-7 segments
    parts, encoding = message_parts(sms)
    assert ("".join(parts), encoding) == (sms.text, "GSM-7")


def test_a_converted_body_is_counted_with_its_smart_encoding() -> None:
    sms = converted_to_sms(row(body="“hi” " * 30, smart_encoded=True, num_media=1), LINK)
    assert message_parts(sms)[1] == "GSM-7"
    assert sms.num_segments == 2  # 150 + 26 GSM-7 characters; as UCS-2 it would be 3


@settings(max_examples=50)
@given(st.text(max_size=400), st.booleans(), st.integers(1, 10))
def test_the_segments_counted_are_the_segments_sent(body: str, smart: bool, media: int) -> None:
    sms = converted_to_sms(row(body=body, smart_encoded=smart, num_media=media), LINK)
    assert sms.num_segments == len(message_parts(sms)[0])
    assert sms.text.endswith("\n" + LINK)


# -- the explanation --------------------------------------------------------------------


def test_addresses_are_by_sid() -> None:
    pool = [entry("A", mms=True), entry("B", mms=False)]
    assert addresses_of(pool) == {"A": "addr-A", "B": "addr-B"}
    assert addresses_of([]) == {}


def test_a_decision_explained() -> None:
    pool = [entry("LC415", area="415", mms=True), entry("LC212", area="212", mms=False)]
    decision = route(pool, row(num_media=1))
    explained = explain(decision, addresses_of(pool), US_415, SERVICE, carrier="Picture Co")
    assert explained == {
        "rule": "area_code_geomatch",
        "sender": {"sid": "LC415", "address": "addr-LC415", "type": "long_code"},
        "rerouted": False,
        "alert_code": None,
        "error_code": None,
        "candidates": 1,
        "health": None,
        "pool_size": 2,
        "rejected": [{"sid": "LC212", "address": "addr-LC212", "reason": "cannot send MMS"}],
        "rejected_total": 1,
        "rejected_by_reason": [{"reason": "cannot send MMS", "count": 1}],
        "recipient": {
            "country": "US",
            "area_code": "415",
            "carrier": "Picture Co",
            "carrier_takes_short_codes": True,
            "alphanumeric_sender_ids": "no",
        },
        "settings": {
            "sticky_sender": True,
            "area_code_geomatch": True,
            "skip_unregistered_alpha": False,
        },
    }


def test_no_sender_and_no_service_explained() -> None:
    explained = explain(route([], row()), {}, US_415, None, carrier=None)
    assert (explained["rule"], explained["sender"], explained["error_code"]) == (
        "none",
        None,
        21704,
    )
    assert explained["settings"] is None
    assert (explained["rejected"], explained["rejected_total"], explained["pool_size"]) == (
        [],
        0,
        0,
    )


def test_a_big_pool_names_the_first_twenty_rejected_rarer_reasons_first() -> None:
    common = tuple(f"LC{i}" for i in range(30))
    decision = RoutingDecision(
        sender=None,
        rule=Rule.NONE,
        rejected_groups=(
            Rejected("not from the recipient's country", common),
            Rejected("cannot send MMS", ("MMS1", "MMS2")),
            Rejected("not from the recipient's country", ("LCX",)),
        ),
    )
    addresses = {sid: f"+1{sid}" for sid in (*common, "MMS1")}
    explained = explain(decision, addresses, US_415, SERVICE, carrier=None)
    listed: Any = explained["rejected"]
    assert len(listed) == LISTED == 20
    assert [r["sid"] for r in listed[:4]] == ["LCX", "MMS1", "MMS2", "LC0"]
    assert listed[2] == {"sid": "MMS2", "address": None, "reason": "cannot send MMS"}
    assert explained["rejected_total"] == 33
    assert explained["rejected_by_reason"] == [
        {"reason": "not from the recipient's country", "count": 31},
        {"reason": "cannot send MMS", "count": 2},
    ]


reasons = st.sampled_from(("a", "b", "c"))
groups = st.lists(st.tuples(reasons, st.integers(1, 15)), max_size=6)


@settings(max_examples=50)
@given(groups)
def test_every_rejection_is_counted_and_at_most_twenty_named(raw: list[tuple[str, int]]) -> None:
    decision = RoutingDecision(
        sender=None,
        rule=Rule.NONE,
        rejected_groups=tuple(
            Rejected(reason, tuple(f"S{n}-{i}" for i in range(size)))
            for n, (reason, size) in enumerate(raw)
        ),
    )
    explained = explain(decision, {}, US_415, None, carrier=None)
    total = sum(size for _, size in raw)
    listed: Any = explained["rejected"]
    by_reason: Any = explained["rejected_by_reason"]
    assert explained["rejected_total"] == total
    assert len(listed) == min(total, LISTED)
    assert sum(r["count"] for r in by_reason) == total
    assert len({r["reason"] for r in by_reason}) == len(by_reason)
    assert {(r["sid"], r["reason"]) for r in listed} <= {
        (r.sid, r.reason) for r in decision.rejected
    }
    json.dumps(explained)  # Routing.json serves it as it is
