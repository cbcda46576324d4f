"""Times: the API's RFC 2822 and ISO 8601 read to the exact microsecond, a zone-less time
as UTC, anything else as None; and written back for filters and reports."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from email.utils import format_datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from herald.campaign.times import iso, parse_us, shown

JULY_9 = int(datetime(2021, 7, 9, 15, 58, 57, tzinfo=UTC).timestamp()) * 1_000_000
MOMENTS = st.datetimes(
    min_value=datetime(1971, 1, 1), max_value=datetime(2200, 1, 1), timezones=st.just(UTC)
)


@pytest.mark.parametrize(
    "text",
    [
        "Fri, 09 Jul 2021 15:58:57 +0000",  # Twilio's date_created
        "Fri, 09 Jul 2021 17:58:57 +0200",
        "Fri, 09 Jul 2021 15:58:57 -0000",
        "2021-07-09T15:58:57Z",
        "2021-07-09T15:58:57+00:00",
        "2021-07-09T11:58:57-04:00",
        "2021-07-09T15:58:57",  # no zone: UTC
        "2021-07-09 15:58:57",
    ],
)
def test_parse_us_reads_both_formats(text: str) -> None:
    assert parse_us(text) == JULY_9


@pytest.mark.parametrize("text", [None, "", "yesterday", "2021-13-01T00:00:00Z", 17, b"x"])
def test_parse_us_is_none_for_anything_else(text: object) -> None:
    assert parse_us(text) is None


@given(MOMENTS)
def test_iso_with_microseconds_is_read_exactly(moment: datetime) -> None:
    exact = (moment - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)
    assert parse_us(moment.isoformat()) == exact
    assert parse_us(moment.astimezone(timezone(timedelta(hours=-7))).isoformat()) == exact
    assert parse_us(shown(exact)) == exact


@given(MOMENTS)
def test_rfc2822_is_read_to_the_second(moment: datetime) -> None:
    second = moment.replace(microsecond=0)
    assert parse_us(format_datetime(second)) == int(second.timestamp()) * 1_000_000


def test_iso_is_whole_seconds_utc_for_filters() -> None:
    assert iso(JULY_9 + 999_999) == "2021-07-09T15:58:57Z"


def test_shown_is_iso_with_microseconds_or_empty() -> None:
    assert shown(JULY_9 + 5) == "2021-07-09T15:58:57.000005Z"
    assert shown(None) == ""
