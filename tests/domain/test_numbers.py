"""herald.domain.numbers: parsing and validating numbers, NANP overlays, sender-ID shapes."""

from __future__ import annotations

import dataclasses

import phonenumbers
import pytest
from hypothesis import given
from hypothesis import strategies as st

from herald.domain.nanp_table import AREA_CODES
from herald.domain.numbers import (
    NumberError,
    NumberType,
    PhoneNumber,
    alpha_support,
    area_code_of,
    country_of,
    friendly_format,
    has_short_codes,
    is_alphanumeric_sender_id,
    is_local_area,
    is_short_code,
    nanp_country,
    overlay_codes,
    parse_number,
    short_code_default_mps,
)

LOCAL, MOBILE, TOLL_FREE = NumberType.LOCAL, NumberType.MOBILE, NumberType.TOLL_FREE

# raw, e164, country, area code, type
VALID = [
    ("+14155551234", "+14155551234", "US", "415", LOCAL),
    ("+14165551234", "+14165551234", "CA", "416", LOCAL),
    ("+17875551234", "+17875551234", "PR", "787", LOCAL),
    ("+18762345678", "+18762345678", "JM", "876", MOBILE),
    ("+18005551234", "+18005551234", "US", "800", TOLL_FREE),
    ("+18335551234", "+18335551234", "US", "833", TOLL_FREE),
    ("+18885551234", "+18885551234", "US", "888", TOLL_FREE),
    ("+447400123456", "+447400123456", "GB", None, MOBILE),
    ("+44 20 7946 0958", "+442079460958", "GB", None, LOCAL),
    ("+44 800 123 4567", "+448001234567", "GB", None, TOLL_FREE),
    ("+44 56 1234 5678", "+445612345678", "GB", None, LOCAL),  # VoIP: no Herald type of its own
    ("+49 1512 3456789", "+4915123456789", "DE", None, MOBILE),
    ("+49 30 123456", "+4930123456", "DE", None, LOCAL),
    ("+33 6 12 34 56 78", "+33612345678", "FR", None, MOBILE),
    ("+61 412 345 678", "+61412345678", "AU", None, MOBILE),
    ("+91 81234 56789", "+918123456789", "IN", None, MOBILE),
    ("+55 11 96123-4567", "+5511961234567", "BR", None, MOBILE),
    ("+52 222 123 4567", "+522221234567", "MX", None, LOCAL),  # fixed-line-or-mobile
]


@pytest.mark.parametrize(("raw", "e164", "country", "area_code", "number_type"), VALID)
def test_valid_numbers(
    raw: str, e164: str, country: str, area_code: str | None, number_type: NumberType
) -> None:
    number = parse_number(raw)
    assert number.e164 == e164
    assert number.country == country
    assert number.country_code == int(phonenumbers.parse(e164).country_code or 0)
    assert e164 == f"+{number.country_code}{number.national_number}"
    assert number.area_code == area_code == area_code_of(number)
    assert number.number_type is number_type


@pytest.mark.parametrize("area_code", ["357", "679", "436"])
def test_new_nanp_code_in_service_is_accepted_though_phonenumbers_rejects_it(
    area_code: str,
) -> None:
    e164 = f"+1{area_code}5551234"
    assert AREA_CODES[area_code][4] == "in_service"
    assert not phonenumbers.is_valid_number(phonenumbers.parse(e164))
    number = parse_number(e164)
    assert (number.country, number.area_code, number.number_type) == ("US", area_code, LOCAL)


# raw, default region, words the error must contain
INVALID = [
    ("+15005550006", None, "area code 500 is non_geographic_5xx"),  # Twilio magic: caller's job
    ("+19005551234", None, "premium_900"),
    ("+17005551234", None, "interexchange_carrier"),
    ("+16005551234", None, "canadian_non_geographic"),
    ("+15655551234", None, "area code 565 is assigned, not yet in service"),
    ("+17615551234", None, "761 is assigned"),
    ("+14715551234", None, "471 is scheduled"),
    ("+15555551234", None, "555 is not an assigned NANP area code"),
    ("+1 415 555 123", None, "+1 takes 10 digits"),
    ("+1 415 555 12345", None, "+1 takes 10 digits"),
    ("+1 415 055 1234", None, "exchange (2-9 first)"),
    ("+1 115 555 1234", None, "exchange (2-9 first)"),
    ("+447700900123", None, "not a valid number for country code +44"),  # Ofcom drama range
    ("+4930", None, "not a valid number for country code +49"),
    ("+800 1234 5678", None, "belongs to no country"),
    ("+999 1234 5678", None, "unknown country calling code"),
    ("+44 1", None, "too short"),
    ("+44 1234567890123456789", None, "too long"),
    ("011 1", "US", "too short after the international prefix"),
    ("+()", None, "is not a phone number"),
    ("+1415555ABCD", None, "use digits"),
    ("1-800-FLOWERS", "US", "use digits"),  # phonenumbers would read the letters as digits
    ("+1 415 555 1234 ext 5", None, "use digits"),
    ("1+4155551234", "US", "use digits"),
    ("++14155551234", None, "use digits"),
    ("+1４１５５５５１２３４", None, "use digits"),  # fullwidth digits
    ("", None, "use digits"),
    ("   ", None, "use digits"),
    ("4155551234", None, "no leading '+'"),
    ("4155551234", "XX", "'XX' is not a known country"),
    ("+1" + "4" * 80, None, "too long to be a phone number"),
]


@pytest.mark.parametrize(("raw", "region", "message"), INVALID)
def test_invalid_numbers(raw: str, region: str | None, message: str) -> None:
    with pytest.raises(NumberError) as excinfo:
        parse_number(raw, default_region=region)
    assert message in str(excinfo.value)


def test_failures_are_cached_and_raise_every_time() -> None:
    for _ in range(2):
        with pytest.raises(NumberError, match="not a NANP number"):
            parse_number("+1 415 555 123")


def test_number_error_is_a_value_error() -> None:
    assert issubclass(NumberError, ValueError)


@pytest.mark.parametrize(
    "raw",
    [
        "+14155551234",
        "+1 415 555 1234",
        "+1 (415) 555-1234",
        "+1-415-555-1234",
        "+1.415.555.1234",
        "+1/415/555/1234",
        "  +1 (415) 555 1234  ",
        "+1 415-5551234",
    ],
)
def test_formatting_variants_normalise_to_one_e164(raw: str) -> None:
    assert parse_number(raw) == parse_number("+14155551234")


@pytest.mark.parametrize(
    ("raw", "region", "e164", "country"),
    [
        ("(415) 555-1234", "US", "+14155551234", "US"),
        ("415.555.1234", "us", "+14155551234", "US"),
        ("1 415 555 1234", "US", "+14155551234", "US"),
        ("1 (415) 555-1234", "CA", "+14155551234", "US"),  # the area code decides
        ("(416) 555-1234", "US", "+14165551234", "CA"),
        ("787 555 1234", "PR", "+17875551234", "PR"),
        ("020 7946 0958", "GB", "+442079460958", "GB"),
        ("0044 20 7946 0958", "GB", "+442079460958", "GB"),
        ("+44 (0) 20 7946 0958", "US", "+442079460958", "GB"),  # '+' wins over the region
        ("06 12 34 56 78", "FR", "+33612345678", "FR"),
    ],
)
def test_default_region_reads_national_numbers(
    raw: str, region: str, e164: str, country: str
) -> None:
    number = parse_number(raw, default_region=region)
    assert (number.e164, number.country) == (e164, country)


def test_parse_is_cached() -> None:
    assert parse_number("+1 (212) 555-0100") is parse_number("+1 (212) 555-0100")


def test_phone_number_is_a_frozen_slotted_value() -> None:
    number = parse_number("+14155551234")
    with pytest.raises(dataclasses.FrozenInstanceError):
        number.e164 = "+14155550000"  # type: ignore[misc]
    assert not hasattr(number, "__dict__")
    with pytest.raises(TypeError):
        PhoneNumber("+14155551234", "US", 1, "4155551234", "415", LOCAL)  # type: ignore[call-arg]


def test_number_type_values_are_twilio_wire_strings() -> None:
    assert [t.value for t in NumberType] == ["local", "mobile", "toll-free"]


@pytest.mark.parametrize(
    ("raw", "friendly"),
    [
        ("+14155551234", "(415) 555-1234"),
        ("+14165551234", "(416) 555-1234"),
        ("+17875551234", "(787) 555-1234"),
        ("+18005551234", "(800) 555-1234"),
        ("+13575551234", "(357) 555-1234"),
        ("+442079460958", "+44 20 7946 0958"),
        ("+447400123456", "+44 7400 123456"),
        ("+33612345678", "+33 6 12 34 56 78"),
    ],
)
def test_friendly_format(raw: str, friendly: str) -> None:
    assert friendly_format(parse_number(raw)) == friendly


# --- NANP overlays ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("area_code", "expected"),
    [
        ("212", {"332", "646", "917"}),
        ("718", {"347", "465", "917", "929"}),
        ("917", {"212", "332", "646", "347", "465", "718", "929"}),
        ("415", {"628"}),
        ("213", {"323", "738"}),
        ("207", set()),
        ("999", set()),
        ("800", set()),
    ],
)
def test_overlay_codes(area_code: str, expected: set[str]) -> None:
    assert overlay_codes(area_code) == expected


@pytest.mark.parametrize(
    ("sender", "recipient", "local"),
    [
        ("212", "212", True),
        ("212", "646", True),
        ("646", "332", True),
        ("212", "917", True),
        ("718", "917", True),
        ("917", "718", True),
        ("917", "212", True),
        ("212", "718", False),
        ("415", "628", True),
        ("628", "415", True),
        ("213", "310", False),
        ("310", "424", True),
        ("416", "647", True),
        ("416", "212", False),
    ],
)
def test_is_local_area(sender: str, recipient: str, local: bool) -> None:
    assert is_local_area(sender, recipient) is local


@given(st.sampled_from(sorted(AREA_CODES)), st.sampled_from(sorted(AREA_CODES)))
def test_is_local_area_is_symmetric(a: str, b: str) -> None:
    assert is_local_area(a, b) == is_local_area(b, a)


@pytest.mark.parametrize(
    ("area_code", "country"),
    [("415", "US"), ("416", "CA"), ("787", "PR"), ("876", "JM"), ("800", None), ("999", None)],
)
def test_nanp_country(area_code: str, country: str | None) -> None:
    assert nanp_country(area_code) == country


_IN_SERVICE = sorted(code for code, row in AREA_CODES.items() if row[4] == "in_service")


@given(
    st.sampled_from(_IN_SERVICE),
    st.integers(min_value=200, max_value=999),
    st.integers(min_value=0, max_value=9999),
)
def test_every_in_service_code_parses_and_round_trips(area: str, exchange: int, line: int) -> None:
    e164 = f"+1{area}{exchange}{line:04d}"
    number = parse_number(e164)
    assert number.e164 == e164
    assert (number.area_code, number.country) == (area, nanp_country(area))
    assert parse_number(friendly_format(number), default_region="US") == number


@given(st.text(alphabet="0123456789+ ()-./#aZ", max_size=24) | st.text(max_size=24))
def test_parse_fails_only_with_number_error(raw: str) -> None:
    try:
        number = parse_number(raw, default_region="US")
    except NumberError as exc:
        assert str(exc)
    else:
        assert parse_number(number.e164) == number


# --- sender IDs ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("123", True),
        ("12345", True),
        ("123456", True),
        ("12345678", True),
        ("12", False),
        ("123456789", False),
        ("+12345", False),
        ("12 345", False),
        ("12a45", False),
        ("１２３４５", False),  # fullwidth digits
        ("12345\n", False),
        ("", False),
    ],
)
def test_is_short_code(raw: str, expected: bool) -> None:
    assert is_short_code(raw) is expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Herald", True),
        ("H", True),
        ("MyShop 24", True),
        ("A-B+C_D&E", True),
        ("ABCDEFGHIJK", True),
        ("2FA Code", True),
        ("ABCDEFGHIJKL", False),  # 12 characters
        ("12345", False),  # digits only
        ("+-_& 1", False),  # no letter
        ("", False),
        ("Hi!", False),
        ("Héllo", False),
        ("Herald\n", False),
    ],
)
def test_is_alphanumeric_sender_id(raw: str, expected: bool) -> None:
    assert is_alphanumeric_sender_id(raw) is expected


@given(st.text(max_size=12))
def test_short_code_and_alpha_sender_never_overlap(raw: str) -> None:
    assert not (is_short_code(raw) and is_alphanumeric_sender_id(raw))


@pytest.mark.parametrize(
    ("country", "support"),
    [
        ("US", ("no", "no")),
        ("CA", ("no", "no")),
        ("PR", ("no", "no")),
        ("GB", ("yes", "no")),
        ("gb", ("yes", "no")),
        ("AE", ("yes", "required")),
        ("XX", None),
    ],
)
def test_alpha_support(country: str, support: tuple[str, str] | None) -> None:
    assert alpha_support(country) == support


@pytest.mark.parametrize(
    ("country", "available", "mps"),
    [
        ("US", True, 100),
        ("CA", True, 100),
        ("GB", True, 100),
        ("BR", True, 150),
        ("br", True, 150),
        ("AR", True, None),
        ("JP", False, None),
        ("PR", False, None),
    ],
)
def test_short_code_countries(country: str, available: bool, mps: int | None) -> None:
    assert has_short_codes(country) is available
    assert short_code_default_mps(country) == mps


def test_the_us_ca_fast_path_agrees_with_phonenumbers() -> None:
    """Canonical US/CA numbers skip phonenumbers; the slow path must give the same value."""
    from herald.domain import numbers as n
    from herald.domain.nanp_table import AREA_CODES

    for code, row in sorted(AREA_CODES.items()):
        if row[0] not in ("US", "CA") or row[4] != "in_service":
            continue
        e164 = f"+1{code}5550123"
        fast = n._nanp_e164(e164)
        slow = n._nanp_number(phonenumbers.parse(e164, None))
        assert fast == slow, code
        assert n.parse_number(f"+1 ({code}) 555-0123") == fast


def test_country_of_a_number_or_none() -> None:
    assert country_of("+14155550100") == "US"
    assert country_of("+447400123456") == "GB"
    assert country_of("12345") is None
    assert country_of("Herald") is None
