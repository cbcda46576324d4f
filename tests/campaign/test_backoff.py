"""Retry delays: full jitter between the campaign's minimum and a ceiling that doubles per
failed attempt up to the maximum, never sooner than `Retry-After` (capped), whatever the
attempt number."""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from email.utils import format_datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from herald.campaign.backoff import MAX_DOUBLINGS, MAX_RETRY_AFTER_S, delay_s, retry_after_of

SECONDS = st.floats(min_value=0, max_value=600, allow_nan=False)
ATTEMPTS = st.integers(min_value=1, max_value=100_000)


def _lowest(low: float, high: float) -> float:
    return low


def _highest(low: float, high: float) -> float:
    return high


@given(ATTEMPTS, SECONDS, SECONDS, st.randoms(use_true_random=False))
def test_delay_stays_between_min_and_max(
    attempt: int, a: float, b: float, rng: random.Random
) -> None:
    low, high = min(a, b), max(a, b)
    assert low <= delay_s(attempt, low, high, None, rng.uniform) <= high


@given(ATTEMPTS, SECONDS, SECONDS, SECONDS, st.randoms(use_true_random=False))
def test_retry_after_is_a_floor_up_to_the_cap(
    attempt: int, a: float, b: float, retry_after: float, rng: random.Random
) -> None:
    low, high = min(a, b), max(a, b)
    waited = delay_s(attempt, low, high, retry_after, rng.uniform)
    floor = min(retry_after, MAX_RETRY_AFTER_S)
    assert max(low, floor) <= waited <= max(high, floor)


@given(ATTEMPTS, SECONDS, SECONDS)
def test_the_ceiling_doubles_per_attempt_up_to_the_max(attempt: int, a: float, b: float) -> None:
    low, high = min(a, b), max(a, b)
    ceiling = delay_s(attempt, low, high, None, _highest)
    assert delay_s(attempt, low, high, None, _lowest) == low
    if low > 0:
        assert ceiling == min(high, low * 2.0 ** min(attempt - 1, MAX_DOUBLINGS))
    else:
        assert ceiling == high  # no minimum: jitter over the whole range at once


def test_the_ceiling_sequence() -> None:
    assert [delay_s(n, 2, 20, None, _highest) for n in range(1, 7)] == [2, 4, 8, 16, 20, 20]
    assert delay_s(10_000, 2, 20, None, _highest) == 20


def test_full_jitter_spreads_over_the_range() -> None:
    rng = random.Random(4)
    waits = [delay_s(8, 1.0, 10.0, None, rng.uniform) for _ in range(1000)]
    assert min(waits) < 1.5 and max(waits) > 9.5
    assert len(set(waits)) > 990


def test_a_long_retry_after_is_capped() -> None:
    assert delay_s(1, 2, 20, 3600, _lowest) == MAX_RETRY_AFTER_S
    assert delay_s(1, 2, 20, 0, _lowest) == 2


@pytest.mark.parametrize(
    ("header", "seconds"),
    [("120", 120.0), (" 3 ", 3.0), ("0.5", 0.5), ("-5", 0.0), ("", None), (None, None),
     ("soon", None), ("Fri, 32 Jul 2021 15:59:27 GMT", None)],
)  # fmt: skip
def test_retry_after_in_seconds(header: str | None, seconds: float | None) -> None:
    assert retry_after_of(header, time.time()) == seconds


NOW = datetime(2021, 7, 9, 15, 58, 57, tzinfo=UTC).timestamp()


@pytest.fixture
def new_york(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A local time zone that is not UTC, so a date read as local time is caught."""
    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.mark.usefixtures("new_york")
@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        ("Fri, 09 Jul 2021 15:59:27 GMT", 30.0),
        ("Fri, 09 Jul 2021 15:59:27 -0000", 30.0),
        ("Fri, 09 Jul 2021 15:59:27", 30.0),  # no zone: GMT all the same
        ("Fri, 09 Jul 2021 15:59:27 +0000", 30.0),
        ("Fri, 09 Jul 2021 17:59:27 +0200", 30.0),
        ("Fri, 09 Jul 2021 15:00:00 GMT", 0.0),  # already past
    ],
)
def test_retry_after_as_an_http_date(header: str, seconds: float) -> None:
    assert retry_after_of(header, NOW) == seconds


def test_retry_after_as_the_date_twilio_writes() -> None:
    later = datetime.fromtimestamp(NOW + 90, UTC)
    assert retry_after_of(format_datetime(later, usegmt=True), NOW) == 90.0
