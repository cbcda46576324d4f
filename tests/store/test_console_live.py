"""The live view's reads on both backends: waiting messages per sender, the window's
sends, receipts and outcomes by bucket, the callbacks owed; one account's only."""

from __future__ import annotations

from herald.domain.senders import Capabilities, IncomingNumber, SmsWebhook
from herald.domain.sids import Prefix
from herald.domain.status import Direction, MessageStatus
from herald.provisioning import create_account
from herald.runtime import Runtime
from herald.store import console_live as live
from herald.store import messages as store
from herald.store import senders
from herald.store.callbacks import NewCallback, enqueue_many
from tests.store.test_records import message

S = MessageStatus
SEC = 1_000_000
NOW = 1_800_000_000 * SEC
SINCE = NOW - 180 * SEC


def slow_number(runtime: Runtime, account_sid: str, e164: str, mps: int) -> IncomingNumber:
    return IncomingNumber(
        sid=runtime.new_sid(Prefix.PHONE_NUMBER), account_sid=account_sid, phone_number=e164,
        friendly_name="n", country="US", number_type="local", webhook=SmsWebhook(),
        sms_application_sid="", voice_url="", voice_method="POST", voice_fallback_url="",
        voice_fallback_method="POST", voice_caller_id_lookup=False, status_callback="",
        status_callback_method="POST", capabilities=Capabilities(), mps=mps,
        date_created=1, date_updated=1,
    )  # fmt: skip


def test_queues_are_per_sender_oldest_first_and_the_account_s_own(runtime: Runtime) -> None:
    mine = create_account(runtime, friendly_name="a", is_test=False)
    other = create_account(runtime, friendly_name="b", is_test=False)
    slow = slow_number(runtime, mine.sid, "+14155550101", mps=2)
    runtime.db.run(lambda c: senders.insert_number(c, slow))
    made = [
        message(runtime, mine.sid, 0, from_number=slow.phone_number, sender_sid=slow.sid,
                num_segments=2, date_created=NOW - 30 * SEC),
        message(runtime, mine.sid, 1, from_number=slow.phone_number, sender_sid=slow.sid,
                date_created=NOW - 10 * SEC),
        message(runtime, mine.sid, 2, from_number=slow.phone_number, sender_sid=slow.sid,
                status=S.SENDING, date_created=NOW - 40 * SEC),
        message(runtime, mine.sid, 3, from_number=None, messaging_service_sid="MG" + "0" * 32,
                status=S.ACCEPTED, date_created=NOW - 5 * SEC),
        message(runtime, mine.sid, 4, status=S.SCHEDULED, send_at=NOW + 60 * SEC),
        message(runtime, mine.sid, 5, status=S.DELIVERED),  # not waiting
        message(runtime, other.sid, 6, from_number="+14155550102", date_created=NOW - 99 * SEC),
    ]  # fmt: skip
    runtime.db.run(lambda c: [store.insert_message(c, m) for m in made])
    queues = runtime.db.run(lambda c: live.queues(c, mine.sid))
    assert [(q.address, q.routing, q.waiting, q.segments, q.in_flight) for q in queues] == [
        (slow.phone_number, False, 2, 3, 1),
        ("MG" + "0" * 32, True, 1, 1, 0),
    ]
    assert queues[0].since == NOW - 30 * SEC and queues[0].mps == 2
    assert queues[1].mps is None
    assert runtime.db.run(lambda c: live.scheduled(c, mine.sid)) == (1, NOW + 60 * SEC)
    assert runtime.db.run(lambda c: live.scheduled(c, other.sid)) == (0, None)


def test_traffic_counts_by_bucket_and_outcome(runtime: Runtime) -> None:
    mine = create_account(runtime, friendly_name="a", is_test=False)
    other = create_account(runtime, friendly_name="b", is_test=False)

    def sent(i: int, status: MessageStatus, at: int, done: int, **more: object) -> object:
        return message(runtime, mine.sid, i, status=status, date_sent=at, date_created=at,
                       date_updated=done, **more)  # fmt: skip

    made = [
        sent(0, S.DELIVERED, NOW - 2 * SEC, NOW - 1 * SEC),
        sent(1, S.DELIVERED, NOW - 7 * SEC, NOW - 6 * SEC),
        sent(2, S.UNDELIVERED, NOW - 3 * SEC, NOW - 2 * SEC),
        sent(3, S.SENT, NOW - 1 * SEC, NOW - 1 * SEC),
        sent(4, S.RECEIVED, NOW - 4 * SEC, NOW - 4 * SEC, direction=Direction.INBOUND),
        # sent before the window, its receipt inside it: an outcome, not a send
        sent(5, S.DELIVERED, SINCE - 20 * SEC, SINCE + 1 * SEC),
        sent(6, S.DELIVERED, NOW - 900 * SEC, NOW - 899 * SEC),  # long before: nothing
        # failed before it was sent: no date_sent
        message(runtime, mine.sid, 7, status=S.FAILED, date_created=NOW - 3 * SEC,
                date_updated=NOW - 3 * SEC),
        message(runtime, other.sid, 8, status=S.DELIVERED, date_sent=NOW - SEC,
                date_created=NOW - SEC, date_updated=NOW - SEC),
    ]  # fmt: skip
    runtime.db.run(lambda c: [store.insert_message(c, m) for m in made])
    t = runtime.db.run(
        lambda c: live.traffic(c, mine.sid, since=SINCE, bucket_us=5 * SEC, buckets=36)
    )
    assert sum(t.sent) == 4 and t.sent[-1] == 3 and t.sent[-2] == 1
    assert t.received[-1] == 1 and sum(t.received) == 1
    assert t.outcomes == {"delivered": 3, "undelivered": 1, "failed": 1}
    assert t.delivered[0] == 1 and t.delivered[-1] == 1 and t.delivered[-2] == 1
    assert t.failed[-1] == 2 and sum(t.failed) == 2
    assert t.awaiting == 1
    empty = runtime.db.run(
        lambda c: live.traffic(c, other.sid, since=NOW, bucket_us=5 * SEC, buckets=3)
    )
    assert empty.sent == [0, 0, 0] and empty.outcomes == {}


def test_the_backlog_is_the_account_s_callbacks_owed(runtime: Runtime) -> None:
    mine = create_account(runtime, friendly_name="a", is_test=False)
    other = create_account(runtime, friendly_name="b", is_test=False)
    made = [message(runtime, mine.sid, 0), message(runtime, other.sid, 1)]
    runtime.db.run(lambda c: [store.insert_message(c, m) for m in made])
    owed = [
        NewCallback(account_sid=m.account_sid, message_sid=m.sid, url="https://example.com/s",
                    method="POST", params=[("MessageStatus", "sent")], event_time=NOW - i * SEC)
        for i, m in enumerate([made[0], made[0], made[1]])
    ]  # fmt: skip
    runtime.db.run(lambda c: enqueue_many(c, owed, NOW))
    backlog = runtime.db.run(lambda c: live.backlog(c, mine.sid))
    assert (backlog.callbacks, backlog.retrying, backlog.oldest) == (2, 0, NOW - SEC)
    assert backlog.inbound_webhooks == 0
