"""An opt-out after the create (§11.1, invariant 5): a message scheduled, or waiting in its
sender's queue, when its recipient texts STOP stays as it is until its turn, then fails
with 21610 at the last gate before the carrier, and the carrier never sees it."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from functools import partial

import pytest

from herald.store import simulator_log
from tests.conftest import Herald, eventually
from tests.inbound.tenant import Tenant, handset
from tests.webhooks.receiver import Receiver

SETTINGS = {"schedule_min_s": 1}


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as r:
        yield r


def _submissions(herald: Herald, message_sid: str) -> int:
    """What the simulated carrier received of this message."""
    return herald.runtime.db.run(partial(simulator_log.count_submissions, message_sid=message_sid))


def test_a_scheduled_message_to_a_recipient_who_opted_out_fails_when_due(
    herald: Herald, receiver: Receiver
) -> None:
    t = Tenant(herald, status_callback=f"{receiver.url}/status")
    ours = t.pooled()
    phone = handset()
    due = datetime.now(UTC) + timedelta(seconds=2.5)
    scheduled = t.send(phone, schedule_type="fixed", send_at=due, body="flash sale")
    assert scheduled.status == "scheduled"

    t.text(phone, ours, "STOP")
    confirmation = t.reply_to(phone)
    assert t.settled(confirmation.sid).status == "delivered"
    assert t.client.messages(scheduled.sid).fetch().status == "scheduled"  # not canceled

    failed = t.settled(scheduled.sid, ("failed", "sent", "delivered", "undelivered"))
    assert (failed.status, failed.error_code) == ("failed", 21610)
    assert failed.date_updated >= due.replace(microsecond=0)  # failed when due, not at STOP
    assert _submissions(herald, scheduled.sid) == 0
    assert _submissions(herald, confirmation.sid) == 1

    def callbacks() -> list[dict[str, str]]:
        forms = [dict(r.form) for r in receiver.requests]
        return [f for f in forms if f["MessageSid"] == scheduled.sid]

    hook = eventually(lambda: [f for f in callbacks() if f["MessageStatus"] == "failed"])[0]
    assert hook["ErrorCode"] == "21610"
    assert {f["MessageStatus"] for f in callbacks()} <= {"queued", "failed"}


def test_a_queued_message_behind_a_slow_sender_is_refused_by_the_last_gate(
    herald: Herald,
) -> None:
    t = Tenant(herald)
    ours = t.own()  # a US long code: 1 MPS
    ahead = [t.send(handset(), from_=ours, body=f"first {n}") for n in range(3)]
    phone = handset()
    waiting = t.send(phone, from_=ours, body="behind three others")
    assert waiting.status == "queued"

    t.text(phone, ours, "STOP")  # about three seconds before its turn
    assert t.client.messages(waiting.sid).fetch().status == "queued"

    refused = t.settled(waiting.sid, ("failed", "sent", "delivered", "undelivered"))
    assert (refused.status, refused.error_code) == ("failed", 21610)
    assert _submissions(herald, waiting.sid) == 0
    for message in ahead:
        assert t.settled(message.sid).status == "delivered"
    confirmation = t.reply_to(phone)
    assert t.settled(confirmation.sid).status == "delivered"  # the opt-out's own reply
    assert _submissions(herald, confirmation.sid) == 1
