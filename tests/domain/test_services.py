"""Messaging Service values and the checks on what may configure a service or join its pool."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from herald.domain import errors, service_errors
from herald.domain.services import (
    MAX_POOL,
    USECASES,
    PoolKind,
    PoolMember,
    PoolSender,
    Service,
    capability_names,
    check_alpha_sender,
    check_can_join,
    check_countries,
    check_friendly_name,
    check_usecase,
    check_validity_period,
    join_countries,
    split_countries,
)

MG = "MG" + "1" * 32
OTHER = "MG" + "2" * 32


def test_service_defaults_are_twilio_and_console_ones() -> None:
    service = Service(sid=MG, account_sid="AC" + "0" * 32, friendly_name="s")
    assert (service.inbound_method, service.fallback_method) == ("POST", "POST")
    assert service.validity_period == 36_000
    assert service.scan_message_content == "inherit"
    assert service.usecase == "undeclared"
    assert service.sticky_sender and service.area_code_geomatch
    assert service.mms_converter and service.smart_encoding
    assert not service.skip_unregistered_alpha
    assert service.inbound_request_url is None


def test_pool_kinds_are_the_stored_strings() -> None:
    assert [kind.value for kind in PoolKind] == ["phone_number", "short_code", "alpha_sender"]
    sender = PoolSender(
        sid="AI" + "0" * 32, account_sid="AC", service_sid=MG, kind=PoolKind.ALPHA_SENDER
    )
    member = PoolMember(sender=sender, address="Herald", country="", capabilities=("SMS",))
    assert member.sender.registered_in == frozenset()


@pytest.mark.parametrize("usecase", USECASES)
def test_every_usecase_is_accepted(usecase: str) -> None:
    assert check_usecase(usecase) == usecase


@pytest.mark.parametrize("usecase", ["", "Marketing", "spam"])
def test_other_usecases_are_21713(usecase: str) -> None:
    with pytest.raises(service_errors.InvalidUsecase) as caught:
        check_usecase(usecase)
    assert (caught.value.code, caught.value.status) == (21713, 400)


@pytest.mark.parametrize("alpha", ["Herald", "A", "My Shop-1", "a+b_c&d", "X2345678901"])
def test_alpha_sender_ids_allowed(alpha: str) -> None:
    assert check_alpha_sender(alpha) == alpha


@pytest.mark.parametrize("alpha", ["", "123456", "TwelveLetter", "Héra", "a.b", "Her ald!"])
def test_alpha_sender_ids_refused_with_21709(alpha: str) -> None:
    with pytest.raises(service_errors.AlphaSenderInvalid) as caught:
        check_alpha_sender(alpha)
    assert caught.value.code == 21709


def test_countries_split_on_commas_and_upper_cased() -> None:
    assert check_countries(["gb,FR", " de ", "", "GB,"]) == {"GB", "FR", "DE"}
    assert check_countries([]) == frozenset()


@pytest.mark.parametrize("bad", ["GBR", "1A", "G", "ÉÉ", "G-"])
def test_countries_refused_with_20001(bad: str) -> None:
    with pytest.raises(errors.InvalidParameter) as caught:
        check_countries([f"FR,{bad}"])
    assert repr(bad) in caught.value.message


def test_countries_beyond_every_country_are_refused() -> None:
    """Every two-letter code, 676 of them, would not fit the 1,024 characters stored."""
    codes = [a + b for a in "ABCDEFGHIJKLMNOPQRSTUVWXYZ" for b in "ABCDEFGHIJKLMNOPQRSTUVWXYZ"]
    assert len(join_countries(check_countries([",".join(codes[:250])]))) <= 1024
    with pytest.raises(errors.InvalidParameter):
        check_countries(codes)


def test_countries_stored_sorted_and_read_back() -> None:
    assert join_countries(frozenset({"GB", "DE", "FR"})) == "DE,FR,GB"
    assert join_countries(frozenset()) == ""
    assert split_countries("DE,FR,GB") == {"DE", "FR", "GB"}
    assert split_countries("") == frozenset()


@given(st.frozensets(st.sampled_from(["GB", "FR", "DE", "ES", "IT", "NL"])))
def test_countries_round_trip(countries: frozenset[str]) -> None:
    assert split_countries(join_countries(countries)) == countries


@pytest.mark.parametrize("name", ["x", "My Service!", "n" * 64])
def test_friendly_names_allowed(name: str) -> None:
    assert check_friendly_name(name) == name


@pytest.mark.parametrize(
    ("name", "says"),
    [(None, "required"), ("", "required"), ("  ", "required"), ("n" * 65, "64"), ("a\x00", "NUL")],
)
def test_friendly_names_refused_with_20001(name: str | None, says: str) -> None:
    with pytest.raises(errors.InvalidParameter) as caught:
        check_friendly_name(name)
    assert caught.value.code == 20001
    assert says in caught.value.message


@pytest.mark.parametrize("seconds", [1, 600, 36_000])
def test_validity_periods_allowed(seconds: int) -> None:
    assert check_validity_period(seconds) == seconds


@pytest.mark.parametrize("seconds", [0, -1, 36_001])
def test_validity_periods_refused_with_20001(seconds: int) -> None:
    with pytest.raises(errors.InvalidParameter, match="ValidityPeriod"):
        check_validity_period(seconds)


def test_a_free_capable_sender_joins_a_pool_with_room() -> None:
    check_can_join(MG, member_of=None, can_send=True, pool_size=MAX_POOL - 1)


@pytest.mark.parametrize(
    ("member_of", "can_send", "pool_size", "code"),
    [
        (MG, True, 0, 21710),
        (MG, False, MAX_POOL, 21710),  # already here is said first
        (OTHER, True, 0, 21712),
        (OTHER, False, MAX_POOL, 21712),
        (None, False, 0, 21715),
        (None, False, MAX_POOL, 21715),
        (None, True, MAX_POOL, 21714),
        (None, True, MAX_POOL + 3, 21714),
    ],
)
def test_senders_refused_from_a_pool(
    member_of: str | None, can_send: bool, pool_size: int, code: int
) -> None:
    with pytest.raises(errors.TwilioError) as caught:
        check_can_join(MG, member_of=member_of, can_send=can_send, pool_size=pool_size)
    assert (caught.value.code, caught.value.status) == (code, 400)


@pytest.mark.parametrize(
    ("flags", "names"),
    [
        ({"sms": True, "mms": True, "voice": True}, ["MMS", "SMS", "Voice"]),
        ({"sms": True, "mms": False}, ["SMS"]),
        ({"sms": False, "mms": True}, ["MMS"]),
        ({"sms": False, "mms": False, "voice": False}, []),
        ({"sms": False, "mms": False, "voice": True}, ["Voice"]),
    ],
)
def test_capability_names(flags: dict[str, bool], names: list[str]) -> None:
    assert capability_names(**flags) == names
