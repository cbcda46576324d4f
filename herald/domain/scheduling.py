"""Scheduled messages (reference §13): `ScheduleType=fixed` with `SendAt`, through a
Messaging Service only, at least a minimum interval and at most 35 days ahead.

Twilio's current pages give the minimum as 300 s (earlier ones 900 s), so Herald takes it
from its settings; the errors are Twilio's.
"""

from __future__ import annotations

from herald.domain import service_errors, timestamps

MAX_AHEAD_S = 35 * 86_400  # 3,024,000 s
SECOND_US = 1_000_000


def send_at(
    schedule_type: str | None, raw: str | None, *, now_us: int, min_ahead_s: int
) -> int | None:
    """When a scheduled message is due (µs), or None for a message to send now."""
    if schedule_type is None and raw is None:
        return None
    if schedule_type != "fixed":
        raise service_errors.InvalidScheduleType(
            "ScheduleType must be 'fixed' to schedule a message with SendAt"
            if schedule_type is None
            else f"ScheduleType {schedule_type!r} is not supported: only 'fixed' is"
        )
    if not raw:
        raise service_errors.SendAtRequired()
    try:
        due = timestamps.parse_instant(raw)
    except ValueError:
        raise service_errors.SendAtInvalid(
            f"SendAt {raw!r} is not an ISO 8601 date-time such as 2026-01-31T12:00:00Z"
        ) from None
    window = (
        f"SendAt must be between {min_ahead_s} seconds and 35 days ({MAX_AHEAD_S} seconds) "
        "in the future, inclusive."
    )
    if due - now_us < min_ahead_s * SECOND_US:
        raise service_errors.SendAtTooSoon(window)
    if due - now_us > MAX_AHEAD_S * SECOND_US:
        raise service_errors.SendAtTooLate(window)
    return due
