"""Sender rates (reference §8): at most a sender's MPS segments in any one-second window,
the queue-overflow rule, and the validity deadline.

A segment is the unit: a 3-segment message costs three. `admit` keeps the times of the
last second's grants, so the invariant "no one-second window holds more than MPS
segments" holds exactly (a token bucket with a burst would let two windows' worth
through around a refill), while a fast sender can still take many segments per wake-up.
"""

from __future__ import annotations

from dataclasses import dataclass

from herald.domain.sender_tables import SHORT_CODE_COUNTRIES
from herald.domain.senders import SenderKind

SECOND_US = 1_000_000
DEFAULT_VALIDITY_S = 36_000
NANP_COUNTRIES = frozenset({"US", "CA"})
SHORT_CODE_MPS = 100
INTERNATIONAL_MPS = 10
_NANP_MPS = {SenderKind.LONG_CODE: 1, SenderKind.TOLL_FREE: 3}


@dataclass(frozen=True, slots=True, kw_only=True)
class Window:
    """Grants of the last second, oldest first: (time µs, segments granted then)."""

    grants: tuple[tuple[int, int], ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class Admission:
    granted: int  # segments that may be submitted now (0 … wanted)
    retry_after_us: int  # when more may go, if not all were granted; else 0
    window: Window


def admit(window: Window, now_us: int, mps: int, wanted: int) -> Admission:
    """Grant up to `wanted` segments at `now_us` without exceeding `mps` in any second."""
    recent = tuple(grant for grant in window.grants if grant[0] > now_us - SECOND_US)
    used = sum(count for _, count in recent)
    granted = max(0, min(wanted, mps - used))
    if granted:
        recent = (*recent, (now_us, granted))
    retry_after = 0
    if granted < wanted:
        retry_after = recent[0][0] + SECOND_US - now_us if recent else 1
    return Admission(granted=granted, retry_after_us=retry_after, window=Window(grants=recent))


def restamp(window: Window, granted_at_us: int, now_us: int) -> Window:
    """Move the latest grant to when its segments really reach the carrier.

    A grant is made before the intent to send is committed, and that commit may take a
    while; counting the segments from the later moment keeps every one-second window of
    actual submissions within the rate (it only ever makes the window stricter).
    """
    if not window.grants or now_us <= granted_at_us:
        return window
    *older, (at, count) = window.grants
    if at != granted_at_us:
        return window
    return Window(grants=(*older, (now_us, count)))


def default_mps(kind: SenderKind, country: str) -> int:
    """Twilio's default sender rates (§8.1, data/sender_defaults.csv): US/CA long codes 1,
    toll-free 3, short codes 100 (or their country's rate), everything else 10."""
    if kind is SenderKind.SHORT_CODE:
        return SHORT_CODE_COUNTRIES.get(country) or SHORT_CODE_MPS
    if kind in _NANP_MPS and country in NANP_COUNTRIES:
        return _NANP_MPS[kind]
    return INTERNATIONAL_MPS


def queue_capacity(mps: int, horizon_s: int) -> int:
    """Segments a sender's queue may hold: the horizon's worth at its rate (4 h by default)."""
    return mps * horizon_s


def would_overflow(backlog_segments: int, segments: int, mps: int, horizon_s: int) -> bool:
    """Whether a message of `segments` would wait past the horizon behind the backlog
    (21611 for a direct send, 30001 through a Messaging Service)."""
    return backlog_segments + segments > queue_capacity(mps, horizon_s)


def validity_deadline(date_created_us: int, validity_period_s: int | None) -> int:
    """When a message still queued fails with 30036 (validity 1–36,000 s, default 36,000)."""
    return date_created_us + (validity_period_s or DEFAULT_VALIDITY_S) * SECOND_US
