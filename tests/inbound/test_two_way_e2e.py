"""End to end on loopback, the official `twilio` client as the application: a simulated
handset texts a number, the signed webhook reaches a real local receiver, its TwiML reply
goes out through the normal outbound path, and opt-out keywords govern every later send."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from twilio.base.exceptions import TwilioRestException
from twilio.request_validator import RequestValidator

from tests.conftest import Herald, eventually
from tests.inbound import tenant
from tests.webhooks.receiver import Receiver, Reply

_numbers = itertools.count(3000)
XML = (("Content-Type", "text/xml"),)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as r:
        yield r


def handset() -> str:
    """A New York handset in the range the simulator always delivers to (`tenant`)."""
    return tenant.handset("212")


class Setup:
    def __init__(self, herald: Herald, **number: Any) -> None:
        self.herald = herald
        self.account = herald.account()
        self.client = herald.client(self.account)
        self.number = f"+1415556{next(_numbers):04d}"
        self.pn = self.client.incoming_phone_numbers.create(phone_number=self.number, **number)

    def text(self, from_: str, body: str, **extra: str) -> httpx.Response:
        """A handset texts our number through the simulator's endpoint."""
        return httpx.post(
            f"{self.herald.base_url}/herald/v1/Simulator/Inbound",
            data={"From": from_, "To": self.number, "Body": body, **extra},
            auth=(self.account.sid, self.account.auth_token),  # type: ignore[attr-defined]
        )

    def submitted_to(self, to: str) -> list[str]:
        """The messages the simulated carrier received for `to`, from its own log."""
        query = text("SELECT DISTINCT message_sid FROM simulator_submissions WHERE recipient = :to")
        return self.herald.runtime.db.run(
            lambda conn: [sid for (sid,) in conn.execute(query, {"to": to})]
        )

    def outbound_to(self, to: str) -> list[Any]:
        return [m for m in self.client.messages.list(to=to) if m.direction != "inbound"]


def test_inbound_webhook_twiml_reply_and_callbacks(herald: Herald, receiver: Receiver) -> None:
    twiml = (
        b'<?xml version="1.0" encoding="UTF-8"?><Response>'
        b'<Message action="' + receiver.url.encode() + b'/status">Thanks, got it</Message>'
        b"</Response>"
    )
    receiver.route("/sms", Reply(headers=XML, body=twiml))
    s = Setup(herald, sms_url=f"{receiver.url}/sms")
    phone = handset()
    answer = s.text(phone, "hello there")
    assert answer.status_code == 201, answer.text
    inbound = answer.json()
    assert inbound["direction"] == "inbound" and inbound["status"] == "received"
    assert inbound["price"] == "-0.00750" and inbound["from"] == phone

    got = receiver.wait_for(3, timeout=15)  # the webhook, then the reply's sent, delivered
    hook = next(r for r in got if r.path == "/sms")
    form = dict(hook.form)
    validator = RequestValidator(s.account.auth_token)  # type: ignore[attr-defined]
    assert validator.validate(f"{receiver.url}/sms", form, hook.headers["x-twilio-signature"])
    assert form["MessageSid"] == form["SmsSid"] == form["SmsMessageSid"] == inbound["sid"]
    assert (form["From"], form["To"], form["Body"]) == (phone, s.number, "hello there")
    assert form["SmsStatus"] == "received" and form["NumMedia"] == "0"
    assert (form["FromCountry"], form["FromState"], form["FromCity"]) == ("US", "NY", "New York")
    assert "OptOutType" not in form
    assert hook.headers["i-twilio-idempotency-token"]

    reply = eventually(lambda: _only(s.outbound_to(phone)))
    assert reply.direction == "outbound-reply"
    assert (reply.from_, reply.body) == (s.number, "Thanks, got it")
    statuses = [dict(r.form)["MessageStatus"] for r in got if r.path == "/status"]
    assert statuses == ["sent", "delivered"]
    final = eventually(lambda: _status(s, reply.sid, "delivered"))
    assert final.status == "delivered"


def test_fallback_url_on_invalid_twiml_with_an_alert(herald: Herald, receiver: Receiver) -> None:
    receiver.route("/bad", Reply(headers=XML, body=b"<Nope>not twiml"))
    fallback_twiml = b"<Response><Message>From fallback</Message></Response>"
    receiver.route("/fallback", Reply(headers=XML, body=fallback_twiml))
    s = Setup(herald, sms_url=f"{receiver.url}/bad", sms_fallback_url=f"{receiver.url}/fallback")
    phone = handset()
    assert s.text(phone, "hi").status_code == 201
    got = receiver.wait_for(2, timeout=10)
    fallback = dict(got[1].form)
    assert got[1].path == "/fallback"
    assert fallback["ErrorCode"] == "12100" and fallback["ErrorUrl"] == f"{receiver.url}/bad"
    reply = eventually(lambda: _only(s.outbound_to(phone)))
    assert reply.body == "From fallback"
    alerts = httpx.get(
        f"{herald.base_url}/v1/Alerts",
        auth=(s.account.sid, s.account.auth_token),  # type: ignore[attr-defined]
    ).json()["alerts"]
    assert [int(a["error_code"]) for a in alerts] == [12100]


def test_unreachable_webhook_is_retried_with_the_same_token(
    herald: Herald, receiver: Receiver
) -> None:
    receiver.plan(Reply(status=500))
    s = Setup(herald, sms_url=f"{receiver.url}/sms")
    assert s.text(handset(), "anyone?").status_code == 201
    got = receiver.wait_for(2, timeout=15)
    tokens = {r.headers["i-twilio-idempotency-token"] for r in got}
    assert len(tokens) == 1
    assert [r.reply.status for r in got[:2]] == [500, 200]


def test_stop_blocks_sends_then_start_allows_them(herald: Herald, receiver: Receiver) -> None:
    s = Setup(herald, sms_url=f"{receiver.url}/sms")
    phone = handset()
    assert s.text(phone, " Stop ").status_code == 201
    confirmation = eventually(lambda: _only(s.outbound_to(phone)))
    assert confirmation.body.startswith("You have successfully been unsubscribed")
    delivered = eventually(lambda: _status(s, confirmation.sid, "delivered"))
    assert delivered.price == "0.00000"  # keyword replies are free
    with pytest.raises(TwilioRestException) as refused:
        s.client.messages.create(to=phone, from_=s.number, body="sale!")
    assert (refused.value.status, refused.value.code) == (400, 21610)
    assert s.submitted_to(phone) == [confirmation.sid]  # nothing else reached the carrier
    since = (datetime.now(UTC) - timedelta(days=396)).replace(microsecond=0)
    stops = s.client.messages.list(to=s.number, date_sent_after=since)
    assert [(m.from_, m.body, m.direction) for m in stops] == [(phone, " Stop ", "inbound")]

    assert s.text(phone, "start").status_code == 201
    sent = s.client.messages.create(to=phone, from_=s.number, body="welcome back")
    assert eventually(lambda: _status(s, sent.sid, "delivered")).status == "delivered"


def test_help_is_answered_and_the_webhook_still_called(herald: Herald, receiver: Receiver) -> None:
    s = Setup(herald, sms_url=f"{receiver.url}/sms")
    phone = handset()
    s.text(phone, "HELP")
    reply = eventually(lambda: _only(s.outbound_to(phone)))
    assert reply.body == "Reply STOP to unsubscribe. Msg&Data Rates May Apply."
    assert dict(receiver.wait_for(1)[0].form)["Body"] == "HELP"


def test_redelivered_carrier_message_is_stored_once(herald: Herald, receiver: Receiver) -> None:
    s = Setup(herald, sms_url=f"{receiver.url}/sms")
    phone = handset()
    first = s.text(phone, "STOP", CarrierMessageId="carrier-42").json()
    again = s.text(phone, "STOP", CarrierMessageId="carrier-42").json()
    assert first["sid"] == again["sid"]
    assert len(s.client.messages.list(from_=phone)) == 1
    receiver.wait_for(1)
    eventually(lambda: _only(s.outbound_to(phone)))
    assert len(s.outbound_to(phone)) == 1


def test_text_to_a_number_of_another_account_is_refused(herald: Herald) -> None:
    s = Setup(herald)
    other = herald.account()
    answer = httpx.post(
        f"{herald.base_url}/herald/v1/Simulator/Inbound",
        data={"From": handset(), "To": s.number, "Body": "hi"},
        auth=(other.sid, other.auth_token),  # type: ignore[attr-defined]
    )
    assert answer.status_code == 404 and answer.json()["code"] == 21606


def _only(items: list[Any]) -> Any:
    """The one item, or None (not yet) for `eventually`; more than one fails at once."""
    assert len(items) <= 1, items
    return items[0] if items else None


def _status(s: Setup, sid: str, wanted: str) -> Any:
    message = s.client.messages(sid).fetch()
    return message if message.status == wanted else None


def test_inbound_media_are_listed_and_sent_to_the_webhook(
    herald: Herald, receiver: Receiver
) -> None:
    s = Setup(herald, sms_url=f"{receiver.url}/sms")
    urls = ["https://e.com/a.jpg", "https://e.com/b.png"]
    made = httpx.post(
        f"{herald.base_url}/herald/v1/Simulator/Inbound",
        data={"From": handset(), "To": s.number, "Body": "", "MediaUrl": urls},
        auth=(s.account.sid, s.account.auth_token),  # type: ignore[attr-defined]
    ).json()
    assert made["num_media"] == "2" and made["sid"].startswith("MM")
    media = s.client.messages(made["sid"]).media.list()
    assert sorted((m.content_type, m.parent_sid) for m in media) == [
        ("image/jpeg", made["sid"]),
        ("image/png", made["sid"]),
    ]
    form = dict(receiver.wait_for(1)[0].form)
    assert (form["NumMedia"], form["MediaUrl0"], form["MediaContentType1"]) == (
        "2",
        urls[0],
        "image/png",
    )
