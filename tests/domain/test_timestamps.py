from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from herald.domain import timestamps as ts

T = 1_438_287_151_000_000  # Thu, 30 Jul 2015 20:12:31 +0000
SECOND = 1_000_000
DAY = 86_400 * SECOND


def test_rfc2822_and_iso8601() -> None:
    assert ts.rfc2822(T) == "Thu, 30 Jul 2015 20:12:31 +0000"
    assert ts.iso8601(T) == "2015-07-30T20:12:31Z"
    assert ts.rfc2822(None) is None and ts.iso8601(None) is None


@pytest.mark.parametrize(
    "raw",
    [
        "2015-07-30T20:12:31Z",
        "2015-07-30T20:12:31.250Z",
        "2015-07-30T20:12:31+00:00",
        "2015-07-30T22:12:31+02:00",
        "2015-07-30T20:12:31.5+00:00",
        "2015-07-30T20:12:31",
        "2015-07-30 20:12:31",
        "2015-07-30 20:12:31.000",
        "07/30/2015 20:12:31",
        "Thu, 30 Jul 2015 20:12:31 -0000",
    ],
)
def test_every_documented_form_names_the_same_second(raw: str) -> None:
    assert ts.parse_filter(raw) == (T, T + SECOND)


def test_a_date_names_its_day() -> None:
    start = ts.from_datetime(datetime(2015, 7, 30, tzinfo=UTC))
    assert ts.parse_filter("2015-07-30") == (start, start + DAY)
    assert ts.day_of("2015-07-30T20:12:31Z") == (start, start + DAY)


@pytest.mark.parametrize(
    "raw", ["yesterday", "2015-13-01", "", "30/07/2015", "0001-01-01T00:05:00.0+01:00"]
)
def test_bad_filters(raw: str) -> None:
    with pytest.raises(ValueError):
        ts.parse_filter(raw)


def test_parse_instant() -> None:
    assert ts.parse_instant("2015-07-30T20:12:31Z") == T
    with pytest.raises(ValueError):
        ts.parse_instant("soon")
    with pytest.raises(ValueError):  # before year 1 in UTC (schemathesis found it: a 500)
        ts.parse_instant("0001-01-01T00:05:00+01:00")


def test_naive_datetimes_are_utc() -> None:
    assert ts.from_datetime(datetime(2015, 7, 30, 20, 12, 31)) == T


@given(st.integers(min_value=0, max_value=4_000_000_000 * SECOND))
def test_round_trip(us: int) -> None:
    assert ts.from_datetime(ts.to_datetime(us)) == us
    assert ts.parse_filter(ts.iso8601(us) or "")[0] == us - us % SECOND
