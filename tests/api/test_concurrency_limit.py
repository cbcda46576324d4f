"""An account's requests in flight (`HERALD_API_CONCURRENCY`, reference §8.4), against a
real server: one beyond the limit is answered 429, 20429 with `Retry-After` and
`Twilio-Concurrent-Requests`; other accounts go on; every way a request ends gives its
slot back; requests that prove no credentials of the account hold none of its slots.

A request is held in flight by sending its head and half its body over a raw socket: the
server has authenticated and counted it and waits for the rest."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from twilio.base.exceptions import TwilioRestException

from herald.api.concurrency import Limiter
from herald.domain import errors
from tests.api import raw_http
from tests.conftest import Herald, eventually

LIMIT = 2
BODY_TIMEOUT_S = 4.0  # long enough to look at held requests, short enough to wait out
SLACK_S = 2.0
SETTINGS = {"api_concurrency": LIMIT, "body_timeout_s": BODY_TIMEOUT_S}
FORM = "application/x-www-form-urlencoded"

Auth = tuple[str, str]


class Held:
    """A POST whose body is half sent: in flight until `finish` or `abandon`."""

    def __init__(
        self, herald: Herald, account_sid: str, auth: Auth, path: str, body: bytes
    ) -> None:
        self.body = body
        self.sock = raw_http.connect(herald.base_url, timeout=BODY_TIMEOUT_S + SLACK_S)
        full_path = f"/2010-04-01/Accounts/{account_sid}/{path}"
        head = raw_http.head(
            "POST",
            full_path,
            auth,
            Content_Type=FORM,
            Content_Length=len(body),
            Connection="close",  # so that its answer ends the connection
        )
        self.sock.sendall(head + body[: len(body) // 2])

    def finish(self) -> tuple[int, dict[str, str], Any]:
        self.sock.sendall(self.body[len(self.body) // 2 :])
        return self.answer()

    def answer(self) -> tuple[int, dict[str, str], Any]:
        return raw_http.parse_response(raw_http.read_until_closed(self.sock, BODY_TIMEOUT_S * 2))

    def abandon(self) -> None:
        self.sock.close()


Hold = Callable[..., Held]


@pytest.fixture
def hold(herald: Herald) -> Iterator[Hold]:
    """Hold a request of an account: by default a key create, with its credentials."""
    held: list[Held] = []

    def start(
        account_sid: str,
        auth: Auth,
        path: str = "Keys.json",
        body: bytes = b"FriendlyName=held",
    ) -> Held:
        held.append(Held(herald, account_sid, auth, path, body))
        return held[-1]

    yield start
    for request in held:
        request.sock.close()


def _probe(herald: Herald, account_sid: str, auth: Auth) -> httpx.Response:
    url = f"{herald.base_url}/2010-04-01/Accounts/{account_sid}/Messages.json"
    return httpx.get(url, params={"PageSize": 1}, auth=auth, timeout=5)


def _seen(herald: Herald, account_sid: str, auth: Auth) -> int:
    """The account's requests in flight, as a served probe's header counts them (itself
    included); 0 when the probe was refused."""
    response = _probe(herald, account_sid, auth)
    if response.status_code != 200:
        return 0
    return int(response.headers["twilio-concurrent-requests"])


def _refusal(herald: Herald, account_sid: str, auth: Auth) -> httpx.Response | None:
    response = _probe(herald, account_sid, auth)
    return response if response.status_code == 429 else None


def _fill(herald: Herald, hold: Hold, account_sid: str, auth: Auth) -> list[Held]:
    """Hold `LIMIT` requests of the account, once each is counted."""
    held = []
    for n in range(1, LIMIT + 1):
        held.append(hold(account_sid, auth))
        if n < LIMIT:
            eventually(lambda n=n: _seen(herald, account_sid, auth) == n + 1)
    eventually(lambda: _refusal(herald, account_sid, auth))
    return held


def _credentials(herald: Herald) -> tuple[str, Auth]:
    account = herald.account()
    return account.sid, (account.sid, account.auth_token)


def test_a_request_beyond_the_limit_is_refused_with_20429(herald: Herald, hold: Hold) -> None:
    sid, auth = _credentials(herald)
    other_sid, other_auth = _credentials(herald)
    assert _probe(herald, sid, auth).headers["twilio-concurrent-requests"] == "1"

    held = _fill(herald, hold, sid, auth)
    refused = _probe(herald, sid, auth)
    assert raw_http.twilio_error_problems(refused.status_code, refused.json(), 429) == []
    assert refused.json()["code"] == 20429
    assert refused.headers["retry-after"] == "1"
    assert refused.headers["twilio-concurrent-requests"] == str(LIMIT)
    assert refused.headers["twilio-request-id"].startswith("RQ")

    theirs = _probe(herald, other_sid, other_auth)  # another account is not held up
    assert theirs.status_code == 200
    assert theirs.headers["twilio-concurrent-requests"] == "1"

    for request in held:  # the held requests go on to be served as usual
        status, headers, body = request.finish()
        assert status == 201, body
        assert body["friendly_name"] == "held" and body["sid"].startswith("SK")
        assert 1 <= int(headers["twilio-concurrent-requests"]) <= LIMIT
    served = _probe(herald, sid, auth)  # their slots came back with their answers
    assert served.status_code == 200
    assert served.headers["twilio-concurrent-requests"] == "1"
    assert float(served.headers["twilio-request-duration"]) >= 0


def test_the_twilio_client_hears_20429(herald: Herald, hold: Hold) -> None:
    account = herald.account()
    auth = (account.sid, account.auth_token)
    held = _fill(herald, hold, account.sid, auth)
    client = herald.client(account)
    with pytest.raises(TwilioRestException) as raised:
        client.messages.create(to="+14155550111", from_="+14155550100", body="hello")
    assert raised.value.status == 429 and raised.value.code == 20429
    for request in held:
        request.abandon()
    eventually(lambda: _seen(herald, account.sid, auth) == 1)
    assert client.api.v2010.accounts(account.sid).fetch().sid == account.sid


def test_a_client_that_leaves_mid_request_gives_its_slot_back(herald: Herald, hold: Hold) -> None:
    sid, auth = _credentials(herald)
    first, second = _fill(herald, hold, sid, auth)
    first.abandon()
    eventually(lambda: _seen(herald, sid, auth) == LIMIT)  # the other, and the probe
    second.abandon()
    eventually(lambda: _seen(herald, sid, auth) == 1)


def test_error_answers_give_their_slots_back(herald: Herald, hold: Hold) -> None:
    """A refused form (20001) and a body cut off by its deadline (408, the connection's
    own answer: the request hears a disconnect) each end their request's count."""
    sid, auth = _credentials(herald)
    invalid = hold(sid, auth, body=b"FriendlyName=" + b"x" * 100)
    eventually(lambda: _seen(herald, sid, auth) == 2)
    slow = hold(sid, auth)
    eventually(lambda: _refusal(herald, sid, auth))

    status, _, body = invalid.finish()
    assert raw_http.twilio_error_problems(status, body, 400) == []
    assert body["code"] == 20001
    assert _seen(herald, sid, auth) == 2  # the slow one, and the probe

    status, _, body = slow.answer()  # never finished: the body deadline answers
    assert raw_http.twilio_error_problems(status, body, 408) == []
    # The handler hears the disconnect once the connection's lingering close ends.
    eventually(lambda: _seen(herald, sid, auth) == 1)


def test_requests_without_the_accounts_credentials_hold_none_of_its_slots(
    herald: Herald, hold: Hold
) -> None:
    """Wrong credentials, or another account's on this account's path, are answered at
    once (401, 404) and never counted; many of them leave the account its whole share."""
    sid, auth = _credentials(herald)
    _, intruder = _credentials(herald)
    strangers = [hold(sid, (sid, "0" * 32)) for _ in range(LIMIT + 2)]
    strangers += [hold(sid, intruder) for _ in range(LIMIT + 2)]
    answers = [request.answer() for request in strangers]
    assert [status for status, _, _ in answers] == [401] * (LIMIT + 2) + [404] * (LIMIT + 2)
    for _, headers, _ in answers:
        assert "twilio-concurrent-requests" not in headers
    assert _seen(herald, sid, auth) == 1
    _fill(herald, hold, sid, auth)  # the account still gets every one of its slots


def test_api_key_requests_count_against_the_keys_account(herald: Herald, hold: Hold) -> None:
    sid, auth = _credentials(herald)
    made = httpx.post(
        f"{herald.base_url}/2010-04-01/Accounts/{sid}/Keys.json",
        data={"FriendlyName": "k"},
        auth=auth,
        timeout=5,
    )
    assert made.status_code == 201, made.text
    key: Auth = (made.json()["sid"], made.json()["secret"])

    hold(sid, auth)  # one by the auth token
    eventually(lambda: _seen(herald, sid, auth) == 2)
    hold(sid, key, path="IncomingPhoneNumbers.json", body=b"PhoneNumber=%2B14155550177")
    refused = eventually(lambda: _refusal(herald, sid, key))
    assert refused.json()["code"] == 20429
    assert _refusal(herald, sid, auth) is not None  # one count, whichever credential


# -- the count itself, without a server ---------------------------------------------------


def test_a_slot_is_given_back_once_and_taken_once() -> None:
    limiter = Limiter(1)
    slot = limiter.slot()
    slot.take("AC1")
    slot.take("AC1")  # a handler that authenticates twice still counts once
    assert slot.seen == 1
    refused = limiter.slot()
    with pytest.raises(errors.TooManyRequests) as raised:
        refused.take("AC1")
    assert raised.value.retry_after_s == 1 and refused.seen == 1
    refused.release()  # never counted: gives nothing back
    other = limiter.slot()
    other.take("AC2")  # another account has its own count
    assert other.seen == 1
    slot.release()
    slot.release()  # once only
    again = limiter.slot()
    again.take("AC1")
    assert again.seen == 1


def test_no_limit_still_counts() -> None:
    limiter = Limiter(0)
    slots = [limiter.slot() for _ in range(1000)]
    for slot in slots:
        slot.take("AC1")
    assert slots[-1].seen == 1000
    for slot in slots:
        slot.release()
    fresh = limiter.slot()
    fresh.take("AC1")
    assert fresh.seen == 1
