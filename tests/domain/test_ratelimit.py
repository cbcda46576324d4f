from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from herald.domain.ratelimit import (
    SECOND_US,
    Window,
    admit,
    default_mps,
    queue_capacity,
    restamp,
    validity_deadline,
    would_overflow,
)
from herald.domain.senders import SenderKind


def test_one_mps_emits_exactly_one_per_second() -> None:
    window, now, sent = Window(), 0, []
    while len(sent) < 100:
        a = admit(window, now, 1, 1)
        window = a.window
        if a.granted:
            sent.append(now)
        else:
            now += a.retry_after_us
    assert sent == [i * SECOND_US for i in range(100)]


def test_a_three_segment_message_takes_three_tokens() -> None:
    first = admit(Window(), 0, 3, 3)
    assert first.granted == 3
    blocked = admit(first.window, 10, 3, 1)
    assert blocked.granted == 0 and blocked.retry_after_us == SECOND_US - 10
    later = admit(blocked.window, SECOND_US, 3, 3)
    assert later.granted == 3


def test_partial_grant() -> None:
    a = admit(Window(), 0, 5, 8)
    assert a.granted == 5 and a.retry_after_us == SECOND_US
    assert admit(Window(), 0, 5, 0).granted == 0


def test_empty_window_retry() -> None:
    a = admit(Window(), 0, 0, 1)
    assert a.granted == 0 and a.retry_after_us == 1


@settings(max_examples=200, deadline=None)
@given(
    mps=st.integers(min_value=1, max_value=50),
    steps=st.lists(
        st.tuples(st.integers(min_value=0, max_value=400_000), st.integers(1, 60)),
        min_size=1,
        max_size=120,
    ),
)
def test_no_one_second_window_exceeds_mps(mps: int, steps: list[tuple[int, int]]) -> None:
    window, now, grants = Window(), 0, []
    for gap, wanted in steps:
        now += gap
        a = admit(window, now, mps, wanted)
        window = a.window
        grants.extend([now] * a.granted)
    for start in grants:
        assert sum(1 for t in grants if start <= t < start + SECOND_US) <= mps


def test_default_rates() -> None:
    assert default_mps(SenderKind.LONG_CODE, "US") == 1
    assert default_mps(SenderKind.LONG_CODE, "CA") == 1
    assert default_mps(SenderKind.TOLL_FREE, "US") == 3
    assert default_mps(SenderKind.SHORT_CODE, "US") == 100
    assert default_mps(SenderKind.SHORT_CODE, "BR") == 150
    assert default_mps(SenderKind.SHORT_CODE, "AR") == 100
    assert default_mps(SenderKind.LONG_CODE, "GB") == 10
    assert default_mps(SenderKind.ALPHANUMERIC, "GB") == 10


def test_overflow_boundary() -> None:
    assert queue_capacity(1, 14_400) == 14_400
    assert not would_overflow(14_399, 1, 1, 14_400)
    assert would_overflow(14_400, 1, 1, 14_400)
    assert would_overflow(14_398, 3, 1, 14_400)


def test_validity_deadline() -> None:
    assert validity_deadline(0, None) == 36_000 * SECOND_US
    assert validity_deadline(5, 10) == 5 + 10 * SECOND_US


def test_restamp_moves_the_latest_grant_later_only() -> None:
    a = admit(Window(), 0, 5, 5)
    later = restamp(a.window, 0, 400_000)
    assert later.grants == ((400_000, 5),)
    assert admit(later, SECOND_US, 5, 1).granted == 0  # counted from when it was sent
    assert admit(later, 400_000 + SECOND_US, 5, 5).granted == 5
    assert restamp(a.window, 0, 0) == a.window  # never earlier
    assert restamp(a.window, 7, 9) == a.window  # not the latest grant: untouched
    assert restamp(Window(), 0, 5) == Window()


@settings(max_examples=200, deadline=None)
@given(
    mps=st.integers(min_value=1, max_value=20),
    steps=st.lists(
        st.tuples(
            st.integers(min_value=0, max_value=400_000),
            st.integers(1, 30),
            st.integers(min_value=0, max_value=900_000),
        ),
        min_size=1,
        max_size=80,
    ),
)
def test_windows_hold_when_submission_lags_the_grant(
    mps: int, steps: list[tuple[int, int, int]]
) -> None:
    """Grants restamped to their (later) submission times never break the rate."""
    window, now, sent = Window(), 0, []
    for gap, wanted, lag in steps:
        now += gap
        a = admit(window, now, mps, wanted)
        window = a.window
        if a.granted:
            now += lag  # the intent's commit took this long
            window = restamp(window, now - lag, now)
            sent.extend([now] * a.granted)
    for start in sent:
        assert sum(1 for t in sent if start <= t < start + SECOND_US) <= mps
