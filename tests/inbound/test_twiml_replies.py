"""What a webhook's answer makes: TwiML `<Message>`s and `<Redirect>`s, a plain-text reply,
replies refused by the loop guard (14107), and alerts for what cannot be sent."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.conftest import Herald, eventually
from tests.inbound.test_two_way_e2e import XML, Setup, handset
from tests.webhooks.receiver import Receiver, Reply


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as r:
        yield r


def alerts(s: Setup) -> list[int]:
    found = httpx.get(
        f"{s.herald.base_url}/v1/Alerts",
        auth=(s.account.sid, s.account.auth_token),  # type: ignore[attr-defined]
    ).json()["alerts"]
    return sorted(int(a["error_code"]) for a in found)


def replies(s: Setup) -> list[Any]:
    return [m for m in s.client.messages.list() if m.direction == "outbound-reply"]


def test_redirect_and_several_messages(herald: Herald, receiver: Receiver) -> None:
    receiver.route(
        "/first",
        Reply(headers=XML, body=b"<Response><Message>one</Message><Redirect>second</Redirect>"
              b"<Message>ignored after the redirect</Message></Response>"),
    )  # fmt: skip
    receiver.route(
        "/second",
        Reply(headers=XML, body=b"<Response><Message to='+14155550155'><Body>two</Body>"
              b"<Media>https://e.com/a.png</Media></Message></Response>"),
    )  # fmt: skip
    s = Setup(herald, sms_url=f"{receiver.url}/first")
    phone = handset()
    s.text(phone, "hi")
    made = eventually(lambda: len(replies(s)) == 2 and replies(s))
    by_body = {m.body: m for m in made}
    assert set(by_body) == {"one", "two"}
    assert by_body["one"].to == phone
    assert by_body["two"].to == "+14155550155" and by_body["two"].num_media == "1"
    assert [r.path for r in receiver.wait_for(2)][:2] == ["/first", "/second"]
    assert dict(receiver.requests[1].form)["Body"] == "hi"  # the redirect carries the form


def test_plain_text_is_one_reply(herald: Herald, receiver: Receiver) -> None:
    receiver.route("/sms", Reply(headers=(("Content-Type", "text/plain"),), body=b" Noted! "))
    s = Setup(herald, sms_url=f"{receiver.url}/sms")
    s.text(handset(), "hi")
    [reply] = eventually(lambda: replies(s))
    assert reply.body == "Noted!" and reply.from_ == s.number


def test_unusable_to_and_from_are_alerts_not_messages(herald: Herald, receiver: Receiver) -> None:
    receiver.route(
        "/sms",
        Reply(headers=XML, body=b"<Response><Message from='+19995550100'>x</Message>"
              b"<Message to='not a number'>y</Message><Message>ok</Message></Response>"),
    )  # fmt: skip
    s = Setup(herald, sms_url=f"{receiver.url}/sms")
    s.text(handset(), "hi")
    eventually(lambda: alerts(s) == [14101, 14102])
    assert [m.body for m in replies(s)] == ["ok"]


def test_an_unsupported_content_type_and_no_answer_are_alerts(
    herald: Herald, receiver: Receiver
) -> None:
    receiver.route("/json", Reply(headers=(("Content-Type", "application/json"),), body=b"{}"))
    s = Setup(herald, sms_url=f"{receiver.url}/json")
    s.text(handset(), "hi")
    eventually(lambda: alerts(s) == [12300])
    assert replies(s) == []


def test_the_reply_loop_guard_fails_the_31st_reply_within_30_seconds(
    herald: Herald, receiver: Receiver
) -> None:
    receiver.route("/sms", Reply(headers=XML, body=b"<Response><Message>auto</Message></Response>"))
    s = Setup(herald, sms_url=f"{receiver.url}/sms")
    phone = handset()
    for n in range(31):
        assert s.text(phone, f"ping {n}").status_code == 201
    made = eventually(lambda: len(replies(s)) == 31 and replies(s))
    failed = [m for m in made if m.status == "failed"]
    assert [(m.error_code, m.to) for m in failed] == [(14107, phone)]


def test_a_nul_in_a_plain_text_reply_is_an_alert_not_a_stuck_webhook(
    herald: Herald, receiver: Receiver
) -> None:
    plain = (("Content-Type", "text/plain"),)
    receiver.route("/sms", Reply(headers=plain, body=b"bad\x00reply"))
    s = Setup(herald, sms_url=f"{receiver.url}/sms")
    s.text(handset(), "hi")
    eventually(lambda: alerts(s) == [14103])
    assert replies(s) == []
    assert receiver.count == 1  # answered, recorded: not called again
