"""A sender's queue in memory: FIFO entries taken segment by segment, expired entries
skipped, and the backlog (segments queued, not yet submitted) kept exact throughout."""

from __future__ import annotations

from herald.dispatch.queues import Entry, SenderQueue
from herald.domain.queued import QueuedMessage
from herald.domain.senders import SenderKind
from herald.domain.status import MessageStatus

PN = "PN" + "0" * 32


def entry(i: int, segments: int = 1, *, parts: tuple[str, ...] = ()) -> Entry:
    row = QueuedMessage(
        id=i + 1,
        sid=f"SM{i:032x}",
        account_sid="AC" + "1" * 32,
        messaging_service_sid=None,
        from_number="+14155550100",
        to_number="+14155550111",
        sender_sid=PN,
        body=f"m{i}",
        smart_encoded=False,
        num_segments=segments,
        num_media=0,
        validity_period=None,
        status_callback=None,
        status=MessageStatus.QUEUED,
        date_created=1_000 + i,
    )
    return Entry(row=row, deadline_us=10**18, parts=parts)


def queue() -> SenderQueue:
    return SenderQueue(key=PN, address="+14155550100", kind=SenderKind.LONG_CODE, mps=1)


def test_an_entry_counts_its_parts_else_the_rows_segments() -> None:
    assert entry(0, 3).segments == 3
    split = entry(1, 1, parts=("a", "b"))
    assert split.segments == 2 and split.remaining == 2
    split.next_part = 2
    assert split.remaining == 1


def test_take_is_fifo_and_splits_a_message_across_takes() -> None:
    q = queue()
    long, short = entry(0, 3), entry(1, 1)
    q.push(long)
    q.push(short)
    assert q.backlog == 4
    assert q.take(2) == [(long, 1, 2)]
    assert q.backlog == 2 and list(q.entries) == [long, short]  # still at the head
    assert q.take(2) == [(long, 3, 3), (short, 1, 1)]
    assert q.backlog == 0 and not q.entries
    assert q.take(5) == []
    assert q.take(0) == []


def test_take_skips_and_removes_expired_entries() -> None:
    q = queue()
    first, gone, last = entry(0), entry(1, 2), entry(2)
    for e in (first, gone, last):
        q.push(e)
    q.drop(gone)
    assert gone.expired and q.backlog == 2
    assert q.take(5) == [(first, 1, 1), (last, 1, 1)]
    assert q.backlog == 0 and not q.entries


def test_an_expired_head_alone_is_cleared_by_a_take() -> None:
    q = queue()
    gone = entry(0)
    q.push(gone)
    q.drop(gone)
    assert q.backlog == 0
    assert q.take(1) == [] and not q.entries


def test_push_front_puts_a_pushed_back_entry_first_with_what_it_has_left() -> None:
    q = queue()
    waiting, pushed = entry(0), entry(1, 3)
    q.push(waiting)
    pushed.next_part = 2  # part 1 reached the carrier
    q.push_front(pushed)
    assert list(q.entries) == [pushed, waiting]
    assert q.backlog == 3  # 2 parts left of `pushed`, 1 of `waiting`
    assert q.take(3) == [(pushed, 2, 3), (waiting, 1, 1)]
    assert q.backlog == 0


def test_unqueue_then_push_front_requeues_from_the_refused_part() -> None:
    """As a throttled submit does: the entry, still at the head after a partial take, goes
    back from the part the carrier refused."""
    q = queue()
    e, other = entry(0, 4), entry(1)
    q.push(e)
    q.push(other)
    assert q.take(3) == [(e, 1, 3)]
    assert q.backlog == 2
    q.unqueue(e)
    assert list(q.entries) == [other] and q.backlog == 1
    e.next_part = 2  # part 2 was refused
    q.push_front(e)
    assert q.backlog == 4
    assert q.take(10) == [(e, 2, 4), (other, 1, 1)]
    assert q.backlog == 0


def test_unqueue_of_an_entry_not_in_the_queue_changes_nothing() -> None:
    q = queue()
    held, taken = entry(0), entry(1)
    q.push(taken)
    q.push(held)
    assert q.take(1) == [(taken, 1, 1)]  # off the queue, being submitted
    q.unqueue(taken)
    assert list(q.entries) == [held] and q.backlog == 1


def test_wanted_counts_live_segments_up_to_the_limit() -> None:
    q = queue()
    assert q.wanted(10) == 0
    a, gone, b = entry(0, 2), entry(1, 5), entry(2, 3)
    for e in (a, gone, b):
        q.push(e)
    q.drop(gone)
    assert q.wanted(100) == 5  # 2 + 3; the expired 5 are not asked for
    assert q.wanted(4) == 4
    assert q.wanted(2) == 2
    assert q.wanted(1) == 1
    a.next_part = 2
    assert q.wanted(100) == 4


def test_head_created_us_is_the_oldest_live_entry() -> None:
    q = queue()
    assert q.head_created_us() is None
    gone, live = entry(0), entry(5)
    q.push(gone)
    q.push(live)
    assert q.head_created_us() == 1_000
    q.drop(gone)
    assert q.head_created_us() == 1_005
    q.drop(live)
    assert q.head_created_us() is None
