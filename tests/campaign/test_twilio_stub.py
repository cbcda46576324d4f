"""The Twilio stub speaks Twilio's 2010 API well enough for the official client.

The campaign tests trust it as a stand-in for Twilio, so these check it against the
`twilio` package, Twilio's OpenAPI field names, and its own fault switches. Time runs on
a manual clock except in one test that watches statuses advance on the real one.
"""

from __future__ import annotations

import ast
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.rest import Client

from tests.campaign import twilio_stub
from tests.campaign.twilio_stub import TwilioStub, count_segments
from tests.conftest import eventually

ACCOUNT = "AC" + "0123456789abcdef" * 2
TOKEN = "stub-auth-token"
OWNED = "+16195551234"
ALICE, BOB = "+14155550101", "+14155550102"
UNREACHABLE, BROKEN = "+14155550103", "+14155550104"
START = datetime(2021, 7, 9, 15, 58, 57, tzinfo=UTC)
SPECS = Path(__file__).parent.parent / "specs"
VECTORS = Path(__file__).parent.parent / "vectors"


class ManualClock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def stub(clock: ManualClock) -> Iterator[TwilioStub]:
    numbers = [OWNED, "+442071838750"]
    with TwilioStub(
        ACCOUNT,
        TOKEN,
        numbers,
        step_delay=1.0,
        clock=clock,
        undelivered_to=[UNREACHABLE],
        failed_to=[BROKEN],
    ) as stub:
        yield stub


def client_for(stub: TwilioStub, token: str = TOKEN) -> Client:
    client = Client(ACCOUNT, token)
    client.api.base_url = stub.base_url
    return client


def post(stub: TwilioStub, **form: str) -> requests.Response:
    url = f"{stub.base_url}/2010-04-01/Accounts/{ACCOUNT}/Messages.json"
    return requests.post(url, data=form, auth=(ACCOUNT, TOKEN), timeout=5)


def get(stub: TwilioStub, path: str, token: str = TOKEN) -> requests.Response:
    url = f"{stub.base_url}/2010-04-01/Accounts/{ACCOUNT}/{path}"
    return requests.get(url, auth=(ACCOUNT, token), timeout=5)


def spec_fields(schema: str) -> set[str]:
    spec = json.loads((SPECS / "twilio_api_v2010.json").read_text())
    return set(spec["components"]["schemas"][schema]["properties"])


def test_the_stub_imports_nothing_from_herald() -> None:
    tree = ast.parse(Path(twilio_stub.__file__).read_text())
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            imported.add(node.module or "")
    assert "json" in imported and not [n for n in imported if n.split(".")[0] == "herald"]


def test_create_and_fetch_with_the_twilio_client(stub: TwilioStub) -> None:
    client = client_for(stub)
    created = client.messages.create(to=ALICE, from_=OWNED, body="Visit us!")
    assert created.sid.startswith("SM") and len(created.sid) == 34
    assert (created.status, created.direction, created.num_segments) == (
        "queued",
        "outbound-api",
        "1",
    )
    assert (created.date_created, created.date_sent, created.price, created.error_code) == (
        START,
        None,
        None,
        None,
    )
    fetched = client.messages(created.sid).fetch()
    assert (fetched.to, fetched.from_, fetched.body) == (ALICE, OWNED, "Visit us!")
    assert [m.to for m in stub.created] == [ALICE]


def test_a_message_has_exactly_twilios_fields(stub: TwilioStub) -> None:
    answer = post(stub, To=ALICE, From=OWNED, Body="hi")
    body = answer.json()
    assert answer.status_code == 201
    assert set(body) == spec_fields("api.v2010.account.message")
    assert body["date_created"] == "Fri, 09 Jul 2021 15:58:57 +0000"
    assert body["uri"] == f"/2010-04-01/Accounts/{ACCOUNT}/Messages/{body['sid']}.json"


def test_incoming_phone_numbers(stub: TwilioStub) -> None:
    numbers = client_for(stub).incoming_phone_numbers.list()
    assert [(n.phone_number, n.friendly_name) for n in numbers] == [
        (OWNED, "(619) 555-1234"),
        ("+442071838750", "+442071838750"),
    ]
    envelope = get(stub, "IncomingPhoneNumbers.json").json()
    assert set(envelope["incoming_phone_numbers"][0]) == spec_fields(
        "api.v2010.account.incoming_phone_number"
    )
    assert (envelope["page"], envelope["page_size"], envelope["start"], envelope["end"]) == (
        0,
        50,
        0,
        1,
    )
    assert envelope["next_page_uri"] is None and envelope["previous_page_uri"] is None
    assert envelope["first_page_uri"].endswith("IncomingPhoneNumbers.json?PageSize=50&Page=0")


def test_a_messaging_service_is_accepted_and_picks_a_sender_later(
    stub: TwilioStub, clock: ManualClock
) -> None:
    client = client_for(stub)
    service = "MG" + "a" * 32
    created = client.messages.create(to=ALICE, messaging_service_sid=service, body="hi")
    assert (created.status, created.from_, created.messaging_service_sid) == (
        "accepted",
        None,
        service,
    )
    clock.advance(1)
    assert client.messages(created.sid).fetch().status == "sending"
    assert stub.message(created.sid)["from"] == OWNED


def test_list_pages_newest_first_through_the_twilio_client(
    stub: TwilioStub, clock: ManualClock
) -> None:
    client = client_for(stub)
    sids = []
    for n in range(7):
        sids.append(client.messages.create(to=ALICE, from_=OWNED, body=f"m{n}").sid)
        clock.advance(1)
    listed = client.messages.list(page_size=3)
    assert [m.sid for m in listed] == sids[::-1]
    assert stub.request_counts[("GET", "Messages")] == 3
    assert client.messages.page(page_size=3, page_number=2).next_page() is None
    third = get(stub, "Messages.json?PageSize=3&Page=2").json()
    assert [m["sid"] for m in third["messages"]] == [sids[0]]
    assert (third["start"], third["end"], third["next_page_uri"]) == (6, 6, None)


def test_list_filters_by_to_and_date_sent_after(stub: TwilioStub, clock: ManualClock) -> None:
    client = client_for(stub)
    sent = {}
    for to in (ALICE, BOB, ALICE, ALICE):
        message = client.messages.create(to=to, from_=OWNED, body="hi")
        sent[message.sid] = (to, clock.now + timedelta(seconds=2))  # sent two steps later
        clock.advance(10)
    cutoff = START + timedelta(seconds=12)  # the second message's date_sent: inclusive
    listed = client.messages.list(to=ALICE, date_sent_after=cutoff, page_size=1)
    expected = [sid for sid, (to, at) in sent.items() if to == ALICE and at >= cutoff]
    assert [m.sid for m in listed] == expected[::-1] and len(expected) == 2
    bob = [sid for sid, (to, _) in sent.items() if to == BOB]
    assert [m.sid for m in client.messages.list(to=BOB, date_sent_before=cutoff)] == bob
    assert client.messages.list(to=BOB, date_sent_before=cutoff - timedelta(seconds=1)) == []
    assert len(client.messages.list(date_sent=START.date())) == 4
    query = "To=%2B14155550101&DateSent%3E=2021-07-09"
    uri = get(stub, f"Messages.json?{query}").json()["uri"]
    assert uri.endswith(f"Messages.json?{query}&PageSize=50&Page=0")


def test_a_message_not_sent_yet_has_no_date_sent_to_filter_on(stub: TwilioStub) -> None:
    client = client_for(stub)
    client.messages.create(to=ALICE, from_=OWNED, body="hi")
    assert len(client.messages.list(to=ALICE)) == 1
    assert client.messages.list(to=ALICE, date_sent_after=START - timedelta(days=1)) == []


def test_statuses_advance_one_step_per_delay(stub: TwilioStub, clock: ManualClock) -> None:
    client = client_for(stub)
    create = client.messages.create
    sids = {to: create(to=to, from_=OWNED, body="hi").sid for to in (ALICE, UNREACHABLE, BROKEN)}
    seen: dict[str, list[tuple[Any, ...]]] = {to: [] for to in sids}
    for _ in range(4):
        for to, sid in sids.items():
            m = client.messages(sid).fetch()
            seen[to].append((m.status, m.error_code, m.date_sent, m.date_updated))
        clock.advance(1)
    at = [START + timedelta(seconds=n) for n in range(4)]
    assert seen[ALICE] == [
        ("queued", None, None, at[0]),
        ("sending", None, None, at[1]),
        ("sent", None, at[2], at[2]),
        ("delivered", None, at[2], at[3]),
    ]
    assert seen[UNREACHABLE][3] == ("undelivered", 30003, at[2], at[3])
    assert [s[:3] for s in seen[BROKEN]] == [
        ("queued", None, None),
        ("sending", None, None),
        ("failed", 30008, None),
        ("failed", 30008, None),
    ]


def test_statuses_advance_on_the_real_clock() -> None:
    with TwilioStub(ACCOUNT, TOKEN, [OWNED], step_delay=0.02) as stub:
        sid = client_for(stub).messages.create(to=ALICE, from_=OWNED, body="hi").sid
        assert eventually(lambda: stub.message(sid)["status"] == "delivered", timeout=2)


def test_a_planted_inbound_reply_is_found_by_a_filtered_list(
    stub: TwilioStub, clock: ManualClock
) -> None:
    client = client_for(stub)
    client.messages.create(to=ALICE, from_=OWNED, body="hi")
    clock.advance(60)
    sid = stub.receive(ALICE, OWNED, "STOP")
    stub.receive(BOB, "+442071838750", "STOP")
    replies = client.messages.list(to=OWNED, date_sent_after=START + timedelta(seconds=30))
    assert [(m.sid, m.from_, m.body, m.direction, m.status) for m in replies] == [
        (sid, ALICE, "STOP", "inbound", "received")
    ]
    assert replies[0].date_sent == START + timedelta(seconds=60)
    assert [m.to for m in stub.created] == [ALICE]


def test_wrong_credentials_are_refused_like_twilio(stub: TwilioStub) -> None:
    client = client_for(stub, token="wrong")
    with pytest.raises(TwilioRestException) as refused:
        client.messages.create(to=ALICE, from_=OWNED, body="hi")
    assert (refused.value.status, refused.value.code) == (401, 20003)
    with pytest.raises(TwilioException, match="HTTP 401"):
        client.messages.list()  # the client raises its plain exception for a list page
    assert stub.created == []
    assert get(stub, "Messages.json", token="wrong").json() == {
        "code": 20003,
        "message": "Authenticate",
        "more_info": "https://www.twilio.com/docs/errors/20003",
        "status": 401,
    }


@pytest.mark.parametrize(
    ("form", "code"),
    [
        ({"From": OWNED, "Body": "hi"}, 21604),
        ({"To": "4155550101", "From": OWNED, "Body": "hi"}, 21211),
        ({"To": ALICE, "Body": "hi"}, 21603),
        ({"To": ALICE, "From": "+15005550006", "Body": "hi"}, 21606),
        ({"To": ALICE, "From": OWNED}, 21602),
    ],
)
def test_invalid_sends_are_refused_and_create_nothing(
    stub: TwilioStub, form: dict[str, str], code: int
) -> None:
    answer = post(stub, **form)
    assert (answer.status_code, answer.json()["code"]) == (400, code)
    assert stub.created == []


def test_unknown_things_are_404(stub: TwilioStub) -> None:
    assert get(stub, "Messages/SM" + "0" * 32 + ".json").json()["code"] == 20404
    assert get(stub, "Calls.json").status_code == 404
    other = requests.get(f"{stub.base_url}/nowhere", auth=(ACCOUNT, TOKEN), timeout=5)
    assert (other.status_code, other.json()["code"]) == (404, 20404)
    assert stub.request_counts[("GET", "unknown")] == 2


def test_every_nth_post_is_rate_limited_without_creating(stub: TwilioStub) -> None:
    stub.rate_limit_every, stub.retry_after = 2, 0.5
    assert post(stub, To=ALICE, From=OWNED, Body="hi").status_code == 201
    limited = post(stub, To=BOB, From=OWNED, Body="hi")
    assert (limited.status_code, limited.headers["Retry-After"]) == (429, "0.5")
    assert limited.json() == {
        "code": 20429,
        "message": "Too Many Requests",
        "more_info": "https://www.twilio.com/docs/errors/20429",
        "status": 429,
    }
    client = client_for(stub)
    client.messages.create(to=BOB, from_=OWNED, body="hi")  # the 3rd POST goes through
    with pytest.raises(TwilioRestException) as refused:
        client.messages.create(to=BOB, from_=OWNED, body="hi")
    assert (refused.value.status, refused.value.code) == (429, 20429)
    assert [m.to for m in stub.created] == [ALICE, BOB]
    assert (stub.rate_limited, stub.request_counts[("POST", "Messages")]) == (2, 4)


def test_a_503_creates_nothing(stub: TwilioStub) -> None:
    stub.unavailable_every = 1
    answer = post(stub, To=ALICE, From=OWNED, Body="hi")
    assert (answer.status_code, answer.json()["code"]) == (503, 20503)
    assert (stub.created, stub.unavailable) == ([], 1)


def test_a_dropped_answer_still_creates_the_message(stub: TwilioStub) -> None:
    stub.drop_every = 2
    post(stub, To=ALICE, From=OWNED, Body="hi")
    with pytest.raises(requests.ConnectionError):
        post(stub, To=BOB, From=OWNED, Body="hi")
    assert ([m.to for m in stub.created], stub.dropped) == ([ALICE, BOB], 1)


def test_idempotency_key_is_ignored_like_twilio(stub: TwilioStub) -> None:
    url = f"{stub.base_url}/2010-04-01/Accounts/{ACCOUNT}/Messages.json"
    form, headers = {"To": ALICE, "From": OWNED, "Body": "hi"}, {"Idempotency-Key": "k1"}
    for _ in range(2):
        requests.post(url, data=form, headers=headers, auth=(ACCOUNT, TOKEN), timeout=5)
    assert [m.to for m in stub.created] == [ALICE, ALICE]


def test_num_segments_follows_the_shared_vectors() -> None:
    lines = (VECTORS / "segments.jsonl").read_text().split("\n")  # bodies hold U+2028
    plain = [row for row in map(json.loads, filter(None, lines)) if not row["smart"]]
    wrong = [r["body"] for r in plain if count_segments(r["body"]) != r["expected_segments"]]
    assert plain and wrong == []
