"""Sending through a Messaging Service, end to end with the official client: the API
answers `accepted` with no sender, the router picks one of the pool, the message goes
`queued` (with its callback) and on, and `Routing.json` explains the choice."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select, update
from twilio.base.exceptions import TwilioRestException
from twilio.rest import Client

from herald.carriers.network import price_of
from herald.domain.status import MessageStatus
from herald.store import messages as message_store
from herald.store.schema import sticky_mappings
from tests.api.test_spec import MESSAGES, assert_matches_spec
from tests.conftest import JPEG, Herald, eventually
from tests.store.test_records import message
from tests.webhooks.receiver import Receiver, Reply

SETTINGS = {"schedule_min_s": 1}  # SendAt 4 s ahead: 3 s of slack on a loaded machine
_numbers = itertools.count(3000)
_codes = itertools.count(51000)
FINAL = ("delivered", "sent", "undelivered", "failed")


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as r:
        yield r


def number(area: str = "415") -> str:
    return f"+1{area}555{next(_numbers):04d}"


class Pool:
    """An account with a service and a helper to add senders to its pool."""

    def __init__(self, herald: Herald, **options: Any) -> None:
        self.herald = herald
        self.account = herald.account()
        self.client: Client = herald.client(self.account)
        self.service = self.client.messaging.v1.services.create(friendly_name="pool", **options)

    def add_number(self, phone: str) -> str:
        pn = self.client.incoming_phone_numbers.create(phone_number=phone)
        self.client.messaging.v1.services(self.service.sid).phone_numbers.create(
            phone_number_sid=pn.sid
        )
        return pn.sid

    def add_short_code(self, code: str, country: str = "US") -> str:
        response = httpx.post(
            self.herald.url(self.account, "SMS/ShortCodes.json"),
            data={"ShortCode": code, "IsoCountry": country},
            auth=(self.account.sid, self.account.auth_token),
        )
        assert response.status_code == 201, response.text
        sid: str = response.json()["sid"]
        self.client.messaging.v1.services(self.service.sid).short_codes.create(short_code_sid=sid)
        return sid

    def add_alpha(self, alpha: str, registered_in: str = "") -> str:
        if not registered_in:  # the official client has no RegisteredIn (Herald's extension)
            added = self.client.messaging.v1.services(self.service.sid).alpha_senders.create(
                alpha_sender=alpha
            )
            return str(added.sid)
        data = {"AlphaSender": alpha, "RegisteredIn": registered_in}
        response = httpx.post(
            f"{self.herald.base_url}/v1/Services/{self.service.sid}/AlphaSenders",
            data=data,
            auth=(self.account.sid, self.account.auth_token),
        )
        assert response.status_code == 201, response.text
        sid: str = response.json()["sid"]
        return sid

    def send(self, to: str, body: str = "hello", **params: Any) -> Any:
        return self.client.messages.create(
            to=to, messaging_service_sid=self.service.sid, body=body, **params
        )

    def settled(self, sid: str, statuses: tuple[str, ...] = ("delivered",)) -> Any:
        return eventually(lambda: (m := self.client.messages(sid).fetch()).status in statuses and m)

    def routing(self, sid: str) -> dict[str, Any]:
        response = httpx.get(
            self.herald.url(self.account, f"Messages/{sid}/Routing.json"),
            auth=(self.account.sid, self.account.auth_token),
        )
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body


def test_service_send_is_accepted_then_routed_queued_and_delivered(
    herald: Herald, receiver: Receiver
) -> None:
    pool = Pool(herald, status_callback=f"{receiver.url}/service")
    local = number("415")
    pool.add_number(number("212"))
    pool.add_number(local)
    message = pool.send("+14155550199")
    assert message.status == "accepted"
    assert message.from_ is None
    assert message.num_segments == "0"
    assert message.messaging_service_sid == pool.service.sid
    final = pool.settled(message.sid)
    assert final.from_ == local  # Area Code Geomatch
    assert final.num_segments == "1"
    got = receiver.wait_for(3, timeout=10)
    assert [dict(r.form)["MessageStatus"] for r in got] == ["queued", "sent", "delivered"]
    assert all(dict(r.form)["From"] == local for r in got)
    assert all(dict(r.form)["MessagingServiceSid"] == pool.service.sid for r in got)
    explained = pool.routing(message.sid)
    decision = explained["decision"]
    assert decision["rule"] == "area_code_geomatch"
    assert decision["sender"]["address"] == local
    assert [r["reason"] for r in decision["rejected"]] == [
        "not the recipient's area code or an overlay of it"
    ]
    metrics = herald.metrics()
    assert 'herald_routing_decisions_total{rule="area_code_geomatch"}' in metrics


def test_from_mg_sid_is_the_service_and_short_code_wins(herald: Herald) -> None:
    pool = Pool(herald)
    pool.add_number(number())
    code = str(next(_codes))
    pool.add_short_code(code)
    message = pool.client.messages.create(to="+14155550142", from_=pool.service.sid, body="hi")
    assert message.status == "accepted" and message.from_ is None
    final = pool.settled(message.sid)
    assert final.from_ == code
    assert pool.routing(message.sid)["decision"]["rule"] == "short_code"


def test_sticky_sender_keeps_the_sender_and_mappings_are_visible(herald: Herald) -> None:
    pool = Pool(herald, area_code_geomatch=False)
    first, second = number("303"), number("720")
    sids = {pool.add_number(first): first, pool.add_number(second): second}
    recipient = "+16175550111"
    sent = [pool.settled(pool.send(recipient).sid).from_ for _ in range(3)]
    assert len(set(sent)) == 1
    auth = (pool.account.sid, pool.account.auth_token)
    base = f"{herald.base_url}/v1/Services/{pool.service.sid}/StickyMappings"
    listed = httpx.get(base, auth=auth).json()
    assert listed["meta"]["key"] == "sticky_mappings"
    assert [(m["to"], sids[m["sender_sid"]]) for m in listed["sticky_mappings"]] == [
        (recipient, sent[0])
    ]
    other_sid = next(sid for sid, n in sids.items() if n != sent[0])
    pinned = httpx.post(f"{base}/{recipient}", data={"SenderSid": other_sid}, auth=auth)
    assert pinned.status_code == 200 and pinned.json()["pinned"] is True
    moved = pool.settled(pool.send(recipient).sid)
    assert moved.from_ == sids[other_sid]
    assert pool.routing(moved.sid)["decision"]["rule"] == "sticky_sender"
    assert httpx.delete(f"{base}/{recipient}", auth=auth).status_code == 204
    assert httpx.get(f"{base}/{recipient}", auth=auth).status_code == 404
    bad = httpx.post(f"{base}/{recipient}", data={"SenderSid": "PN" + "0" * 32}, auth=auth)
    assert bad.status_code == 400 and bad.json()["code"] == 20001


def test_no_sender_for_the_recipient_fails_with_21703(herald: Herald, receiver: Receiver) -> None:
    pool = Pool(herald, status_callback=f"{receiver.url}/s")
    pool.add_short_code(str(next(_codes)))  # a US short code cannot reach France
    message = pool.send("+33612345678")
    final = pool.settled(message.sid, ("failed",))
    assert final.error_code == 21703
    got = receiver.wait_for(1, timeout=10)
    assert dict(got[0].form)["MessageStatus"] == "failed"
    assert dict(got[0].form)["ErrorCode"] == "21703"
    decision = pool.routing(message.sid)["decision"]
    assert decision["sender"] is None and decision["error_code"] == 21703
    assert decision["rejected"][0]["reason"] == "short code of another country"


def test_empty_pool_fails_with_21704(herald: Herald) -> None:
    pool = Pool(herald)
    final = pool.settled(pool.send("+14155550100").sid, ("failed",))
    assert final.error_code == 21704


def test_alpha_sender_abroad_and_preregistration_alert(herald: Herald) -> None:
    pool = Pool(herald)
    pool.add_number(number())
    pool.add_alpha("Herald")
    final = pool.settled(pool.send("+447400123456").sid, FINAL)
    assert final.from_ == "Herald"
    assert pool.routing(final.sid)["decision"]["rule"] == "alpha_sender"
    # India needs pre-registration: the unregistered ID still sends, and raises 30018.
    sent = pool.settled(pool.send("+919812345678").sid, FINAL)
    assert sent.from_ == "Herald"
    assert pool.routing(sent.sid)["decision"]["alert_code"] == 30018
    auth = (pool.account.sid, pool.account.auth_token)
    alerts = httpx.get(f"{herald.base_url}/v1/Alerts", auth=auth).json()
    assert [(a["error_code"], a["resource_sid"]) for a in alerts["alerts"]] == [("30018", sent.sid)]
    one = httpx.get(alerts["alerts"][0]["url"], auth=auth)
    assert one.status_code == 200 and one.json()["log_level"] == "warning"


def test_alpha_registered_where_required_raises_no_alert(herald: Herald) -> None:
    pool = Pool(herald)
    pool.add_alpha("Herald", registered_in="IN,AE")
    sent = pool.settled(pool.send("+919812345678").sid, FINAL)
    assert sent.from_ == "Herald"
    assert pool.routing(sent.sid)["decision"]["alert_code"] is None
    auth = (pool.account.sid, pool.account.auth_token)
    assert httpx.get(f"{herald.base_url}/v1/Alerts", auth=auth).json()["alerts"] == []


def test_skip_unregistered_alpha_uses_a_number_instead(herald: Herald) -> None:
    pool = Pool(herald)
    updated = httpx.post(
        f"{herald.base_url}/v1/Services/{pool.service.sid}",
        data={"SkipUnregisteredAlpha": "true"},
        auth=(pool.account.sid, pool.account.auth_token),
    )
    assert updated.json()["skip_unregistered_alpha"] is True
    sender = number()
    pool.add_number(sender)
    pool.add_alpha("Herald")
    sent = pool.settled(pool.send("+919812345678").sid, FINAL)
    assert sent.from_ == sender
    assert pool.routing(sent.sid)["decision"]["rule"] == "us_number_fallback"


def test_unknown_service_is_21701(herald: Herald) -> None:
    pool = Pool(herald)
    with pytest.raises(TwilioRestException) as raised:
        pool.client.messages.create(
            to="+14155550100", messaging_service_sid="MG" + "0" * 32, body="x"
        )
    assert raised.value.code == 21701 and raised.value.status == 404


def _at(seconds: float) -> datetime:
    return datetime.now(UTC) + timedelta(seconds=seconds)


def test_scheduled_message_waits_then_is_routed(herald: Herald, receiver: Receiver) -> None:
    pool = Pool(herald, status_callback=f"{receiver.url}/s")
    sender = number()
    pool.add_number(sender)
    message = pool.send("+14155550177", schedule_type="fixed", send_at=_at(4))
    assert message.status == "scheduled"
    assert pool.client.messages(message.sid).fetch().status == "scheduled"
    final = eventually(
        lambda: (m := pool.client.messages(message.sid).fetch()).status == "delivered" and m,
        timeout=15,
    )
    assert final.from_ == sender
    got = receiver.wait_for(3, timeout=10)
    assert [dict(r.form)["MessageStatus"] for r in got] == ["queued", "sent", "delivered"]


def test_scheduled_message_can_be_canceled(herald: Herald, receiver: Receiver) -> None:
    pool = Pool(herald, status_callback=f"{receiver.url}/s")
    pool.add_number(number())
    message = pool.send("+14155550178", schedule_type="fixed", send_at=_at(600))
    canceled = pool.client.messages(message.sid).update(status="canceled")
    assert canceled.status == "canceled"
    got = receiver.wait_for(1, timeout=10)
    assert dict(got[0].form)["MessageStatus"] == "canceled"
    with pytest.raises(TwilioRestException) as raised:
        pool.client.messages(message.sid).update(status="canceled")
    assert raised.value.code == 30409


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"schedule_type": "fixed"}, 35111),
        ({"schedule_type": "fixed", "send_at": _at(0.5)}, 35114),
        ({"schedule_type": "fixed", "send_at": _at(36 * 86400)}, 35115),
        ({"schedule_type": "fixed", "send_at": "next tuesday"}, 35117),
        ({"schedule_type": "later", "send_at": _at(600)}, 35126),
    ],
)
def test_bad_schedules_are_refused(herald: Herald, params: dict[str, Any], code: int) -> None:
    pool = Pool(herald)
    with pytest.raises(TwilioRestException) as raised:
        pool.send("+14155550100", **params)
    assert raised.value.code == code and raised.value.status == 400
    assert list(pool.client.messages.list()) == []


def test_scheduling_needs_a_service(herald: Herald) -> None:
    pool = Pool(herald)
    sender = number()
    pool.client.incoming_phone_numbers.create(phone_number=sender)
    with pytest.raises(TwilioRestException) as raised:
        pool.client.messages.create(
            to="+14155550100", from_=sender, body="x", schedule_type="fixed", send_at=_at(600)
        )
    assert raised.value.code == 35118


def test_preview_sends_nothing(herald: Herald) -> None:
    pool = Pool(herald)
    local = number("415")
    pool.add_number(number("212"))
    pool.add_number(local)
    auth = (pool.account.sid, pool.account.auth_token)
    response = httpx.post(
        f"{herald.base_url}/v1/Services/{pool.service.sid}/Preview",
        data={"To": "+14155550100", "Body": "Hello \u201cworld\u201d"},
        auth=auth,
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["from"] == local
    assert body["body"] == 'Hello "world"'  # Smart Encoding is on by default
    assert body["encoding"] == "GSM-7" and body["num_segments"] == "1"
    assert body["routing"]["rule"] == "area_code_geomatch"
    assert body["queue_wait_s"] == 0
    assert body["price"] == "-0.00790"
    assert list(pool.client.messages.list()) == []
    mms = {"To": "+447400123456", "Body": "Look", "MediaUrl": "https://example.com/a.jpg"}
    converted = httpx.post(
        f"{herald.base_url}/v1/Services/{pool.service.sid}/Preview", data=mms, auth=auth
    ).json()
    assert converted["mms_converted"] is True
    assert converted["body"].startswith("Look\n" + herald.runtime.settings.link_base + "/m/")
    assert converted["price"] == "-" + price_of("GB", is_mms=False)
    missing = httpx.post(
        f"{herald.base_url}/v1/Services/{pool.service.sid}/Preview", data={"Body": "x"}, auth=auth
    )
    assert missing.status_code == 400 and missing.json()["code"] == 21604


def test_accepted_and_scheduled_messages_match_the_spec(herald: Herald) -> None:
    pool = Pool(herald)
    pool.add_number(number())
    auth = (pool.account.sid, pool.account.auth_token)
    url = herald.url(pool.account, "Messages.json")
    form = {"To": "+14155550100", "MessagingServiceSid": pool.service.sid, "Body": "hi"}
    accepted = httpx.post(url, data=form, auth=auth)
    assert accepted.status_code == 201
    assert accepted.json()["status"] == "accepted"
    assert_matches_spec(accepted.json(), MESSAGES, "post", 201)
    later = {**form, "ScheduleType": "fixed", "SendAt": _at(900).strftime("%Y-%m-%dT%H:%M:%SZ")}
    scheduled = httpx.post(url, data=later, auth=auth)
    assert scheduled.status_code == 201
    assert scheduled.json()["status"] == "scheduled"
    assert_matches_spec(scheduled.json(), MESSAGES, "post", 201)


def test_routing_resources_are_private(herald: Herald) -> None:
    owner = Pool(herald)
    owner.add_number(number())
    sent = owner.settled(owner.send("+14155550100").sid)
    other = herald.account()
    auth = (other.sid, other.auth_token)
    base = f"{herald.base_url}/v1/Services/{owner.service.sid}"
    answers = [
        httpx.get(herald.url(other, f"Messages/{sent.sid}/Routing.json"), auth=auth),
        httpx.get(f"{base}/StickyMappings", auth=auth),
        httpx.get(f"{base}/StickyMappings/+14155550100", auth=auth),
        httpx.delete(f"{base}/StickyMappings/+14155550100", auth=auth),
        httpx.post(f"{base}/Preview", data={"To": "+14155550100", "Body": "x"}, auth=auth),
    ]
    assert [(a.status_code, a.json()["code"]) for a in answers] == [(404, 20404)] * 5
    mine = (owner.account.sid, owner.account.auth_token)
    assert len(httpx.get(f"{base}/StickyMappings", auth=mine).json()["sticky_mappings"]) == 1


@pytest.mark.parametrize(("smart", "segments"), [(True, "1"), (False, "2")])
def test_the_service_smart_encoding_setting_applies(
    herald: Herald, smart: bool, segments: str
) -> None:
    pool = Pool(herald, smart_encoding=smart)
    pool.add_number(number())
    body = "\u201cQuoted\u201d " + "x" * 80  # GSM-7 once smart-encoded, else UCS-2
    final = pool.settled(pool.send("+14155550100", body=body).sid)
    assert final.num_segments == segments
    # The message's own SmartEncoded wins over the service's.
    override = pool.settled(pool.send("+14155550100", body=body, smart_encoded=not smart).sid)
    assert override.num_segments == ("2" if smart else "1")


def test_a_large_pool_is_explained_in_counts(herald: Herald) -> None:
    pool = Pool(herald)
    local = number("415")
    pool.add_number(local)
    for _ in range(24):
        pool.add_number(number("212"))
    sent = pool.settled(pool.send("+14155550100").sid)
    decision = pool.routing(sent.sid)["decision"]
    assert sent.from_ == local
    assert decision["pool_size"] == 25 and decision["rejected_total"] == 24
    assert len(decision["rejected"]) == 20
    assert decision["rejected_by_reason"] == [
        {"reason": "not the recipient's area code or an overlay of it", "count": 24}
    ]


def test_a_service_update_applies_to_the_next_send(herald: Herald) -> None:
    pool = Pool(herald)
    pool.add_number(number())
    body = "\u201cQuoted\u201d " + "x" * 80
    assert pool.settled(pool.send("+14155550100", body=body).sid).num_segments == "1"
    pool.client.messaging.v1.services(pool.service.sid).update(smart_encoding=False)
    assert pool.settled(pool.send("+14155550100", body=body).sid).num_segments == "2"
    pool.client.messaging.v1.services(pool.service.sid).delete()
    with pytest.raises(TwilioRestException) as raised:
        pool.send("+14155550100")
    assert raised.value.code == 21701


def test_scheduled_with_from_keeps_that_sender(herald: Herald) -> None:
    pool = Pool(herald)
    pool.add_number(number("415"))
    own = number("212")
    pool.client.incoming_phone_numbers.create(phone_number=own)  # not in the pool
    message = pool.send("+14155550179", from_=own, schedule_type="fixed", send_at=_at(4))
    assert message.status == "scheduled" and message.from_ == own
    final = eventually(
        lambda: (m := pool.client.messages(message.sid).fetch()).status == "delivered" and m,
        timeout=15,
    )
    assert final.from_ == own
    assert pool.routing(final.sid)["decision"]["rule"] == "from_parameter"
    auth = (pool.account.sid, pool.account.auth_token)
    base = f"{herald.base_url}/v1/Services/{pool.service.sid}/StickyMappings"
    assert httpx.get(base, auth=auth).json()["sticky_mappings"] == []


def test_mms_converter_sends_a_link_where_the_carrier_takes_no_mms(
    herald: Herald, receiver: Receiver
) -> None:
    pool = Pool(herald)
    sender = number()
    pool.add_number(sender)
    receiver.route("/cat.jpg", Reply(headers=(("Content-Type", "image/jpeg"),), body=JPEG))
    media = f"{receiver.url}/cat.jpg?token=secret"
    sent = pool.settled(pool.send("+447400123456", media_url=[media]).sid, FINAL)
    assert sent.status in ("delivered", "sent") and sent.from_ == sender  # not 30011
    link = pool.routing(sent.sid)["decision"]["mms_link"]
    assert (
        link.startswith(herald.runtime.settings.link_base + "/m/")
        and len(link.rsplit("/", 1)[1]) == 7
    )
    # Sent and priced as one SMS segment: the body and the link.
    assert sent.num_segments == "1" and sent.num_media == "1"
    assert sent.price == "-" + price_of("GB", is_mms=False)
    followed = httpx.get(f"{herald.base_url}/m/{link.rsplit('/', 1)[1]}")
    assert followed.status_code == 200 and followed.content == JPEG
    assert followed.headers["content-type"] == "image/jpeg"
    assert "secret" not in str(followed.headers)  # the media, not where it lives
    assert httpx.get(f"{herald.base_url}/m/nothing").status_code == 404
    # Without the converter the carrier refuses the MMS (30011).
    plain = Pool(herald, mms_converter=False)
    plain.add_number(number())
    refused = plain.settled(plain.send("+447400123456", media_url=[media]).sid, FINAL)
    assert refused.status in ("failed", "undelivered") and refused.error_code == 30011


def test_a_used_mapping_is_marked_used(herald: Herald) -> None:
    """The year of retention counts from the last use: a sticky hit on a mapping last
    marked over a day ago marks it again."""
    pool = Pool(herald)
    pool.add_number(number())
    to = "+14155550181"
    pool.settled(pool.send(to).sid)
    long_ago = herald.runtime.clock.now_us() - 3 * 86_400_000_000
    with herald.runtime.db.write_engine.begin() as conn:
        conn.execute(
            update(sticky_mappings)
            .where(sticky_mappings.c.to_number == to)
            .values(date_updated=long_ago)
        )
    sent = pool.settled(pool.send(to).sid)
    assert pool.routing(sent.sid)["decision"]["rule"] == "sticky_sender"
    with herald.runtime.db.write_engine.connect() as conn:
        used = conn.execute(
            select(sticky_mappings.c.date_updated).where(sticky_mappings.c.to_number == to)
        ).scalar_one()
    assert used > long_ago + 86_400_000_000


def test_test_credentials_reach_no_v1_resource(herald: Herald) -> None:
    tester = herald.account(test=True)
    auth = (tester.sid, tester.auth_token)
    answers = [
        httpx.get(f"{herald.base_url}/v1/Services", auth=auth),
        httpx.post(f"{herald.base_url}/v1/Services", data={"FriendlyName": "x"}, auth=auth),
        httpx.get(f"{herald.base_url}/v1/Alerts", auth=auth),
    ]
    assert [(a.status_code, a.json()["code"]) for a in answers] == [(403, 20008)] * 3


def test_a_message_that_cannot_be_routed_holds_up_no_other(herald: Herald) -> None:
    """A row no request could have made (its recipient unreadable) fails with 30008; the
    messages routed with it go on."""
    pool = Pool(herald)
    pool.add_number(number())
    now = herald.runtime.clock.now_us()
    poison = message(
        herald.runtime, pool.account.sid, status=MessageStatus.ACCEPTED, from_number=None,
        to_number="+1 not a number", messaging_service_sid=pool.service.sid,
        date_created=now, date_updated=now,
    )  # fmt: skip
    herald.runtime.db.run(lambda conn: message_store.insert_message(conn, poison))
    good = pool.send("+14155550190")
    assert pool.settled(good.sid).status == "delivered"
    failed = pool.settled(poison.sid, ("failed",))
    assert failed.error_code == 30008
