"""Every 2010 endpoint Herald serves, called for real and its JSON checked against the
schema Twilio's OpenAPI spec gives for that path, method and status.

Paths are written as the spec writes them, so a request can only be made to a path
the spec knows; their `{…}` are filled with the SIDs of one account's resources.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.api import spec
from tests.conftest import Herald
from tests.webhooks.receiver import Receiver

# API-only server: messages stay queued, so refusals before completion can be tested.
DISPATCH = False

ACCOUNT = "/2010-04-01/Accounts/{Sid}.json"
A = "/2010-04-01/Accounts/{AccountSid}"
MESSAGES = f"{A}/Messages.json"
MESSAGE = f"{A}/Messages/{{Sid}}.json"
MEDIA_LIST = f"{A}/Messages/{{MessageSid}}/Media.json"
MEDIA = f"{A}/Messages/{{MessageSid}}/Media/{{Sid}}.json"
NUMBERS = f"{A}/IncomingPhoneNumbers.json"
LOCAL = f"{A}/IncomingPhoneNumbers/Local.json"
MOBILE = f"{A}/IncomingPhoneNumbers/Mobile.json"
TOLL_FREE = f"{A}/IncomingPhoneNumbers/TollFree.json"
NUMBER = f"{A}/IncomingPhoneNumbers/{{Sid}}.json"
SHORT_CODES = f"{A}/SMS/ShortCodes.json"
SHORT_CODE = f"{A}/SMS/ShortCodes/{{Sid}}.json"
KEYS = f"{A}/Keys.json"
KEY = f"{A}/Keys/{{Sid}}.json"

LOCAL_NUMBER = "+14155550100"
TOLL_FREE_NUMBER = "+18005550100"
MOBILE_NUMBER = "+33612345678"
UNKNOWN = "0123456789abcdef0123456789abcdef"


@dataclass(frozen=True, slots=True)
class World:
    """One account with one resource of each kind, reached over HTTP."""

    http: httpx.Client
    sids: dict[str, str]

    def path(self, template: str, sid: str | None = None) -> str:
        return template.format(
            AccountSid=self.sids["account"],
            MessageSid=self.sids.get("message", ""),
            Sid=self.sids[sid] if sid else "",
        )

    def created(self, template: str, form: dict[str, str]) -> dict[str, Any]:
        response = self.http.post(self.path(template), data=form)
        assert response.status_code == 201, response.text
        body: dict[str, Any] = response.json()
        return body


@pytest.fixture(scope="module")
def world(herald: Herald, media_server: Receiver) -> Iterator[World]:
    account = herald.account()
    auth = (account.sid, account.auth_token)
    with httpx.Client(base_url=herald.base_url, auth=auth, timeout=10) as http:
        w = World(http, {"account": account.sid, "media_server": media_server.url})
        w.sids["number"] = w.created(NUMBERS, {"PhoneNumber": LOCAL_NUMBER})["sid"]
        w.sids["toll_free"] = w.created(NUMBERS, {"PhoneNumber": TOLL_FREE_NUMBER})["sid"]
        w.sids["mobile"] = w.created(NUMBERS, {"PhoneNumber": MOBILE_NUMBER})["sid"]
        w.sids["short_code"] = w.created(SHORT_CODES, {"ShortCode": "12345"})["sid"]
        w.sids["key"] = w.created(KEYS, {"FriendlyName": "spec"})["sid"]
        message = w.created(
            MESSAGES,
            {
                "To": "+14155550111",
                "From": LOCAL_NUMBER,
                "Body": "a cat",
                "MediaUrl": f"{media_server.url}/cat.jpg",
            },
        )
        w.sids["message"] = message["sid"]
        media = http.get(w.path(MEDIA_LIST)).json()["media_list"]
        w.sids["media"] = media[0]["sid"]
        yield w


def assert_matches_spec(body: Any, template: str, method: str, status: int) -> None:
    assert spec.schema_problems(body, template, method, status) == []
    assert spec.date_problems(body) == []


# -- reads ---------------------------------------------------------------------------

FETCHES = [
    (ACCOUNT, "account"),
    (MESSAGE, "message"),
    (MEDIA, "media"),
    (NUMBER, "number"),
    (SHORT_CODE, "short_code"),
    (KEY, "key"),
]


@pytest.mark.parametrize(("template", "sid"), FETCHES, ids=[s for _, s in FETCHES])
def test_fetch_matches_spec(world: World, template: str, sid: str) -> None:
    path = world.path(template, sid)
    response = world.http.get(path)
    assert response.status_code == 200, response.text
    body = response.json()
    assert_matches_spec(body, template, "get", 200)
    assert spec.count_dates(body) >= 2
    assert body["sid"] == world.sids[sid]
    assert body.get("account_sid", world.sids["account"]) == world.sids["account"]
    if "uri" in body:
        assert body["uri"] == path


# (list, SIDs it must include, SIDs it must leave out)
LISTS = [
    (MESSAGES, ["message"], []),
    (MEDIA_LIST, ["media"], []),
    (NUMBERS, ["number", "toll_free", "mobile"], []),
    (LOCAL, ["number"], ["toll_free", "mobile"]),
    (MOBILE, ["mobile"], ["number", "toll_free"]),
    (TOLL_FREE, ["toll_free"], ["number", "mobile"]),
    (SHORT_CODES, ["short_code"], []),
    (KEYS, ["key"], []),
]


@pytest.mark.parametrize(
    ("template", "included", "excluded"), LISTS, ids=[t.split("/", 4)[-1] for t, *_ in LISTS]
)
def test_list_matches_spec(
    world: World, template: str, included: list[str], excluded: list[str]
) -> None:
    path = world.path(template)
    response = world.http.get(path)
    assert response.status_code == 200, response.text
    body = response.json()
    assert_matches_spec(body, template, "get", 200)
    key = spec.records_key(template)
    assert set(body) == spec.ENVELOPE | {key}
    records = body[key]
    listed = {record["sid"] for record in records}
    assert {world.sids[s] for s in included} <= listed
    assert not {world.sids[s] for s in excluded} & listed
    assert body["uri"] == f"{path}?PageSize=50&Page=0"
    assert body["first_page_uri"] == body["uri"]
    assert (body["page"], body["page_size"], body["start"]) == (0, 50, 0)
    assert body["end"] == len(records) - 1
    assert body["next_page_uri"] is None
    assert body["previous_page_uri"] is None


# (query, how the page's uri echoes it, the (field, value) every record must have)
MESSAGE_FILTERS = [
    ({"To": "+14155550111"}, "To=%2B14155550111", ("to", "+14155550111")),
    ({"From": LOCAL_NUMBER}, "From=%2B14155550100", ("from", LOCAL_NUMBER)),
    ({"DateSent>": "2000-01-01"}, "DateSent%3E=2000-01-01", None),
    ({"DateSent<": "2100-01-01", "PageSize": "2"}, "DateSent%3C=2100-01-01", None),
]


@pytest.mark.parametrize(
    ("query", "echoed", "field"), MESSAGE_FILTERS, ids=["to", "from", "after", "before"]
)
def test_filtered_message_list_matches_spec(
    world: World, query: dict[str, str], echoed: str, field: tuple[str, str] | None
) -> None:
    path = world.path(MESSAGES)
    response = world.http.get(path, params=query)
    assert response.status_code == 200, response.text
    body = response.json()
    assert_matches_spec(body, MESSAGES, "get", 200)
    assert set(body) == spec.ENVELOPE | {"messages"}
    assert body["uri"].startswith(f"{path}?{echoed}&PageSize=")
    if field is not None:
        name, value = field
        assert {message[name] for message in body["messages"]} == {value}


def test_list_pages_link_to_each_other(world: World) -> None:
    path = world.path(NUMBERS)
    first = world.http.get(path, params={"PageSize": 1}).json()
    assert spec.schema_problems(first, NUMBERS, "get", 200) == []
    assert first["next_page_uri"] is not None
    second = world.http.get(first["next_page_uri"]).json()
    assert spec.schema_problems(second, NUMBERS, "get", 200) == []
    assert set(second) == spec.ENVELOPE | {"incoming_phone_numbers"}
    assert (second["page"], second["start"], second["end"]) == (1, 1, 1)
    assert second["previous_page_uri"] is not None
    assert first["incoming_phone_numbers"] != second["incoming_phone_numbers"]


# -- writes --------------------------------------------------------------------------

# (collection, form, item path, schema of the answer: path, method, status)
CREATES: list[tuple[str, dict[str, str], str, tuple[str, str, int]]] = [
    (
        MESSAGES,
        {"To": "+14155550112", "From": LOCAL_NUMBER, "Body": "hello"},
        MESSAGE,
        (MESSAGES, "post", 201),
    ),
    (
        MESSAGES,
        {"To": "+14155550112", "From": LOCAL_NUMBER, "MediaUrl": "{media_server}/a.png"},
        MESSAGE,
        (MESSAGES, "post", 201),
    ),
    (NUMBERS, {"PhoneNumber": "+14155550120"}, NUMBER, (NUMBERS, "post", 201)),
    (LOCAL, {"PhoneNumber": "+14155550121"}, NUMBER, (LOCAL, "post", 201)),
    (TOLL_FREE, {"PhoneNumber": "+18445550100"}, NUMBER, (TOLL_FREE, "post", 201)),
    (MOBILE, {"PhoneNumber": "+33612345679"}, NUMBER, (MOBILE, "post", 201)),
    (KEYS, {"FriendlyName": "new"}, KEY, (KEYS, "post", 201)),
    # A Herald extension: the spec has no create, so it must look like a fetched one.
    (SHORT_CODES, {"ShortCode": "54321", "IsoCountry": "US"}, SHORT_CODE, (SHORT_CODE, "get", 200)),
]


@pytest.mark.parametrize(
    ("template", "form", "item", "schema"),
    CREATES,
    ids=["sms", "mms", "number", "local", "toll-free", "mobile", "key", "short-code"],
)
def test_create_matches_spec(
    world: World, template: str, form: dict[str, str], item: str, schema: tuple[str, str, int]
) -> None:
    form = {name: value.format_map(world.sids) for name, value in form.items()}
    body = world.created(template, form)
    assert_matches_spec(body, *schema)
    assert body.get("account_sid", world.sids["account"]) == world.sids["account"]
    fetched = world.http.get(world.path(item.replace("{Sid}", body["sid"])))
    assert fetched.status_code == 200, fetched.text
    assert {k: v for k, v in body.items() if k != "secret"} == fetched.json()


def test_new_key_carries_its_secret_once(world: World) -> None:
    body = world.created(KEYS, {"FriendlyName": "once"})
    assert spec.schema_problems(body, KEYS, "post", 201) == []
    assert isinstance(body["secret"], str)
    assert len(body["secret"]) >= 32
    fetched = world.http.get(world.path(KEY.replace("{Sid}", body["sid"]))).json()
    assert "secret" not in fetched
    listed = world.http.get(world.path(KEYS)).json()["keys"]
    assert all("secret" not in key for key in listed)


UPDATES = [
    (NUMBER, "number", {"FriendlyName": "front desk", "SmsUrl": "https://example.com/sms"}),
    (SHORT_CODE, "short_code", {"FriendlyName": "promo", "SmsUrl": "https://example.com/sc"}),
    (KEY, "key", {"FriendlyName": "renamed"}),
]


@pytest.mark.parametrize(("template", "sid", "form"), UPDATES, ids=[s for _, s, _ in UPDATES])
def test_update_matches_spec(world: World, template: str, sid: str, form: dict[str, str]) -> None:
    path = world.path(template, sid)
    response = world.http.post(path, data=form)
    assert response.status_code == 200, response.text
    body = response.json()
    assert_matches_spec(body, template, "post", 200)
    changed = {"FriendlyName": "friendly_name", "SmsUrl": "sms_url"}
    assert {changed[k]: body[changed[k]] for k in form} == {changed[k]: v for k, v in form.items()}
    assert world.http.get(path).json() == body


# (collection to create in, form, item path)
DELETES = [
    (NUMBERS, {"PhoneNumber": "+14155550130"}, NUMBER),
    (KEYS, {"FriendlyName": "doomed"}, KEY),
    (SHORT_CODES, {"ShortCode": "67890"}, SHORT_CODE),  # a Herald extension
]


@pytest.mark.parametrize(("create", "form", "item"), DELETES, ids=["number", "key", "short-code"])
def test_delete_answers_204_then_404(
    world: World, create: str, form: dict[str, str], item: str
) -> None:
    sid = world.created(create, form)["sid"]
    path = world.path(item.replace("{Sid}", sid))
    deleted = world.http.delete(path)
    assert deleted.status_code == 204
    assert deleted.content == b""
    assert spec.error_problems(world.http.get(path), 404, 20404) == []
    assert spec.error_problems(world.http.delete(path), 404, 20404) == []


# -- refusals on a queued message: Twilio's error JSON, and the message untouched ------

REFUSALS = [
    ("POST", MESSAGE, {"Status": "canceled"}, 30409),  # only a scheduled message cancels
    ("POST", MESSAGE, {"Body": ""}, 20009),  # only a complete message is redacted
    ("POST", MESSAGE, {"Body": "other words"}, 20001),  # Body can only become ""
    ("POST", MESSAGE, {"Status": "sent"}, 20001),
    ("DELETE", MESSAGE, None, 20009),
    ("DELETE", MEDIA, None, 20009),
]


@pytest.mark.parametrize(
    ("method", "template", "form", "code"),
    REFUSALS,
    ids=["cancel", "redact", "rewrite", "bad-status", "delete", "delete-media"],
)
def test_message_refusals_are_twilio_errors(
    world: World, method: str, template: str, form: dict[str, str] | None, code: int
) -> None:
    sid = "media" if template == MEDIA else "message"
    before = world.http.get(world.path(MESSAGE, "message")).json()
    response = world.http.request(method, world.path(template, sid), data=form)
    assert spec.error_problems(response, 400, code) == []
    assert world.http.get(world.path(MESSAGE, "message")).json() == before
    assert world.http.get(world.path(MEDIA, "media")).status_code == 200


# -- errors --------------------------------------------------------------------------

UNKNOWN_FETCHES = [
    (MESSAGE, "SM"),
    (MEDIA_LIST, None),
    (MEDIA, "ME"),
    (NUMBER, "PN"),
    (SHORT_CODE, "SC"),
    (KEY, "SK"),
]


# Every fetch, update and delete Herald serves (short-code delete is its extension).
UNKNOWN_CALLS = [
    (method, template, prefix)
    for template, prefix in UNKNOWN_FETCHES
    for method in ("GET", "POST", "DELETE")
    if spec.has_operation(template, method) or template == SHORT_CODE
]


@pytest.mark.parametrize(
    ("method", "template", "prefix"),
    UNKNOWN_CALLS,
    ids=[f"{m} {t.split('/', 4)[-1]}" for m, t, _ in UNKNOWN_CALLS],
)
def test_unknown_sid_is_404_error(
    world: World, method: str, template: str, prefix: str | None
) -> None:
    path = template.format(
        AccountSid=world.sids["account"],
        MessageSid=world.sids["message"] if prefix == "ME" else f"MM{UNKNOWN}",
        Sid=f"{prefix}{UNKNOWN}",
    )
    response = world.http.request(method, path)
    assert spec.error_problems(response, 404, 20404) == []


BAD_REQUESTS = [
    ("POST", MESSAGES, {"From": LOCAL_NUMBER, "Body": "hi"}, 400, 21604),
    ("POST", MESSAGES, {"To": "+14155550112", "From": LOCAL_NUMBER}, 400, 21602),
    ("POST", MESSAGES, {"To": "+14155550112", "From": "+14155559999", "Body": "x"}, 400, 21606),
    ("POST", NUMBERS, {"PhoneNumber": "not a number"}, 400, 21421),
    ("POST", TOLL_FREE, {"PhoneNumber": "+14155550140"}, 400, 21421),
    ("POST", NUMBERS, {"PhoneNumber": LOCAL_NUMBER}, 400, 21422),
    ("POST", SHORT_CODES, {"ShortCode": "1"}, 400, 20001),
    ("POST", KEYS, {"FriendlyName": "x" * 65}, 400, 20001),
    ("GET", MESSAGES, {"PageSize": "0"}, 400, 20001),
    ("GET", NUMBERS, {"Page": "-1"}, 400, 20001),
    ("PUT", MESSAGES, None, 405, 20004),
    ("GET", f"{A}/Nonsense.json", None, 404, 20404),
    # What no database column holds is refused, never a 500 (PostgreSQL stores no NUL).
    ("POST", MESSAGES, {"To": "+14155550112", "From": LOCAL_NUMBER, "Body": "a\x00b"}, 400, 20001),
    ("GET", MESSAGES, {"To": "+1415\x00"}, 400, 20001),
    ("GET", f"{A}/Messages/SM%00.json", None, 404, 20404),
    ("GET", MESSAGES, {"Page": "99999999999999999999"}, 400, 20001),
    (
        "POST",
        MESSAGES,
        {
            "To": "+14155550112",
            "From": LOCAL_NUMBER,
            "Body": "x",
            "StatusCallback": "https://example.com/" + "a" * 1100,
        },
        400,
        21609,
    ),
    (
        "POST",
        NUMBERS,
        {"PhoneNumber": "+14155550199", "SmsUrl": "https://e.com/" + "a" * 1100},
        400,
        20001,
    ),
]


@pytest.mark.parametrize(
    ("method", "template", "form", "status", "code"),
    BAD_REQUESTS,
    ids=[
        "no-to",
        "no-body",
        "from-not-owned",
        "bad-number",
        "wrong-number-type",
        "number-taken",
        "bad-short-code",
        "long-key-name",
        "page-size-0",
        "negative-page",
        "method",
        "no-such-path",
        "nul-in-body",
        "nul-in-filter",
        "nul-in-path",
        "huge-page",
        "long-status-callback",
        "long-sms-url",
    ],
)
def test_bad_request_is_twilio_error(
    world: World,
    method: str,
    template: str,
    form: dict[str, str] | None,
    status: int,
    code: int,
) -> None:
    path = world.path(template)
    if method == "GET":
        response = world.http.get(path, params=form)
    else:
        response = world.http.request(method, path, data=form)
    assert spec.error_problems(response, status, code) == []


@pytest.mark.parametrize("credentials", ["none", "unknown-account", "wrong-token"])
def test_unauthenticated_is_401_error(world: World, credentials: str) -> None:
    auth = {
        "none": None,
        "unknown-account": ("AC" + UNKNOWN, "0" * 32),
        "wrong-token": (world.sids["account"], "0" * 32),
    }[credentials]
    url = f"{world.http.base_url}{world.path(ACCOUNT.replace('{Sid}', '{AccountSid}'))}"
    response = httpx.get(url, auth=auth)
    assert spec.error_problems(response, 401, 20003) == []
