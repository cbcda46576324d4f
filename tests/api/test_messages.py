"""The Message resource through the official `twilio` client and raw HTTP, on a real server."""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC

import httpx
import pytest
from twilio.base.exceptions import TwilioRestException

from herald.domain.sids import Prefix
from herald.domain.status import MessageStatus
from herald.store import messages as message_store
from tests.conftest import Herald
from tests.webhooks.receiver import Receiver

# API-only server: messages stay queued, so refusals before completion can be tested.
DISPATCH = False

SENDER = "SENDER"  # replaced by each test's own registered number
_numbers = itertools.count(1000)


def unique_number() -> str:
    """Numbers belong to one account only, and tests share a server: each gets its own."""
    return f"+1415555{next(_numbers):04d}"


RFC2822 = re.compile(r"^[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} \+0000$")


@pytest.fixture
def sender(herald: Herald) -> Iterator[tuple[object, object, str]]:
    account = herald.account()
    client = herald.client(account)
    number = unique_number()
    client.incoming_phone_numbers.create(phone_number=number)
    yield account, client, number


def count(herald: Herald, account: object) -> int:
    def read(conn: object) -> int:
        rows = message_store.list_messages(
            conn,  # type: ignore[arg-type]
            account.sid,  # type: ignore[attr-defined]
            message_store.MessageFilter(),
            limit=100_000,
        )
        return len(rows)

    return herald.runtime.db.run(read)


def test_create_returns_twilio_fields(herald: Herald, sender: tuple) -> None:
    account, client, number = sender
    message = client.messages.create(to="+14155550111", from_=number, body="Hello from Herald")
    assert message.sid.startswith("SM") and len(message.sid) == 34
    assert message.status == "queued"
    assert message.direction == "outbound-api"
    assert message.from_ == number and message.to == "+14155550111"
    assert message.num_segments == "1" and message.num_media == "0"
    assert message.price is None and message.error_code is None
    assert message.date_sent is None
    assert message.api_version == "2010-04-01"
    assert message.uri == f"/2010-04-01/Accounts/{account.sid}/Messages/{message.sid}.json"
    assert message.subresource_uris["media"].endswith(f"/Messages/{message.sid}/Media.json")


def test_raw_json_types(herald: Herald, sender: tuple) -> None:
    account, _, number = sender
    response = httpx.post(
        herald.url(account, "Messages.json"),
        data={"To": "+14155550111", "From": number, "Body": "x" * 161},
        auth=(account.sid, account.auth_token),
    )
    assert response.status_code == 201
    body = response.json()
    assert body["num_segments"] == "2" and isinstance(body["num_segments"], str)
    assert isinstance(body["num_media"], str)
    assert RFC2822.match(body["date_created"]) and RFC2822.match(body["date_updated"])
    assert response.headers["twilio-request-id"].startswith("RQ")


@pytest.mark.parametrize(
    ("body", "smart", "segments"),
    [
        ("a" * 160, None, "1"),
        ("a" * 161, None, "2"),
        ("€" * 80, None, "1"),
        ("€" * 81, None, "2"),
        ("😀" * 35, None, "1"),
        ("😀" * 36, None, "2"),
        ("“quoted” text…" + "a" * 60, True, "1"),
        ("“quoted” text…" + "a" * 60, False, "2"),
    ],
)
def test_segments_come_from_encoding(
    herald: Herald, sender: tuple, body: str, smart: bool | None, segments: str
) -> None:
    _, client, number = sender
    kwargs = {} if smart is None else {"smart_encoded": smart}
    message = client.messages.create(to="+14155550111", from_=number, body=body, **kwargs)
    assert message.num_segments == segments
    assert message.body == body


def test_media_subresource(herald: Herald, sender: tuple, media_server: Receiver) -> None:
    _account, client, number = sender
    urls = [f"{media_server.url}/cat.jpg", f"{media_server.url}/dog.png"]
    message = client.messages.create(to="+14155550111", from_=number, body="", media_url=urls)
    assert message.sid.startswith("MM")
    assert message.num_media == "2"
    items = client.messages(message.sid).media.list()
    assert sorted(m.content_type for m in items) == ["image/jpeg", "image/png"]
    one = client.messages(message.sid).media(items[0].sid).fetch()
    assert one.parent_sid == message.sid
    with pytest.raises(TwilioRestException) as refused:
        client.messages(message.sid).media(items[0].sid).delete()
    assert refused.value.code == 20009  # the message is not complete yet
    with pytest.raises(TwilioRestException) as missing:
        client.messages(message.sid).media("ME" + "0" * 32).fetch()
    assert missing.value.status == 404 and missing.value.code == 20404


def _bulk_insert(
    herald: Herald, account: object, sender: str, n: int, **fields: object
) -> list[str]:
    """Insert n messages straight into the store (the API path is tested elsewhere)."""
    template = client_message(herald, account, sender)

    def write(conn: object) -> list[str]:
        sids = []
        for i in range(n):
            sid = herald.runtime.new_sid(Prefix.MESSAGE)
            message = replace(template, sid=sid, date_created=template.date_created + i, **fields)
            message_store.insert_message(conn, message)  # type: ignore[arg-type]
            sids.append(sid)
        return sids

    return herald.runtime.db.run(write)


def client_message(herald: Herald, account: object, sender: str) -> object:
    client = herald.client(account)  # type: ignore[arg-type]
    created = client.messages.create(to="+14155550111", from_=sender, body="template")
    found = herald.runtime.db.run(
        lambda conn: message_store.get_message(conn, account.sid, created.sid)  # type: ignore[attr-defined]
    )
    assert found is not None
    return found


def test_list_pages_newest_first(herald: Herald, sender: tuple) -> None:
    _, client, number = sender
    sids = [
        client.messages.create(to="+14155550111", from_=number, body=str(i)).sid for i in range(7)
    ]
    listed = client.messages.list(page_size=3)
    assert [m.sid for m in listed] == list(reversed(sids))
    assert len(client.messages.list(limit=5, page_size=2)) == 5
    page = client.messages.page(page_size=3)
    second = page.next_page()
    assert [m.sid for m in second] == list(reversed(sids))[3:6]
    back = second.previous_page()
    assert [m.sid for m in back] == list(reversed(sids))[:3]


def test_list_filters(herald: Herald, sender: tuple) -> None:
    _, client, number = sender
    second = unique_number()
    client.incoming_phone_numbers.create(phone_number=second)
    client.messages.create(to="+14155550111", from_=number, body="a")
    client.messages.create(to="+14155550112", from_=number, body="b")
    client.messages.create(to="+14155550111", from_=second, body="c")
    assert sorted(m.body for m in client.messages.list(to="+14155550111")) == ["a", "c"]
    assert sorted(m.body for m in client.messages.list(from_=second)) == ["c"]
    both = client.messages.list(to="+14155550111", from_=number)
    assert [m.body for m in both] == ["a"]


def test_date_sent_filters_are_inclusive(herald: Herald, sender: tuple) -> None:
    account, client, number = sender
    day = 86_400_000_000
    base = 1_700_006_400_000_000  # 2023-11-15T00:00:00Z
    sids = {}
    for offset, label in ((0, "d0"), (day + 3_600_000_000, "d1"), (2 * day, "d2")):
        sids[label] = _bulk_insert(
            herald,
            account,
            number,
            1,
            date_sent=base + offset,
            status=MessageStatus.SENT,
            body=label,
        )[0]
    from datetime import date, datetime

    def bodies(**kw: object) -> list[str]:
        return sorted(m.body for m in client.messages.list(**kw) if m.body.startswith("d"))

    # The helper sends dates as midnight date-times: DateSent takes that whole day.
    assert bodies(date_sent=date(2023, 11, 16)) == ["d1"]
    assert bodies(date_sent=datetime(2023, 11, 16, 13, 0, tzinfo=UTC)) == ["d1"]
    assert bodies(date_sent_after=date(2023, 11, 16)) == ["d1", "d2"]
    assert bodies(date_sent_before=date(2023, 11, 16)) == ["d0"]  # up to 16th 00:00:00
    exact = datetime(2023, 11, 16, 1, 0, 0, tzinfo=UTC)
    assert bodies(date_sent_after=exact) == ["d1", "d2"]  # inclusive, to the second
    assert bodies(date_sent_before=exact) == ["d0", "d1"]
    # A plain date names its whole day, on either side.
    assert bodies(**{"date_sent_before": "2023-11-16"}) == ["d0", "d1"]
    assert bodies(**{"date_sent_after": "2023-11-16", "date_sent_before": "2023-11-16"}) == ["d1"]


def test_helper_pages_through_ten_thousand(herald: Herald, sender: tuple) -> None:
    account, client, number = sender
    sids = _bulk_insert(herald, account, number, 10_000)
    # The insert can outlast the server's 5 s keep-alive: a request on the pooled idle
    # connection would then race its close (a reset, as CI saw once). Open a new one.
    client.http_client.session.close()  # type: ignore[attr-defined]
    expected = list(reversed(sids))
    assert [m.sid for m in client.messages.list(to="+14155550111", limit=10_000, page_size=1000)][
        :10_000
    ] == expected
    streamed = [m.sid for m in client.messages.stream(to="+14155550111", page_size=250)]
    assert streamed[:10_000] == expected
    assert len(streamed) == 10_001  # and the template message, the oldest
    limited = list(client.messages.stream(to="+14155550111", limit=2_345, page_size=100))
    assert [m.sid for m in limited] == expected[:2_345]


def test_cancel_and_redact_and_delete_refusals(herald: Herald, sender: tuple) -> None:
    _account, client, number = sender
    message = client.messages.create(to="+14155550111", from_=number, body="keep me")
    with pytest.raises(TwilioRestException) as cancel:
        client.messages(message.sid).update(status="canceled")
    assert (cancel.value.status, cancel.value.code) == (400, 30409)
    with pytest.raises(TwilioRestException) as redact:
        client.messages(message.sid).update(body="")
    assert (redact.value.status, redact.value.code) == (400, 20009)
    with pytest.raises(TwilioRestException) as delete:
        client.messages(message.sid).delete()
    assert (delete.value.status, delete.value.code) == (400, 20009)
    assert client.messages(message.sid).fetch().body == "keep me"


def test_redact_and_delete_a_complete_message(herald: Herald, sender: tuple) -> None:
    _account, client, number = sender
    message = client.messages.create(to="+14155550111", from_=number, body="secret")
    moved = herald.runtime.db.run(
        lambda conn: message_store.change_status(conn, message.sid, MessageStatus.SENT, 1)
    )
    assert moved
    redacted = client.messages(message.sid).update(body="")
    assert redacted.body == "" and redacted.status == "sent"
    assert client.messages(message.sid).delete() is True
    with pytest.raises(TwilioRestException) as gone:
        client.messages(message.sid).fetch()
    assert gone.value.code == 20404


def test_idempotency_key(herald: Herald, sender: tuple) -> None:
    account, _, number = sender
    url = herald.url(account, "Messages.json")
    auth = (account.sid, account.auth_token)
    data = {"To": "+14155550199", "From": number, "Body": "once"}
    before = count(herald, account)
    first = httpx.post(url, data=data, auth=auth, headers={"Idempotency-Key": "k-1"})
    again = httpx.post(url, data=data, auth=auth, headers={"Idempotency-Key": "k-1"})
    assert first.status_code == again.status_code == 201
    assert first.json()["sid"] == again.json()["sid"]
    assert count(herald, account) == before + 1
    other = httpx.post(
        url, data={**data, "Body": "twice"}, auth=auth, headers={"Idempotency-Key": "k-1"}
    )
    assert other.status_code == 400 and other.json()["code"] == 20001
    fresh = httpx.post(url, data=data, auth=auth, headers={"Idempotency-Key": "k-2"})
    assert fresh.json()["sid"] != first.json()["sid"]
    assert count(herald, account) == before + 2


def test_short_code_sender_only_in_its_country(herald: Herald) -> None:
    account = herald.account()
    auth = (account.sid, account.auth_token)
    created = httpx.post(
        herald.url(account, "SMS/ShortCodes.json"),
        data={"ShortCode": "55555", "IsoCountry": "US"},
        auth=auth,
    )
    assert created.status_code == 201
    client = herald.client(account)
    ok = client.messages.create(to="+14155550111", from_="55555", body="code")
    assert ok.from_ == "55555"
    with pytest.raises(TwilioRestException) as abroad:
        client.messages.create(to="+447911123456", from_="55555", body="code")
    assert abroad.value.code == 21606


BAD_INPUTS = [
    ({"From": SENDER, "Body": "x"}, 21604, 400),
    ({"To": "+14155550111", "Body": "x"}, 21603, 400),
    ({"To": "+14155550111", "From": SENDER}, 21602, 400),
    ({"To": "+14155550111", "From": SENDER, "Body": ""}, 21619, 400),
    ({"To": "abc", "From": SENDER, "Body": "x"}, 21211, 400),
    ({"To": "+1415555", "From": SENDER, "Body": "x"}, 21211, 400),
    ({"To": SENDER, "From": SENDER, "Body": "x"}, 21211, 400),
    ({"To": "+14155550111", "From": "+1999", "Body": "x"}, 21212, 400),
    ({"To": "+14155550111", "From": "!!bad!!", "Body": "x"}, 21212, 400),
    ({"To": "+14155550111", "From": "+14155559999", "Body": "x"}, 21606, 400),
    ({"To": "+14155550111", "From": "Herald", "Body": "x"}, 21612, 400),
    ({"To": "+14155550111", "From": SENDER, "Body": "x" * 1601}, 21617, 400),
    ({"To": "+14155550111", "From": SENDER, "Body": "😀" * 801}, 21617, 400),
    ({"To": "+14155550111", "From": SENDER, "MediaUrl": ["https://e.com/a.jpg"] * 11}, 21623, 400),
    ({"To": "+14155550111", "From": SENDER, "MediaUrl": "ftp://e.com/a.jpg"}, 21620, 400),
    ({"To": "+14155550111", "From": SENDER, "MediaUrl": "not a url"}, 21620, 400),
    ({"To": "+14155550111", "From": SENDER, "Body": "x", "ValidityPeriod": "0"}, 21624, 400),
    ({"To": "+14155550111", "From": SENDER, "Body": "x", "ValidityPeriod": "36001"}, 21624, 400),
    ({"To": "+14155550111", "From": SENDER, "Body": "x", "ValidityPeriod": "soon"}, 21624, 400),
    (
        {"To": "+14155550111", "From": SENDER, "Body": "x", "StatusCallback": "http://a_b.com/"},
        21609,
        400,
    ),
    ({"To": "+14155550111", "From": SENDER, "Body": "x", "StatusCallback": "nope"}, 21609, 400),
    ({"To": "+14155550111", "From": SENDER, "Body": "x", "SmartEncoded": "maybe"}, 20001, 400),
    ({"To": "+14155550111", "From": SENDER, "Body": "x", "Attempt": "first"}, 20001, 400),
    ({"To": "+14155550111", "From": SENDER, "Body": "x", "MaxPrice": "cheap"}, 20001, 400),
    ({"To": "+14155550111", "From": SENDER, "Body": "x", "Tags": "[1]"}, 20001, 400),
    (
        {"To": "+14155550111", "MessagingServiceSid": "MG" + "a" * 32, "Body": "x"},
        21701,
        404,
    ),
    ({"To": "+14155550111", "MessagingServiceSid": "nope", "Body": "x"}, 21701, 404),
    (
        {"To": "+14155550111", "From": SENDER, "Body": "x", "SendAt": "2030-01-01T00:00:00Z"},
        35118,
        400,
    ),
]


@pytest.mark.parametrize(("data", "code", "status"), BAD_INPUTS)
def test_bad_input_writes_nothing(
    herald: Herald, sender: tuple, data: dict, code: int, status: int
) -> None:
    account, _, number = sender
    data = {k: (number if v == SENDER else v) for k, v in data.items()}
    before = count(herald, account)
    response = httpx.post(
        herald.url(account, "Messages.json"), data=data, auth=(account.sid, account.auth_token)
    )
    assert response.status_code == status
    body = response.json()
    assert body["code"] == code and body["status"] == status
    assert body["more_info"] == f"https://www.twilio.com/docs/errors/{code}"
    assert body["message"]
    assert count(herald, account) == before


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ("PageSize=0", 20001),
        ("PageSize=1001", 20001),
        ("Page=-1", 20001),
        ("DateSent=yesterday", 20001),
        ("PageToken=XX1", 20001),
    ],
)
def test_bad_list_queries(herald: Herald, sender: tuple, query: str, code: int) -> None:
    account, _, _number = sender
    response = httpx.get(
        herald.url(account, f"Messages.json?{query}"), auth=(account.sid, account.auth_token)
    )
    assert response.status_code == 400 and response.json()["code"] == code


def test_non_form_body_is_refused(herald: Herald, sender: tuple) -> None:
    account, _, _number = sender
    response = httpx.post(
        herald.url(account, "Messages.json"),
        json={"To": "+14155550111"},
        auth=(account.sid, account.auth_token),
    )
    assert response.status_code == 400 and response.json()["code"] == 20001


def test_unknown_route_and_method(herald: Herald, sender: tuple) -> None:
    account, _, _number = sender
    auth = (account.sid, account.auth_token)
    missing = httpx.get(herald.url(account, "Nothing.json"), auth=auth)
    assert missing.status_code == 404 and missing.json()["code"] == 20404
    wrong = httpx.put(herald.url(account, "Messages.json"), auth=auth)
    assert wrong.status_code == 405 and wrong.json()["code"] == 20004
    assert wrong.headers["twilio-request-id"].startswith("RQ")


MAGIC = [
    ("+15005550001", "+14155550111", 21212),
    ("+15005550007", "+14155550111", 21606),
    ("+15005550008", "+14155550111", 21611),
    ("+14155559999", "+14155550111", 21606),
    ("+15005550006", "+15005550001", 21211),
    ("+15005550006", "+15005550002", 21612),
    ("+15005550006", "+15005550003", 21408),
    ("+15005550006", "+15005550004", 21610),
    ("+15005550006", "+15005550009", 21614),
]


@pytest.mark.parametrize(("from_", "to", "code"), MAGIC)
def test_test_credentials_magic_numbers(herald: Herald, from_: str, to: str, code: int) -> None:
    account = herald.account(test=True)
    with pytest.raises(TwilioRestException) as refused:
        herald.client(account).messages.create(to=to, from_=from_, body="test")
    assert (refused.value.status, refused.value.code) == (400, code)


def test_test_credentials_send_nothing(herald: Herald) -> None:
    account = herald.account(test=True)
    client = herald.client(account)
    message = client.messages.create(to="+14155550111", from_="+15005550006", body="test")
    assert message.status == "queued"
    assert count(herald, account) == 0
    with pytest.raises(TwilioRestException) as refused:  # test credentials only send (§17)
        client.messages(message.sid).fetch()
    assert (refused.value.status, refused.value.code) == (403, 20008)


def test_api_key_authenticates(herald: Herald, sender: tuple) -> None:
    account, client, number = sender
    key = client.new_keys.create(friendly_name="ci")
    from tests.conftest import client_for

    keyed = client_for(herald.base_url, key.sid, key.secret, account_sid=account.sid)
    message = keyed.messages.create(to="+14155550111", from_=number, body="via key")
    assert message.account_sid == account.sid


def test_feedback(herald: Herald, sender: tuple) -> None:
    _, client, number = sender
    asked = client.messages.create(
        to="+14155550111", from_=number, body="code 1234", provide_feedback=True
    )
    feedback = client.messages(asked.sid).feedback.create(outcome="unconfirmed")
    assert feedback.outcome == "unconfirmed" and feedback.message_sid == asked.sid
    plain = client.messages.create(to="+14155550111", from_=number, body="no feedback")
    with pytest.raises(TwilioRestException) as refused:
        client.messages(plain.sid).feedback.create(outcome="confirmed")
    assert refused.value.code == 20001


def test_content_sid_is_refused_clearly(herald: Herald, sender: tuple) -> None:
    _, client, number = sender
    with pytest.raises(TwilioRestException) as refused:
        client.messages.create(to="+14155550111", from_=number, content_sid="HX" + "0" * 32)
    assert refused.value.code == 21655
