"""Scheduled messages' SendAt (reference §13): the type, the format and the window, each
refused with Twilio's code."""

from __future__ import annotations

import pytest

from herald.domain import errors, service_errors
from herald.domain.scheduling import MAX_AHEAD_S, SECOND_US, send_at
from herald.domain.timestamps import parse_instant

NOW = parse_instant("2026-11-23T12:00:00Z")


def at(seconds: int) -> str:
    from herald.domain.timestamps import iso8601

    return iso8601(NOW + seconds * SECOND_US) or ""


def test_nothing_scheduled() -> None:
    assert send_at(None, None, now_us=NOW, min_ahead_s=300) is None


@pytest.mark.parametrize("ahead", [300, 3600, MAX_AHEAD_S])
def test_inside_the_window(ahead: int) -> None:
    assert send_at("fixed", at(ahead), now_us=NOW, min_ahead_s=300) == NOW + ahead * SECOND_US


def test_an_offset_is_read_as_utc() -> None:
    due = send_at("fixed", "2026-11-23T13:30:00+01:00", now_us=NOW, min_ahead_s=300)
    assert due == NOW + 1800 * SECOND_US


@pytest.mark.parametrize(
    ("schedule_type", "raw", "error", "words"),
    [
        (None, at(3600), service_errors.InvalidScheduleType, "must be 'fixed'"),
        ("recurring", at(3600), service_errors.InvalidScheduleType, "'recurring' is not supported"),
        ("fixed", None, service_errors.SendAtRequired, "required"),
        ("fixed", "", service_errors.SendAtRequired, "required"),
        ("fixed", "tomorrow", service_errors.SendAtInvalid, "ISO 8601"),
        ("fixed", at(299), service_errors.SendAtTooSoon, "between 300 seconds and 35 days"),
        ("fixed", at(-60), service_errors.SendAtTooSoon, "between 300 seconds"),
        ("fixed", at(MAX_AHEAD_S + 1), service_errors.SendAtTooLate, "3024000 seconds"),
    ],
)
def test_refused(
    schedule_type: str | None, raw: str | None, error: type[errors.TwilioError], words: str
) -> None:
    with pytest.raises(error) as raised:
        send_at(schedule_type, raw, now_us=NOW, min_ahead_s=300)
    assert words in raised.value.message
    assert raised.value.status == 400
