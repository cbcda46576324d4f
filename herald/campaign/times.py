"""Times as the campaign stores them (integer microseconds since the epoch, UTC) and as
the API writes them: RFC 2822 in Twilio's resources, ISO 8601 in filters and in Herald's
extensions."""

from __future__ import annotations

import email.utils
import time
from datetime import UTC, datetime, timedelta

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MICROSECOND = timedelta(microseconds=1)


def now_us() -> int:
    return time.time_ns() // 1000


def parse_us(text: object) -> int | None:
    """An API timestamp (RFC 2822 or ISO 8601) in microseconds; None if absent or unreadable."""
    if not isinstance(text, str) or not text:
        return None
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError):
        try:
            when = datetime.fromisoformat(text)
        except ValueError:
            return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return (when - EPOCH) // MICROSECOND  # exact: a float timestamp loses the last digit


def iso(us: int) -> str:
    """For a `DateSent>` filter: second precision, UTC (what Twilio takes)."""
    return datetime.fromtimestamp(us // 1_000_000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def shown(us: int | None) -> str:
    """For reports: ISO 8601 with microseconds, or empty."""
    if us is None:
        return ""
    return datetime.fromtimestamp(us / 1_000_000, UTC).isoformat().replace("+00:00", "Z")
