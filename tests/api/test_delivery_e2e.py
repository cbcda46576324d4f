"""End to end on loopback: the official client sends through Herald, the simulated carrier
answers, and a real local receiver gets exactly Twilio's callbacks, signed and in order."""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator

import pytest
from twilio.request_validator import RequestValidator

from tests.conftest import Herald
from tests.webhooks.receiver import Receiver

_numbers = itertools.count(2000)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as r:
        yield r


def setup(herald: Herald) -> tuple[object, object, str]:
    account = herald.account()
    client = herald.client(account)
    number = f"+1415555{next(_numbers):04d}"
    client.incoming_phone_numbers.create(phone_number=number)
    return account, client, number


def statuses(received: list) -> list[str]:  # type: ignore[type-arg]
    return [dict(r.form)["MessageStatus"] for r in received]


def test_delivered_message_sends_sent_then_delivered(herald: Herald, receiver: Receiver) -> None:
    account, client, number = setup(herald)
    url = f"{receiver.url}/status?case=ok"
    message = client.messages.create(
        to="+14155550123", from_=number, body="hello", status_callback=url
    )
    got = receiver.wait_for(2, timeout=10)
    assert statuses(got) == ["sent", "delivered"]
    validator = RequestValidator(account.auth_token)  # type: ignore[attr-defined]
    for request in got:
        form = dict(request.form)
        assert validator.validate(url, form, request.headers["x-twilio-signature"])
        assert form["MessageSid"] == form["SmsSid"] == message.sid
        assert form["AccountSid"] == account.sid  # type: ignore[attr-defined]
        assert form["From"] == number and form["To"] == "+14155550123"
        assert form["ApiVersion"] == "2010-04-01"
        assert "ErrorCode" not in form
    assert [r.headers["x-herald-sequence"] for r in got] == ["1", "2"]
    assert "RawDlrDoneDate" in dict(got[1].form)
    final = client.messages(message.sid).fetch()
    assert final.status == "delivered"
    assert final.date_sent is not None
    assert final.price == "-0.00790" and final.price_unit == "USD"


def test_undelivered_reports_the_carrier_error(herald: Herald, receiver: Receiver) -> None:
    _, client, number = setup(herald)
    message = client.messages.create(
        to="+14155553007", from_=number, body="spam?", status_callback=f"{receiver.url}/s"
    )
    got = receiver.wait_for(2, timeout=10)
    assert statuses(got) == ["sent", "undelivered"]
    assert dict(got[1].form)["ErrorCode"] == "30007"
    final = client.messages(message.sid).fetch()
    assert (final.status, final.error_code) == ("undelivered", 30007)
    assert final.error_message == "Message filtered"


def test_multi_segment_message_is_priced_per_segment(herald: Herald, receiver: Receiver) -> None:
    _, client, number = setup(herald)
    message = client.messages.create(
        to="+14155550124", from_=number, body="x" * 200, status_callback=f"{receiver.url}/s"
    )
    receiver.wait_for(2, timeout=10)
    final = client.messages(message.sid).fetch()
    assert final.num_segments == "2" and final.price == "-0.01580"


def test_redact_and_delete_once_delivered(herald: Herald, receiver: Receiver) -> None:
    _, client, number = setup(herald)
    message = client.messages.create(
        to="+14155550125", from_=number, body="secret", status_callback=f"{receiver.url}/s"
    )
    receiver.wait_for(2, timeout=10)
    assert client.messages(message.sid).update(body="").body == ""
    assert client.messages(message.sid).delete() is True


def test_date_sent_filter_finds_sent_messages(herald: Herald, receiver: Receiver) -> None:
    _, client, number = setup(herald)
    message = client.messages.create(
        to="+14155550126", from_=number, body="today", status_callback=f"{receiver.url}/s"
    )
    receiver.wait_for(2, timeout=10)
    sent = client.messages(message.sid).fetch().date_sent
    found = client.messages.list(date_sent=sent, from_=number)
    assert [m.sid for m in found] == [message.sid]
    assert client.messages.list(date_sent_before=sent.replace(year=2000), from_=number) == []


def test_metrics_show_queues_and_statuses(herald: Herald, receiver: Receiver) -> None:
    _, client, number = setup(herald)
    client.messages.create(
        to="+14155550127", from_=number, body="m", status_callback=f"{receiver.url}/s"
    )
    receiver.wait_for(2, timeout=10)
    text = herald.metrics()
    assert 'herald_messages_total{status="delivered"}' in text
    depth = rf'herald_queue_depth_segments{{address="\{number}",sender="PN\w{{32}}"}} 0.0'
    assert re.search(depth, text), text
    assert "herald_submit_seconds_bucket" in text
    assert 'herald_callbacks_total{result="delivered"}' in text
