from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from herald.domain.reply_guard import SECOND_US, ReplyGuard

A, B, C = "+15017122661", "+15558675310", "+15551230000"


def test_thirty_replies_pass_and_the_thirty_first_blocks() -> None:
    guard = ReplyGuard()
    assert all(guard.allow(A, B, i * 100_000) for i in range(30))
    assert not guard.allow(A, B, 3_000_000)  # the 31st within 30 s


def test_the_block_lasts_block_s_from_the_tripping_reply() -> None:
    guard = ReplyGuard()
    for i in range(30):
        assert guard.allow(A, B, i * SECOND_US // 10)
    tripped = 5 * SECOND_US
    assert not guard.allow(A, B, tripped)
    assert not guard.allow(A, B, tripped + 29 * SECOND_US)
    assert not guard.allow(A, B, tripped + 30 * SECOND_US - 1)
    assert guard.allow(A, B, tripped + 30 * SECOND_US)
    # after the block the count starts afresh
    assert all(guard.allow(A, B, tripped + 30 * SECOND_US + i) for i in range(1, 30))
    assert not guard.allow(A, B, tripped + 30 * SECOND_US + 30)


def test_the_window_slides() -> None:
    guard = ReplyGuard(limit=3, window_s=10, block_s=5)
    assert guard.allow(A, B, 0)
    assert guard.allow(A, B, 4 * SECOND_US)
    assert guard.allow(A, B, 8 * SECOND_US)
    # the reply at 0 is exactly 10 s old at 10 s, and no longer counts
    assert guard.allow(A, B, 10 * SECOND_US)
    assert not guard.allow(A, B, 10 * SECOND_US + 1)  # 4, 8 and 10 are within the window


def test_slow_conversations_are_never_blocked() -> None:
    guard = ReplyGuard()
    assert all(guard.allow(A, B, i * SECOND_US) for i in range(1000))


def test_the_pair_is_unordered_and_other_pairs_are_independent() -> None:
    guard = ReplyGuard(limit=2)
    assert guard.allow(A, B, 0)
    assert guard.allow(B, A, 1)  # the other's auto-reply: the same conversation
    assert not guard.allow(A, B, 2)
    assert not guard.allow(B, A, 3)
    assert guard.allow(A, C, 4)
    assert guard.allow(C, B, 5)


def test_refused_replies_do_not_extend_the_block() -> None:
    guard = ReplyGuard(limit=1, window_s=10, block_s=10)
    assert guard.allow(A, B, 0)
    assert not guard.allow(A, B, 1)  # blocks until 10 s + 1 µs
    for t in range(2, 10 * SECOND_US, SECOND_US):
        assert not guard.allow(A, B, t)
    assert guard.allow(A, B, 10 * SECOND_US + 1)


def test_a_zero_block_is_a_plain_sliding_window() -> None:
    guard = ReplyGuard(limit=1, window_s=1, block_s=0)
    assert guard.allow(A, B, 0)
    assert not guard.allow(A, B, 1)
    assert not guard.allow(A, B, SECOND_US - 1)  # the reply at 0 still counts
    assert guard.allow(A, B, SECOND_US)


def test_a_block_shorter_than_the_window_still_counts_the_window() -> None:
    guard = ReplyGuard(limit=2, window_s=10, block_s=1)
    assert guard.allow(A, B, 0) and guard.allow(A, B, 1)
    assert not guard.allow(A, B, 2)  # blocked until 1 s + 2 µs
    assert not guard.allow(A, B, 5 * SECOND_US)  # unblocked, but 0 and 1 are in the window
    assert not guard.allow(A, B, 6 * SECOND_US + 2)  # blocked again, for 1 s
    assert guard.allow(A, B, 10 * SECOND_US)  # the reply at 0 has left the window


def test_idle_pairs_are_forgotten() -> None:
    guard = ReplyGuard(limit=2, window_s=10, block_s=20)
    guard.allow(A, B, 0)
    guard.allow(A, C, 5 * SECOND_US)
    assert len(guard) == 2
    guard.allow(B, C, 10 * SECOND_US)  # A-B has been idle a whole window: forgotten
    assert len(guard) == 2
    guard.allow(B, C, 14 * SECOND_US)
    assert len(guard) == 2  # A-C is still within its window
    guard.allow(B, C, 15 * SECOND_US)  # A-C forgotten; B-C trips a block until 35 s
    assert len(guard) == 1
    guard.allow(A, B, 34 * SECOND_US)
    assert len(guard) == 2 and not guard.allow(B, C, 35 * SECOND_US - 1)
    guard.allow(A, B, 46 * SECOND_US)  # B-C: window and block both over
    assert len(guard) == 1


def test_a_blocked_pair_is_remembered_until_its_block_ends() -> None:
    guard = ReplyGuard(limit=1, window_s=1, block_s=60)
    guard.allow(A, B, 0)
    guard.allow(A, B, 1)  # blocked until 60 s + 1 µs
    assert not guard.allow(A, B, 59 * SECOND_US)
    guard.allow(A, C, 59 * SECOND_US + 10)
    assert len(guard) == 2 and not guard.allow(A, B, 60 * SECOND_US)


def test_the_number_of_pairs_is_capped_dropping_the_least_recently_active() -> None:
    guard = ReplyGuard(limit=1, max_pairs=3)
    for n in range(3):
        assert guard.allow(A, f"+1555000000{n}", n)
    assert not guard.allow(A, "+15550000000", 10)  # the first pair is blocked, and touched
    assert guard.allow(A, "+15550000009", 11)  # a fourth pair evicts the oldest: ...01
    assert len(guard) == 3
    assert guard.allow(A, "+15550000001", 12)  # forgotten, so counted afresh
    assert not guard.allow(A, "+15550000000", 13)  # still remembered and blocked
    assert len(guard) == 3


def test_memory_stays_bounded_under_many_pairs() -> None:
    guard = ReplyGuard(max_pairs=100)
    for n in range(10_000):
        guard.allow(A, str(n), n)
    assert len(guard) == 100


@pytest.mark.parametrize(
    "bad",
    [{"limit": 0}, {"window_s": 0}, {"window_s": -1.0}, {"block_s": -1.0}, {"max_pairs": 0}],
)
def test_settings_are_checked(bad: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        ReplyGuard(**bad)  # type: ignore[arg-type]


@settings(max_examples=300, deadline=None)
@given(
    limit=st.integers(1, 5),
    block_s=st.sampled_from([0.0, 2.0, 5.0, 8.0]),
    gaps=st.lists(st.integers(0, 3 * SECOND_US), min_size=1, max_size=80),
)
def test_no_window_admits_more_than_the_limit(limit: int, block_s: float, gaps: list[int]) -> None:
    window_us = 5 * SECOND_US
    guard = ReplyGuard(limit=limit, window_s=5, block_s=block_s, max_pairs=1)
    now, sent = 0, []
    for gap in gaps:
        now += gap
        if guard.allow(A, B, now):
            sent.append(now)
    for i, start in enumerate(sent):
        assert sum(1 for t in sent[i:] if t - start < window_us) <= limit
