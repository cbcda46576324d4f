"""Inbound messages to a number in a Messaging Service (§10.1, §11.2, §6.4): whose webhook
is called, an opt-out that blocks the whole service but not the account's other numbers,
and the Sticky Sender mapping a text creates."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from twilio.base.exceptions import TwilioRestException

from tests.conftest import Herald
from tests.inbound.tenant import EMPTY_TWIML, XML, Tenant, handset, number
from tests.webhooks.receiver import Receiver, Reply


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as r:
        r.always(Reply(headers=XML, body=EMPTY_TWIML))
        yield r


def test_the_service_webhook_unless_it_defers_to_the_number(
    herald: Herald, receiver: Receiver
) -> None:
    t = Tenant(herald, inbound_request_url=f"{receiver.url}/service")
    ours = t.pooled(sms_url=f"{receiver.url}/number")
    phone = handset()
    first = t.text(phone, ours, "to the service")
    assert first["messaging_service_sid"] == t.service.sid
    assert t.client.messages(first["sid"]).fetch().messaging_service_sid == t.service.sid
    hook = receiver.wait_for(1)[0]
    form = dict(hook.form)
    assert hook.path == "/service"
    assert (form["MessageSid"], form["MessagingServiceSid"]) == (first["sid"], t.service.sid)

    t.client.messaging.v1.services(t.service.sid).update(use_inbound_webhook_on_number=True)
    second = t.text(phone, ours, "to the number")
    got = receiver.wait_for(2)
    assert [(r.path, dict(r.form)["MessageSid"]) for r in got] == [
        ("/service", first["sid"]),
        ("/number", second["sid"]),
    ]
    assert dict(got[1].form)["MessagingServiceSid"] == t.service.sid


def test_the_service_fallback_url_when_its_webhook_fails(
    herald: Herald, receiver: Receiver
) -> None:
    receiver.route("/broken", Reply(status=500))
    t = Tenant(
        herald, inbound_request_url=f"{receiver.url}/broken", fallback_url=f"{receiver.url}/fb"
    )
    ours = t.pooled(sms_url=f"{receiver.url}/number", sms_fallback_url=f"{receiver.url}/nfb")
    inbound = t.text(handset(), ours, "anyone?")
    got = receiver.wait_for(2, timeout=10)
    assert [r.path for r in got] == ["/broken", "/fb"]
    fallback = dict(got[1].form)
    assert fallback["MessageSid"] == inbound["sid"]
    assert (fallback["ErrorCode"], fallback["ErrorUrl"]) == ("11200", f"{receiver.url}/broken")


def _refused(t: Tenant, to: str, **params: str) -> tuple[int, int]:
    with pytest.raises(TwilioRestException) as refused:
        t.send(to, **params)
    return refused.value.status, refused.value.code


def test_stop_to_one_number_blocks_the_whole_service_only(herald: Herald) -> None:
    t = Tenant(herald)
    first, second = t.pooled(), t.pooled()
    outside = t.own()
    phone = handset()
    t.text(phone, first, "STOP")
    confirmation = t.reply_to(phone)
    assert confirmation.from_ == first
    assert confirmation.body.startswith("You have successfully been unsubscribed")

    assert _refused(t, phone, from_=second) == (400, 21610)
    assert _refused(t, phone) == (400, 21610)  # through the service
    assert _refused(t, phone, from_=first) == (400, 21610)
    allowed = t.send(phone, from_=outside, body="from outside the service")
    assert t.settled(allowed.sid).from_ == outside

    t.text(phone, second, "start")  # to another number of the same service
    back = t.settled(t.send(phone, body="welcome back").sid)
    assert back.from_ in (first, second)
    assert t.settled(t.send(phone, from_=first).sid).status == "delivered"


def test_a_texter_keeps_the_number_they_texted(herald: Herald) -> None:
    t = Tenant(herald)
    local = t.pooled(number("646"))  # Area Code Geomatch would pick this one
    texted = t.pooled(number("415"))
    phone = handset("646")
    t.text(phone, texted, "hi")
    mapping = t.get(f"/v1/Services/{t.service.sid}/StickyMappings/{phone}")
    assert mapping.status_code == 200, mapping.text
    assert mapping.json()["sender_sid"] == t.sids[texted]
    sent = t.settled(t.send(phone).sid)
    assert sent.from_ == texted

    stranger = handset("646")  # never texted: geomatch decides
    assert t.settled(t.send(stranger).sid).from_ == local


def test_no_mapping_without_sticky_sender(herald: Herald) -> None:
    t = Tenant(herald, sticky_sender=False)
    phone = handset()
    t.text(phone, t.pooled(), "hi")
    mapping = t.get(f"/v1/Services/{t.service.sid}/StickyMappings/{phone}")
    assert mapping.status_code == 404


def test_a_text_moves_the_mapping_but_not_a_pinned_one(herald: Herald) -> None:
    t = Tenant(herald)
    local = t.pooled(number("646"))
    texted = t.pooled(number("415"))
    mappings = f"/v1/Services/{t.service.sid}/StickyMappings"
    phone = handset("646")
    assert t.settled(t.send(phone).sid).from_ == local  # mapped to `local` by the send
    t.text(phone, texted, "hi")
    assert t.get(f"{mappings}/{phone}").json()["sender_sid"] == t.sids[texted]
    assert t.settled(t.send(phone).sid).from_ == texted

    pinned = handset("646")
    answer = t.post(f"{mappings}/{pinned}", data={"SenderSid": t.sids[local]})
    assert answer.status_code == 200 and answer.json()["pinned"] is True
    t.text(pinned, texted, "hi")
    kept = t.get(f"{mappings}/{pinned}").json()
    assert (kept["sender_sid"], kept["pinned"]) == (t.sids[local], True)
    assert t.settled(t.send(pinned).sid).from_ == local
