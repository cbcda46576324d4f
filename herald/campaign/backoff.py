"""When to try a request again: exponential backoff with full jitter between the
campaign's minimum and maximum delays, and never sooner than the server's `Retry-After`.

Jitter spreads the retries of a concurrent send, so a burst of 429s does not come back
as the same burst one delay later (the reason seed 004 tells users to widen the delays).
"""

from __future__ import annotations

import email.utils
from collections.abc import Callable
from datetime import UTC

MAX_RETRY_AFTER_S = 300.0  # a server asking for longer is waited on this long, then asked again
MAX_DOUBLINGS = 1000


def delay_s(
    attempt: int,
    min_s: float,
    max_s: float,
    retry_after_s: float | None,
    uniform: Callable[[float, float], float],
) -> float:
    """The wait before attempt `attempt + 1`, after `attempt` failed ones (1-based)."""
    doublings = min(max(0, attempt - 1), MAX_DOUBLINGS)  # 2 ** 1024 is no float
    ceiling = min(max_s, min_s * 2.0**doublings) if min_s > 0 else max_s
    waited = uniform(min_s, max(min_s, ceiling))
    if retry_after_s is not None:
        waited = max(waited, min(retry_after_s, MAX_RETRY_AFTER_S))
    return waited


def retry_after_of(header: str | None, now_s: float) -> float | None:
    """A `Retry-After` header's seconds (delta-seconds or an HTTP date), or None."""
    if not header:
        return None
    text = header.strip()
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:  # "-0000" or no zone: an HTTP date is GMT, never local time
        when = when.replace(tzinfo=UTC)
    return max(0.0, when.timestamp() - now_s)
