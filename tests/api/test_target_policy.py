"""The webhook target policy on a server left at its default (HERALD_WEBHOOK_ALLOW_PRIVATE
off): a URL whose host is a refused address, in any spelling, is refused when it is set,
with the field's own code; a host name that resolves to one is accepted, then refused
when the callback connects (or an MMS create fetches its media: 21620), and a dead
letter says nothing about the address."""

from __future__ import annotations

import itertools
from typing import Any

import httpx
import pytest

from tests.api.test_service_sending import Pool, number
from tests.conftest import JPEG, Herald, eventually
from tests.webhooks.receiver import Receiver, Reply

SETTINGS = {"webhook_allow_private": False, "callback_max_attempts": 1}

REFUSED = [
    "http://169.254.169.254/latest/meta-data/",
    "http://10.0.0.1/",
    "http://[fd00::1]/",
    "http://2130706433/",
    "http://0x7f000001/",
    "http://0177.0.0.1:8080/cb",
    "http://127.1/",
    "http://[::ffff:127.0.0.1]/",
    "http://100.100.100.200/",
]
_numbers = itertools.count(6000)


def _refused(response: httpx.Response, code: int) -> dict[str, Any]:
    body: dict[str, Any] = response.json()
    assert (response.status_code, body["code"], body["status"]) == (400, code, 400), body
    assert body["more_info"] == f"https://www.twilio.com/docs/errors/{code}"
    return body


@pytest.fixture(scope="module")
def api(herald: Herald) -> Any:
    account = herald.account()
    number = f"+1415555{next(_numbers):04d}"
    with httpx.Client(auth=(account.sid, account.auth_token), timeout=10) as client:
        made = client.post(
            herald.url(account, "IncomingPhoneNumbers.json"), data={"PhoneNumber": number}
        )
        assert made.status_code == 201, made.text
        yield herald, account, client, number, made.json()["sid"]


@pytest.mark.parametrize("url", REFUSED)
def test_messages_refuse_a_literal_refused_address(api: Any, url: str) -> None:
    herald, account, client, number, _ = api
    form = {"To": "+14155550100", "From": number, "Body": "x"}
    messages = herald.url(account, "Messages.json")
    body = _refused(client.post(messages, data={**form, "StatusCallback": url}), 21609)
    assert "does not send to" in body["message"]
    _refused(client.post(messages, data={**form, "MediaUrl": url}), 21620)


def test_sender_and_service_urls_refuse_a_literal_refused_address(api: Any) -> None:
    herald, account, client, _, number_sid = api
    url = "http://0x7f000001/hook"
    numbers = herald.url(account, "IncomingPhoneNumbers.json")
    new_number = {"PhoneNumber": f"+1415555{next(_numbers):04d}"}
    _refused(client.post(numbers, data={**new_number, "SmsUrl": url}), 20001)
    _refused(client.post(numbers, data={**new_number, "VoiceUrl": url}), 20001)
    one = herald.url(account, f"IncomingPhoneNumbers/{number_sid}.json")
    _refused(client.post(one, data={"StatusCallback": url}), 20001)
    _refused(client.post(one, data={"SmsFallbackUrl": url}), 20001)
    codes = herald.url(account, "SMS/ShortCodes.json")
    _refused(client.post(codes, data={"ShortCode": "48151", "SmsUrl": url}), 20001)
    services = f"{herald.base_url}/v1/Services"
    _refused(client.post(services, data={"FriendlyName": "s", "StatusCallback": url}), 20001)
    made = client.post(
        services, data={"FriendlyName": "s", "InboundRequestUrl": "https://example.com/in"}
    )
    assert made.status_code == 201, made.text
    service = f"{services}/{made.json()['sid']}"
    _refused(client.post(service, data={"InboundRequestUrl": url}), 20001)
    # Public addresses and host names are fine.
    assert client.post(one, data={"SmsUrl": "https://8.8.8.8/sms"}).status_code == 200
    assert client.post(one, data={"SmsUrl": "https://hooks.example.com/sms"}).status_code == 200


def test_a_name_that_resolves_to_a_refused_address_is_refused_at_connect_time(api: Any) -> None:
    herald, account, client, number, _ = api
    base = f"{herald.base_url}/herald/v1/Accounts/{account.sid}"
    with Receiver() as receiver:
        hook = f"http://localhost:{receiver.port}/cb"  # a name: not resolved at create
        form = {"To": "+14155550101", "From": number, "Body": "x", "StatusCallback": hook}
        sent = client.post(herald.url(account, "Messages.json"), data=form)
        assert sent.status_code == 201, sent.text

        def dead() -> list[dict[str, Any]]:
            found = client.get(f"{base}/DeadLetters.json").json()["dead_letters"]
            mine = [d for d in found if d["message_sid"] == sent.json()["sid"]]
            return mine if len(mine) == 2 else []  # sent, then delivered

        letters = eventually(dead)
        assert receiver.count == 0  # nothing ever reached it
    assert {(d["last_error"], d["last_status_code"]) for d in letters} == {
        ("HTTP retrieval failure", None)
    }


def test_media_at_a_name_of_a_refused_address_is_not_fetched(herald: Herald) -> None:
    """The create fetches an MMS's media, so it is refused there (21620), nothing stored."""
    pool = Pool(herald)
    pool.add_number(number())
    auth = (pool.account.sid, pool.account.auth_token)
    with Receiver() as media:
        media.route("/cat.jpg", Reply(headers=(("Content-Type", "image/jpeg"),), body=JPEG))
        form = {
            "To": "+14155550102",
            "MessagingServiceSid": pool.service.sid,
            "MediaUrl": f"http://localhost:{media.port}/cat.jpg",  # a name: resolved at connect
        }
        sent = httpx.post(herald.url(pool.account, "Messages.json"), data=form, auth=auth)
        assert "does not fetch" in _refused(sent, 21620)["message"]
        assert media.count == 0
    assert pool.client.messages.list() == []
