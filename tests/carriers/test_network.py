"""The simulated network's rules: tables, carrier choice, line type, fates, prices, capacity."""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import replace

import pytest

from herald.carriers import network
from herald.carriers.network import (
    DELIVERED,
    Fate,
    Lognormal,
    Outcome,
    SlidingWindow,
    carrier_message_id,
    decide_fate,
    lookup_carrier,
    price_of,
    refusal_code,
)
from herald.carriers.sim_tables import CARRIERS, GENERIC_CARRIER_NAME, MOBILE_RANGES
from herald.domain.carrier import CarrierInfo
from herald.domain.numbers import has_short_codes
from herald.domain.senders import SenderKind

COUNTRIES = ["US", "CA", "GB", "DE", "FR", "AU", "IN", "BR", "MX"]


def us_numbers(count: int) -> list[str]:
    """Distinct US numbers clear of the test suffixes, the 99xx landlines and 555-01xx."""
    return [f"+1415{200 + i // 2_000:03d}{1_000 + i % 2_000:04d}" for i in range(count)]


def info_of(e164: str) -> CarrierInfo:
    info = lookup_carrier(e164)
    assert info is not None, e164
    return info


def fate(e164: str, *, seed: int = 0, failure_rate: float = 0.02) -> Fate:
    return decide_fate(
        e164, is_landline=info_of(e164).is_landline, seed=seed, failure_rate=failure_rate
    )


def test_every_required_country_has_several_carriers_whose_shares_add_up() -> None:
    for country in COUNTRIES:
        carriers = CARRIERS[country]
        assert len(carriers) >= 2, country
        assert sum(c.share for c in carriers) == 100, country
        assert len({c.name for c in carriers}) == len(carriers)


def test_us_has_a_carrier_without_short_codes_and_one_without_mms() -> None:
    us = CARRIERS["US"]
    assert any(not c.supports_short_codes for c in us)
    assert any(not c.supports_mms for c in us)
    assert us[0].supports_short_codes and us[0].supports_mms


def test_flags_follow_twilio_mms_and_short_code_countries() -> None:
    for country, carriers in CARRIERS.items():
        for carrier in carriers:
            assert not carrier.supports_mms or country in {"US", "CA"}
            assert not carrier.supports_short_codes or has_short_codes(country)


def test_lookup_is_deterministic_and_per_thousand_block() -> None:
    info = info_of("+14155551234")
    assert info.country == "US"
    lookup_carrier.cache_clear()
    assert lookup_carrier("+14155551234") == info
    assert info_of("+14155551299").name == info.name


def test_carriers_get_about_their_market_share() -> None:
    counts = Counter(
        info_of(f"+1212{n:03d}{b}555").name for n in range(200, 1000) for b in range(10)
    )
    for carrier in CARRIERS["US"]:
        assert abs(counts[carrier.name] / 8000 - carrier.share / 100) < 0.03, carrier.name


def test_other_countries_get_the_generic_carrier() -> None:
    info = info_of("+81312345678")
    assert (info.name, info.country, info.supports_mms) == (GENERIC_CARRIER_NAME, "JP", False)
    assert info_of("+34612345678").supports_short_codes


@pytest.mark.parametrize("text", ["+15551234567", "not a number", "12345", "+1415555"])
def test_lookup_of_a_number_herald_cannot_message_is_none(text: str) -> None:
    assert lookup_carrier(text) is None


@pytest.mark.parametrize(
    ("suffix", "code"),
    [
        ("3003", 30003),
        ("3004", 30004),
        ("3005", 30005),
        ("3006", 30006),
        ("3007", 30007),
        ("3008", 30008),
    ],
)
@pytest.mark.parametrize("prefix", ["+1415555", "+1613555", "+44740012", "+3361234"])
def test_test_numbers_give_their_codes_in_any_country(prefix: str, suffix: str, code: int) -> None:
    assert fate(prefix + suffix, failure_rate=1.0) == Fate(Outcome.UNDELIVERED, code)


def test_test_number_3000_is_accepted_but_never_reported() -> None:
    assert fate("+14155553000") == Fate(Outcome.NO_RECEIPT)
    assert not Fate(Outcome.NO_RECEIPT).has_receipt


@pytest.mark.parametrize(
    "e164",
    [
        "+14155559901",
        "+16135559999",
        "+14155553006",
        "+442071234567",
        "+493012345678",
        "+33123456789",
        "+61212345678",
        "+551123456789",
    ],
)
def test_landlines_are_undelivered_with_30006(e164: str) -> None:
    assert info_of(e164).is_landline
    assert fate(e164) == Fate(Outcome.UNDELIVERED, 30006)


@pytest.mark.parametrize(
    "e164", ["+447400123456", "+4915112345678", "+33612345678", "+61412345678", "+5511912345678"]
)
def test_mobile_ranges_are_not_landlines(e164: str) -> None:
    assert not info_of(e164).is_landline
    assert info_of(e164).country in MOBILE_RANGES


def test_a_small_stable_share_of_other_us_numbers_are_landlines() -> None:
    numbers = us_numbers(20_000)
    share = sum(info_of(n).is_landline for n in numbers) / len(numbers)
    assert 0.005 < share < 0.015


def test_fictional_numbers_are_always_delivered_on_the_main_carrier() -> None:
    for line in range(100, 200):
        e164 = f"+1212555{line:04d}"
        assert fate(e164, failure_rate=1.0) == DELIVERED
        assert info_of(e164).name == CARRIERS["US"][0].name


def test_the_failure_share_is_about_the_configured_rate_with_a_realistic_mix() -> None:
    numbers = [n for n in us_numbers(20_000) if not info_of(n).is_landline]
    failures = [f for n in numbers if (f := fate(n, failure_rate=0.05)) != DELIVERED]
    assert 0.04 < len(failures) / len(numbers) < 0.06
    codes = Counter(f.error_code for f in failures)
    assert set(codes) == {30003, 30004, 30005, 30007, 30008}
    assert codes.most_common(1)[0][0] == 30003
    assert all(f.outcome is Outcome.UNDELIVERED for f in failures)


def test_outcomes_are_a_pure_function_of_seed_and_recipient() -> None:
    numbers = us_numbers(5_000)
    first = [fate(n, seed=7) for n in numbers]
    decide_fate.cache_clear()
    assert [fate(n, seed=7) for n in numbers] == first
    assert [fate(n, seed=8) for n in numbers] != first
    mobiles = [n for n in numbers if not info_of(n).is_landline]
    assert all(fate(n, failure_rate=0.0) == DELIVERED for n in mobiles)


def test_refusals_for_mms_and_short_codes() -> None:
    info = info_of("+14155550100")
    no_mms = replace(info, supports_mms=False)
    no_sc = replace(info, supports_short_codes=False)
    assert refusal_code(info, sender_kind=SenderKind.SHORT_CODE, has_media=True) is None
    assert refusal_code(no_mms, sender_kind=SenderKind.LONG_CODE, has_media=True) == 30011
    assert refusal_code(no_mms, sender_kind=SenderKind.LONG_CODE, has_media=False) is None
    assert refusal_code(no_sc, sender_kind=SenderKind.SHORT_CODE, has_media=False) == 21612
    assert refusal_code(no_sc, sender_kind=SenderKind.TOLL_FREE, has_media=False) is None


@pytest.mark.parametrize(
    ("country", "sms"),
    [
        ("US", "0.00790"),
        ("CA", "0.00790"),
        ("GB", "0.04000"),
        ("DE", "0.08500"),
        ("FR", "0.07500"),
        ("AU", "0.05150"),
        ("IN", "0.00830"),
        ("BR", "0.05000"),
        ("MX", "0.03000"),
        ("JP", "0.05000"),
    ],
)
def test_prices_per_segment_have_five_decimals(country: str, sms: str) -> None:
    assert price_of(country, is_mms=False) == sms
    assert price_of(country, is_mms=True) == "0.02000"


def test_carrier_message_ids_follow_the_reference() -> None:
    assert carrier_message_id("SMa/1") == carrier_message_id("SMa/1")
    assert carrier_message_id("SMa/1") != carrier_message_id("SMa/2")


def test_sliding_window_admits_capacity_per_second_then_says_when() -> None:
    window = SlidingWindow(5)
    assert [window.admit(0) for _ in range(5)] == [None] * 5
    assert window.admit(0) == 1.0
    assert window.admit(400_000) == pytest.approx(0.6)
    assert window.admit(1_000_000) is None


def test_latency_draws_stay_in_their_range() -> None:
    rng = random.Random(0)
    acks = [network.ACK_LATENCY.draw(rng) for _ in range(2000)]
    receipts = [network.RECEIPT_LATENCY.draw(rng) for _ in range(2000)]
    assert 0.05 < sorted(acks)[1000] < 0.12 and max(acks) <= 1.0
    assert 2.0 < sorted(receipts)[1000] < 4.0 and max(receipts) <= 60.0
    assert Lognormal(median_s=1.0, sigma=0.1, max_s=0.5).draw(rng) == 0.5
