"""Timestamps as Twilio writes and reads them: microseconds inside, RFC 2822 (2010 API)
and ISO 8601 (v1 API) at the edges, and the many date forms list filters accept (§2.4).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime

_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_DAY_US = 86_400_000_000


def to_datetime(us: int) -> datetime:
    return _EPOCH + timedelta(microseconds=us)


def from_datetime(value: datetime) -> int:
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return (value - _EPOCH) // timedelta(microseconds=1)


def rfc2822(us: int | None) -> str | None:
    """`Thu, 30 Jul 2015 20:12:31 +0000`, as the 2010 API writes every date."""
    if us is None:
        return None
    d = to_datetime(us)
    return (
        f"{_DAYS[d.weekday()]}, {d.day:02d} {_MONTHS[d.month - 1]} {d.year} "
        f"{d.hour:02d}:{d.minute:02d}:{d.second:02d} +0000"
    )


def iso8601(us: int | None) -> str | None:
    """`2015-07-30T20:12:31Z`, as the v1 API writes every date."""
    if us is None:
        return None
    return to_datetime(us).strftime("%Y-%m-%dT%H:%M:%SZ")


_FORMATS = (
    "%Y-%m-%dT%H:%M:%SZ",
    "%Y-%m-%dT%H:%M:%S.%fZ",
    "%Y-%m-%dT%H:%M:%S%z",
    "%Y-%m-%dT%H:%M:%S.%f%z",
    "%Y-%m-%dT%H:%M:%S",
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%d %H:%M:%S.%f",
    "%m/%d/%Y %H:%M:%S",
)


def _parse_datetime(raw: str) -> datetime | None:
    for fmt in _FORMATS:
        try:
            return datetime.strptime(raw, fmt)
        except ValueError:
            continue
    try:
        return parsedate_to_datetime(raw)
    except (TypeError, ValueError, IndexError):
        return None


def parse_filter(raw: str) -> tuple[int, int]:
    """The half-open span `[start, end)` in microseconds that a date filter value names.

    A date (`2019-06-11`) names its whole GMT day; a date-time names one second, so
    that `DateSent<` and `DateSent>` (both inclusive, §2.4) include it. Raises ValueError.
    """
    text = raw.strip()
    if len(text) == 10:
        day = datetime.strptime(text, "%Y-%m-%d").replace(tzinfo=UTC)
        start = from_datetime(day)
        return start, start + _DAY_US
    parsed = _parse_datetime(text)
    if parsed is None:
        raise ValueError(f"{raw!r} is not a date or date-time")
    start = _instant(parsed, raw)
    start -= start % 1_000_000
    return start, start + 1_000_000


def day_of(raw: str) -> tuple[int, int]:
    """The whole GMT day holding the date or date-time `raw`, as `[start, end)`."""
    start, _ = parse_filter(raw)
    start -= start % _DAY_US
    return start, start + _DAY_US


def parse_instant(raw: str) -> int:
    """An ISO 8601 instant (`SendAt`): microseconds. Raises ValueError."""
    parsed = _parse_datetime(raw.strip())
    if parsed is None:
        raise ValueError(f"{raw!r} is not an ISO 8601 date-time")
    return _instant(parsed, raw)


def _instant(parsed: datetime, raw: str) -> int:
    """Microseconds of `parsed`; a time whose UTC falls outside years 1–9999 (the first
    minutes of year 1 in a zone east of GMT) is refused as no date at all."""
    try:
        return from_datetime(parsed.astimezone(UTC) if parsed.tzinfo else parsed)
    except OverflowError:
        raise ValueError(f"{raw!r} is out of range") from None
