"""Property: no input earns a 5xx, and every 4xx is Twilio's error JSON (invariant 7).

Every POST route the app serves is taken from the app itself, so a new endpoint is
fuzzed without anyone adding it here. Each starts from a realistic valid form of its
own (or an empty one, for a route this file does not know yet); Hypothesis then sets
or adds parameters with arbitrary text, long strings, odd Unicode, huge integers and
repeated keys. Path parameters get arbitrary segments in place of SIDs, on every route.
"""

from __future__ import annotations

import re
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from urllib.parse import quote, urlencode

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.routing import Route

from herald.api.app import create_app
from tests.api import raw_http
from tests.conftest import Herald
from tests.webhooks.receiver import Receiver

DISPATCH = False  # what is accepted stays put; the API is what is fuzzed

SENDER = "+14155550100"
TO = "+14155550111"
FORM_EXAMPLES = 1500
PATH_EXAMPLES = 800
_PARAM = re.compile(r"\{([a-z_]+)(?::[a-z]+)?\}")

# A valid form for each write endpoint, by route path; `{name}` is one of the world's SIDs.
VALID_FORMS: dict[str, dict[str, str]] = {
    "/Messages.json": {
        "To": TO, "From": SENDER, "Body": "hi", "StatusCallback": "https://e.com/cb",
        "ApplicationSid": "AP" + "0" * 32, "ValidityPeriod": "600", "Attempt": "1",
        "MaxPrice": "0.05", "ProvideFeedback": "true", "SmartEncoded": "false",
        "Tags": '{"campaign": "fuzz"}', "MediaUrl": "{media}",
    },
    "/Messages/{sid}.json": {"Body": ""},
    "/Messages/{sid}/Feedback.json": {"Outcome": "confirmed"},
    "/IncomingPhoneNumbers.json": {
        "PhoneNumber": "+14155550150", "FriendlyName": "n", "SmsUrl": "https://e.com/sms",
        "SmsMethod": "POST", "SmsApplicationSid": "AP" + "0" * 32, "VoiceUrl": "https://e.com/v",
        "StatusCallback": "https://e.com/s", "Capabilities.Mms": "true", "Mps": "5",
    },
    **{
        f"/IncomingPhoneNumbers/{kind}.json": {"PhoneNumber": "+14155550151", "FriendlyName": "t"}
        for kind in ("Local", "Mobile", "TollFree")
    },
    "/IncomingPhoneNumbers/{sid}.json": {
        "FriendlyName": "m", "SmsUrl": "https://e.com/sms", "VoiceCallerIdLookup": "false",
        "SmsFallbackUrl": "https://e.com/f", "SmsFallbackMethod": "GET", "Mps": "2",
    },
    "/SMS/ShortCodes.json": {
        "ShortCode": "55599", "FriendlyName": "sc", "IsoCountry": "US", "Mps": "100",
        "SmsUrl": "https://e.com/sms", "Capabilities.Sms": "true",
    },
    "/SMS/ShortCodes/{sid}.json": {"FriendlyName": "sc2", "Mps": "10", "SmsMethod": "GET"},
    "/Keys.json": {"FriendlyName": "k"},
    "/Keys/{sid}.json": {"FriendlyName": "k2"},
    "/DeadLetters/{id}/Retry.json": {},
    "/v1/Services": {
        "FriendlyName": "svc", "StickySender": "true", "ValidityPeriod": "600",
        "Usecase": "marketing", "InboundRequestUrl": "https://e.com/in",
        "ScanMessageContent": "inherit", "InboundMethod": "POST",
    },
    "/v1/Services/{sid}": {
        "FriendlyName": "svc2", "StatusCallback": "https://e.com/cb", "MmsConverter": "false",
        "FallbackUrl": "https://e.com/f", "SkipUnregisteredAlpha": "true",
    },
    "/PhoneNumbers": {"PhoneNumberSid": "{number}"},
    "/ShortCodes": {"ShortCodeSid": "{short_code}"},
    "/AlphaSenders": {"AlphaSender": "Acme", "RegisteredIn": "GB"},
    "/StickyMappings": {"To": TO, "SenderSid": "{number}"},
    "/StickyMappings/{to}": {"SenderSid": "{number}"},
    "/Preview": {"To": TO, "Body": "hi", "MediaUrl": "https://e.com/a.png", "SmartEncoded": "1"},
    "/AuthTokens/Secondary": {"SuppressEmailNotification": "true"},
    "/AuthTokens/Promote": {"SuppressEmailNotification": "true"},
    "/Simulator/Inbound": {
        "From": "+12125550100", "To": SENDER, "Body": "STOP", "CarrierMessageId": "c1",
        "MediaUrl": "https://e.com/a.png",
    },
    "/OptOut": {
        "Enabled": "true", "OptOutKeywords": "STOP,ARRET", "HelpReply": "Help!",
        "Languages": '[{"language": "es", "help_keywords": ["AYUDA"]}]',
        "Countries": '[{"country": "MX", "opt_out_reply": "Baja"}]',
    },
    "/OptOuts/Import": {"phone_number": TO},
}  # fmt: skip

# Every parameter name Herald reads, and some it does not.
NAMES = sorted(
    {name for form in VALID_FORMS.values() for name in form}
    | {
        "MessagingServiceSid", "ScheduleType", "SendAt", "ContentSid", "Status",
        "PageSize", "Page", "PageToken", "PersistentAction", "ContentVariables",
    }
)  # fmt: skip

odd = st.sampled_from(
    ["", " ", "\t", "²", "٣", "1e999", "NaN", "-0", "true", "\x00", "\u202e", "\ufeff", "%",
     "%FF", "javascript:alert(1)", "http://a_b/", "http://[::1", "MG" + "0" * 32, "PA", "{}",
     '{"a": 1}', "[]", "+", "\r\n", "𝒳" * 40, "e\u0301" * 30,
     # MediaUrl forms: refused before any fetch, or by the fetch (nothing listens there)
     "ftp://e.com/a.png", "HTTP://E.COM/A.PNG", "https://e.com/a.png#x", "//e.com/a.png",
     "http://169.254.169.254/latest/meta-data/", "http://0x7f.1:1/a.png", "http://[::1]:1/a",
     "http://127.0.0.1:1/a.png", "https://e.com/" + "a" * 2100, "data:image/png;base64,iVBO"]
)  # fmt: skip
values = st.one_of(
    st.text(max_size=40),
    st.text(min_size=60, max_size=3000),
    st.integers().map(str),
    st.integers(min_value=2**31 - 2, max_value=10**40).map(str),
    st.integers(min_value=-(10**40), max_value=-(2**31) + 2).map(str),
    odd,
    st.text(st.characters(codec="utf-8", categories=["Mn", "Zs", "Cf", "So", "Lo"]), max_size=50),
)
any_name = st.one_of(st.sampled_from(NAMES), st.text(min_size=1, max_size=30))


def edits(form: list[tuple[str, str]]) -> st.SearchStrategy[list[tuple[bool, str, str]]]:
    """(add?, name, value): mostly the form's own parameters, then any other name."""
    own = st.sampled_from([name for name, _ in form]) if form else any_name
    return st.lists(st.tuples(st.booleans(), st.one_of(own, any_name), values), max_size=5)


@dataclass
class World:
    base_url: str
    auth: tuple[str, str]
    sids: dict[str, str]
    statuses: Counter[int] = field(default_factory=Counter)

    def fill(self, path: str, replace: dict[str, str] | None = None) -> str:
        """The route's path with each parameter a real value (or the given ones)."""
        given_ = replace or {}

        def value(match: re.Match[str]) -> str:
            name = match.group(1)
            if name in given_:
                return given_[name]
            before = path[: match.start()].rstrip("/").rsplit("/", 1)[-1]
            return self.sids.get(f"{before}:{name}") or self.sids.get(name) or "X"

        return _PARAM.sub(value, path)

    def form_for(self, path: str) -> list[tuple[str, str]]:
        key = next((k for k in sorted(VALID_FORMS, key=len, reverse=True) if path.endswith(k)), "")
        form = VALID_FORMS.get(key, {})
        named = {
            "{number}": self.sids["number"],
            "{short_code}": self.sids["short_code"],
            "{media}": self.sids["media"],
        }
        return [(name, named.get(value, value)) for name, value in form.items()]


@pytest.fixture(scope="module")
def world(herald: Herald, media_server: Receiver) -> Iterator[World]:
    account = herald.account()
    client = herald.client(account)
    number = client.incoming_phone_numbers.create(phone_number=SENDER)
    auth = (account.sid, account.auth_token)
    with httpx.Client(base_url=herald.base_url, auth=auth, timeout=10) as http:
        a = f"/2010-04-01/Accounts/{account.sid}"
        code = http.post(f"{a}/SMS/ShortCodes.json", data={"ShortCode": "55500"}).json()
        key = http.post(f"{a}/Keys.json", data={"FriendlyName": "k"}).json()
    service = client.messaging.v1.services.create(friendly_name="fuzz")
    client.messaging.v1.services(service.sid).phone_numbers.create(phone_number_sid=number.sid)
    alpha = client.messaging.v1.services(service.sid).alpha_senders.create(alpha_sender="Acme")
    message = client.messages.create(
        to=TO, from_=SENDER, body="x", media_url=[f"{media_server.url}/a.png"]
    )
    media = client.messages(message.sid).media.list()[0]
    sids = {
        "account_sid": account.sid,
        "service_sid": service.sid,
        "media_sid": media.sid,
        "number": number.sid,
        "short_code": code["sid"],
        "Messages:sid": message.sid,
        "IncomingPhoneNumbers:sid": number.sid,
        "ShortCodes:sid": code["sid"],
        "Keys:sid": key["sid"],
        "Services:sid": service.sid,
        "PhoneNumbers:sid": number.sid,
        "AlphaSenders:sid": alpha.sid,
        "id": "1",
        "to": TO,
        "number_type": "Local",
        "code": "abcdefg",
        "media": f"{media_server.url}/a.png",
    }
    yield World(herald.base_url, auth, sids)


def served_routes(herald: Herald) -> list[Route]:
    """The REST API's routes (the console's HTML pages answer in HTML: tests/console)."""
    routes = create_app(herald.runtime).routes
    return [
        route
        for route in routes
        if isinstance(route, Route) and not route.path.startswith("/console")
    ]


def check(world: World, response: httpx.Response) -> None:
    world.statuses[response.status_code] += 1
    assert response.status_code < 500, response.text
    if response.status_code >= 400:
        body = response.json()
        assert (
            raw_http.twilio_error_problems(response.status_code, body, response.status_code) == []
        )


def post_paths(herald: Herald) -> list[str]:
    return sorted({r.path for r in served_routes(herald) if "POST" in (r.methods or ())})


def test_every_write_endpoint_is_known_to_the_fuzzer(herald: Herald) -> None:
    """A new POST route is fuzzed from an empty form until it is given a valid one here."""
    unknown = [p for p in post_paths(herald) if not any(p.endswith(k) for k in VALID_FORMS)]
    assert unknown == []


def test_no_form_earns_a_5xx_or_a_non_twilio_error(
    herald: Herald, world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    paths = post_paths(herald)
    started = time.monotonic()
    with httpx.Client(base_url=world.base_url, auth=world.auth, timeout=10) as http:

        @given(data=st.data())
        @settings(
            max_examples=FORM_EXAMPLES,
            deadline=None,
            database=None,
            suppress_health_check=[HealthCheck.too_slow],
        )
        def post(data: st.DataObject) -> None:
            path = data.draw(st.sampled_from(paths), label="path")
            pairs = world.form_for(path)
            for add, name, value in data.draw(edits(pairs), label="edits"):
                if not add:  # replace: the name's other values go
                    pairs = [(k, v) for k, v in pairs if k != name]
                pairs.append((name, value))
            response = http.post(
                world.fill(path),
                content=urlencode(pairs).encode(),
                headers={"Content-Type": "application/x-www-form-urlencoded"},
            )
            check(world, response)
            if path.endswith("/AuthTokens/Promote") and response.status_code == 200:
                world.auth = http.auth = (world.auth[0], response.json()["auth_token"])

        post()
    _report(capsys, herald, "forms", world, started)


def test_no_path_segment_earns_a_5xx_or_a_non_twilio_error(
    herald: Herald, world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    routes = [
        (method, route.path, name)
        for route in served_routes(herald)
        for method in sorted((route.methods or set()) - {"HEAD"})
        for name in route.param_convertors
    ]
    started = time.monotonic()
    world.statuses.clear()
    segments = st.one_of(st.text(max_size=80), odd, st.integers().map(str))
    with httpx.Client(base_url=world.base_url, auth=world.auth, timeout=10) as http:

        @given(target=st.sampled_from(routes), segment=segments)
        @settings(
            max_examples=PATH_EXAMPLES,
            deadline=None,
            database=None,
            suppress_health_check=[HealthCheck.too_slow],
        )
        def request(target: tuple[str, str, str], segment: str) -> None:
            method, path, name = target
            url = world.fill(path, {name: quote(segment, safe="")})
            check(world, http.request(method, url))

        request()
    _report(capsys, herald, "path segments", world, started)


def _report(
    capsys: pytest.CaptureFixture[str], herald: Herald, what: str, world: World, started: float
) -> None:
    total = sum(world.statuses.values())
    with capsys.disabled():
        print(
            f"\nhypothesis [{herald.backend}] {what}: {total} requests in "
            f"{time.monotonic() - started:.1f}s; statuses {sorted(world.statuses.items())}"
        )
    assert total > 0
