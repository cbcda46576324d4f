"""Two accounts on one server, and nothing of one visible to the other.

Account A owns a number, a short code, a message with media and an API key; account
B owns the same kinds. B, with its own valid credentials, tries every endpoint on A's
SIDs under its own path and on A's path itself: each answers 404 (20404), as for a SID
that does not exist, A's resources are unchanged afterwards, and nothing in any answer
names A's resources unless B's own request did.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

import httpx
import pytest

from tests.api import spec
from tests.conftest import Herald
from tests.webhooks.receiver import Receiver

# API-only server: messages stay queued, so refusals before completion can be tested.
DISPATCH = False

UNKNOWN_ACCOUNT = "AC0123456789abcdef0123456789abcdef"


@dataclass(frozen=True, slots=True)
class Tenant:
    """An account, its resources and its credentials."""

    sid: str
    token: str
    key_secret: str
    phone_number: str
    short_code: str
    to: str
    sids: dict[str, str]

    @property
    def auth(self) -> tuple[str, str]:
        return (self.sid, self.token)

    @property
    def key_auth(self) -> tuple[str, str]:
        return (self.sids["key"], self.key_secret)

    def path(self, template: str, account: str | None = None, **overrides: str) -> str:
        """`template` (relative to an account) under `account` (default: this one),
        with `{number}`, `{message}`… filled by this tenant's SIDs."""
        separator = "" if template.startswith(".") else "/"
        filled = template.format(**{**self.sids, **overrides})
        return f"/2010-04-01/Accounts/{account or self.sid}{separator}{filled}"

    def fields(self) -> dict[str, str]:
        """Everything a template may name: SIDs, `{to}`, `{from}` and `{code}`."""
        return {**self.sids, "to": self.to, "from": self.phone_number, "code": self.short_code}

    def identifiers(self) -> set[str]:
        """What must not reach another account (the short code's few digits could
        turn up inside any hex SID, so its SID stands for it)."""
        return {
            self.sid,
            self.token,
            self.key_secret,
            self.to,
            self.phone_number,
            *self.sids.values(),
        }


def _created(http: httpx.Client, auth: tuple[str, str], path: str, form: dict[str, str]) -> Any:
    response = http.post(path, data=form, auth=auth)
    assert response.status_code == 201, response.text
    return response.json()


def _tenant(
    herald: Herald, http: httpx.Client, phone_number: str, short_code: str, to: str, media: str
) -> Tenant:
    account = herald.account()
    auth = (account.sid, account.auth_token)
    base = f"/2010-04-01/Accounts/{account.sid}"
    number = _created(
        http, auth, f"{base}/IncomingPhoneNumbers.json", {"PhoneNumber": phone_number}
    )
    code = _created(http, auth, f"{base}/SMS/ShortCodes.json", {"ShortCode": short_code})
    key = _created(http, auth, f"{base}/Keys.json", {"FriendlyName": "own"})
    form = {"To": to, "From": phone_number, "Body": "hi", "MediaUrl": media}
    message = _created(http, auth, f"{base}/Messages.json", form)
    media = http.get(f"{base}/Messages/{message['sid']}/Media.json", auth=auth).json()
    return Tenant(
        sid=account.sid,
        token=account.auth_token,
        key_secret=key["secret"],
        phone_number=phone_number,
        short_code=short_code,
        to=to,
        sids={
            "number": number["sid"],
            "short_code": code["sid"],
            "key": key["sid"],
            "message": message["sid"],
            "media": media["media_list"][0]["sid"],
        },
    )


@dataclass(frozen=True, slots=True)
class Pair:
    http: httpx.Client
    a: Tenant
    b: Tenant

    def as_b(
        self,
        method: str,
        path: str,
        form: dict[str, str] | None = None,
        auth: tuple[str, str] | None = None,
    ) -> httpx.Response:
        """B's request, checked to name none of A's identifiers that it did not send."""
        auth = auth or self.b.auth
        if method == "GET":
            response = self.http.get(path, params=form, auth=auth)
        else:
            response = self.http.request(method, path, data=form, auth=auth)
        sent = unquote(str(response.request.url)) + unquote(response.request.content.decode())
        leaked = sorted(x for x in self.a.identifiers() if x in response.text and x not in sent)
        assert leaked == [], f"{method} {path} answered with A's {leaked}: {response.text}"
        return response

    def as_a(self, path: str) -> Any:
        response = self.http.get(path, auth=self.a.auth)
        assert response.status_code == 200, response.text
        return response.json()


@pytest.fixture(scope="module")
def pair(herald: Herald, media_server: Receiver) -> Iterator[Pair]:
    media = f"{media_server.url}/c.jpg"
    with httpx.Client(base_url=herald.base_url, timeout=10) as http:
        a = _tenant(herald, http, "+14155550200", "22222", to="+14155550299", media=media)
        b = _tenant(herald, http, "+14155550300", "33333", to="+14155550399", media=media)
        yield Pair(http, a, b)


# -- A's SIDs under B's own path -----------------------------------------------------

# (method, path under an account, form, the A resource it aims at)
ON_A_SIDS = [
    ("GET", "Messages/{message}.json", None, "Messages/{message}.json"),
    ("POST", "Messages/{message}.json", {"Body": ""}, "Messages/{message}.json"),
    ("POST", "Messages/{message}.json", {"Status": "canceled"}, "Messages/{message}.json"),
    ("DELETE", "Messages/{message}.json", None, "Messages/{message}.json"),
    ("GET", "Messages/{message}/Media.json", None, "Messages/{message}/Media.json"),
    ("GET", "Messages/{message}/Media/{media}.json", None, "Messages/{message}/Media.json"),
    ("GET", "Messages/{message}/Media/{media}", None, "Messages/{message}/Media.json"),
    ("DELETE", "Messages/{message}/Media/{media}.json", None, "Messages/{message}/Media.json"),
    ("GET", "IncomingPhoneNumbers/{number}.json", None, "IncomingPhoneNumbers/{number}.json"),
    (
        "POST",
        "IncomingPhoneNumbers/{number}.json",
        {"FriendlyName": "stolen", "SmsUrl": "https://evil.example/sms"},
        "IncomingPhoneNumbers/{number}.json",
    ),
    ("DELETE", "IncomingPhoneNumbers/{number}.json", None, "IncomingPhoneNumbers/{number}.json"),
    ("GET", "SMS/ShortCodes/{short_code}.json", None, "SMS/ShortCodes/{short_code}.json"),
    (
        "POST",
        "SMS/ShortCodes/{short_code}.json",
        {"FriendlyName": "stolen", "SmsUrl": "https://evil.example/sms"},
        "SMS/ShortCodes/{short_code}.json",
    ),
    ("DELETE", "SMS/ShortCodes/{short_code}.json", None, "SMS/ShortCodes/{short_code}.json"),
    ("GET", "Keys/{key}.json", None, "Keys/{key}.json"),
    ("POST", "Keys/{key}.json", {"FriendlyName": "stolen"}, "Keys/{key}.json"),
    ("DELETE", "Keys/{key}.json", None, "Keys/{key}.json"),
]


def _id(method: str, template: str, form: dict[str, str] | None) -> str:
    return f"{method} {template}" + (f" {','.join(form)}" if form else "")


@pytest.mark.parametrize(
    ("method", "template", "form", "target"), ON_A_SIDS, ids=[_id(*c[:3]) for c in ON_A_SIDS]
)
def test_a_sid_under_b_path_is_404(
    pair: Pair, method: str, template: str, form: dict[str, str] | None, target: str
) -> None:
    a, b = pair.a, pair.b
    before = pair.as_a(a.path(target))
    response = pair.as_b(method, b.path(template.format(**a.sids)), form)
    assert spec.error_problems(response, 404, 20404) == []
    assert pair.as_a(a.path(target)) == before


@pytest.mark.parametrize("method", ["GET", "DELETE"])
def test_a_media_under_b_message_is_404(pair: Pair, method: str) -> None:
    a, b = pair.a, pair.b
    before = pair.as_a(a.path("Messages/{message}/Media/{media}.json"))
    response = pair.as_b(
        method, b.path("Messages/{message}/Media/{media}.json", media=a.sids["media"])
    )
    assert spec.error_problems(response, 404, 20404) == []
    assert pair.as_a(a.path("Messages/{message}/Media/{media}.json")) == before


# -- B's lists -----------------------------------------------------------------------

# (list path, query, records key, all it may show: B's own resources)
B_LISTS: list[tuple[str, dict[str, str] | None, str, list[str]]] = [
    ("Messages.json", None, "messages", ["message"]),
    ("Messages.json", {"To": "{to}"}, "messages", []),
    ("Messages.json", {"From": "{from}"}, "messages", []),
    ("Messages/{own_message}/Media.json", None, "media_list", ["media"]),
    ("IncomingPhoneNumbers.json", None, "incoming_phone_numbers", ["number"]),
    ("IncomingPhoneNumbers.json", {"PhoneNumber": "{from}"}, "incoming_phone_numbers", []),
    ("IncomingPhoneNumbers.json", {"PhoneNumber": "*0200"}, "incoming_phone_numbers", []),
    ("IncomingPhoneNumbers/Local.json", None, "incoming_phone_numbers", ["number"]),
    ("IncomingPhoneNumbers/TollFree.json", None, "incoming_phone_numbers", []),
    ("IncomingPhoneNumbers/Mobile.json", None, "incoming_phone_numbers", []),
    ("SMS/ShortCodes.json", None, "short_codes", ["short_code"]),
    ("SMS/ShortCodes.json", {"ShortCode": "{code}"}, "short_codes", []),
    ("Keys.json", None, "keys", ["key"]),
]


@pytest.mark.parametrize(
    ("template", "query", "key", "own"),
    B_LISTS,
    ids=[t + (f"?{','.join(q)}" if q else "") for t, q, *_ in B_LISTS],
)
def test_b_lists_show_only_b(
    pair: Pair, template: str, query: dict[str, str] | None, key: str, own: list[str]
) -> None:
    a, b = pair.a, pair.b
    query = {k: v.format(**a.fields()) for k, v in (query or {}).items()}
    path = b.path(template, own_message=b.sids["message"])
    # (A standard API key cannot list keys at all: tests/api/test_access.py.)
    for auth in (b.auth,) if key == "keys" else (b.auth, b.key_auth):
        response = pair.as_b("GET", path, query, auth=auth)
        assert response.status_code == 200, response.text
        body = response.json()
        assert set(body) == spec.ENVELOPE | {key}
        listed = {record["sid"] for record in body[key]}
        assert not listed & set(a.sids.values())
        assert listed == {b.sids[name] for name in own}
        assert all(record.get("account_sid", b.sid) == b.sid for record in body[key])


@pytest.mark.parametrize(
    ("template", "query"),
    [
        ("Messages.json", {"PageToken": "PA{message}"}),
        ("Messages.json", {"PageToken": "PB{message}", "Page": "1"}),
        ("Messages/{own_message}/Media.json", {"PageToken": "PA{media}", "Page": "1"}),
        ("IncomingPhoneNumbers.json", {"PageToken": "PA{number}", "Page": "1"}),
        ("SMS/ShortCodes.json", {"PageToken": "PA{short_code}", "Page": "1"}),
        ("Keys.json", {"PageToken": "PA{key}", "Page": "1"}),
    ],
)
def test_a_page_token_is_unknown_to_b(pair: Pair, template: str, query: dict[str, str]) -> None:
    """A token naming A's record names none of B's: refused (20001), nothing shown."""
    a, b = pair.a, pair.b
    query = {k: v.format(**a.sids) for k, v in query.items()}
    path = b.path(template, own_message=b.sids["message"])
    for auth in (b.auth,) if template == "Keys.json" else (b.auth, b.key_auth):
        response = pair.as_b("GET", path, query, auth=auth)
        assert spec.error_problems(response, 400, 20001) == []
        assert "PageToken" in response.json()["message"]


# -- A's path with B's credentials ---------------------------------------------------

# (method, path under an account, form, the A resource or list it aims at): every
# collection call, then every item call of ON_A_SIDS.
ON_A_PATH = [
    ("GET", ".json", None, ".json"),
    ("GET", "Messages.json", None, "Messages.json"),
    (
        "POST",
        "Messages.json",
        {"To": "+14155550123", "From": "{from}", "Body": "as A"},
        "Messages.json",
    ),
    ("GET", "IncomingPhoneNumbers.json", None, "IncomingPhoneNumbers.json"),
    ("GET", "IncomingPhoneNumbers/Local.json", None, "IncomingPhoneNumbers.json"),
    (
        "POST",
        "IncomingPhoneNumbers.json",
        {"PhoneNumber": "+14155550400"},
        "IncomingPhoneNumbers.json",
    ),
    (
        "POST",
        "IncomingPhoneNumbers/Local.json",
        {"PhoneNumber": "+14155550401"},
        "IncomingPhoneNumbers.json",
    ),
    ("GET", "SMS/ShortCodes.json", None, "SMS/ShortCodes.json"),
    ("POST", "SMS/ShortCodes.json", {"ShortCode": "44444"}, "SMS/ShortCodes.json"),
    ("GET", "Keys.json", None, "Keys.json"),
    ("POST", "Keys.json", {"FriendlyName": "planted"}, "Keys.json"),
    *ON_A_SIDS,
]


@pytest.mark.parametrize("credential", ["auth-token", "api-key"])
@pytest.mark.parametrize(
    ("method", "template", "form", "target"), ON_A_PATH, ids=[_id(*c[:3]) for c in ON_A_PATH]
)
def test_a_path_with_b_credentials_is_404(
    pair: Pair,
    credential: str,
    method: str,
    template: str,
    form: dict[str, str] | None,
    target: str,
) -> None:
    a, b = pair.a, pair.b
    auth = b.auth if credential == "auth-token" else b.key_auth
    form = {k: v.format(**a.fields()) for k, v in form.items()} if form else None
    before = pair.as_a(a.path(target))
    response = pair.as_b(method, a.path(template), form, auth=auth)
    assert spec.error_problems(response, 404, 20404) == []
    assert pair.as_a(a.path(target)) == before


def test_a_path_answers_as_an_unknown_account_does(pair: Pair) -> None:
    """B cannot tell A's account from one that does not exist."""
    a = pair.a
    for template in (".json", "Messages.json", "Messages/{message}.json"):
        known = pair.as_b("GET", a.path(template))
        unknown = pair.as_b("GET", a.path(template, account=UNKNOWN_ACCOUNT))
        assert (known.status_code, known.json()["code"]) == (404, 20404)
        assert known.json() == {
            **unknown.json(),
            "message": unknown.json()["message"].replace(UNKNOWN_ACCOUNT, a.sid),
        }


# -- credentials ---------------------------------------------------------------------


@pytest.mark.parametrize("credential", ["auth-token", "api-key"])
def test_b_credentials_work_for_b(pair: Pair, credential: str) -> None:
    b = pair.b
    auth = b.auth if credential == "auth-token" else b.key_auth
    response = pair.as_b("GET", b.path("Messages/{message}.json"), auth=auth)
    assert response.status_code == 200, response.text
    assert response.json()["account_sid"] == b.sid


@pytest.mark.parametrize(
    "credentials",
    ["none", "wrong-token", "a-token-for-b", "wrong-key-secret", "a-key-secret-for-b-key"],
)
def test_bad_credentials_are_401(pair: Pair, credentials: str) -> None:
    a, b = pair.a, pair.b
    auth = {
        "none": None,
        "wrong-token": (b.sid, "f" * 32),
        "a-token-for-b": (b.sid, a.token),
        "wrong-key-secret": (b.sids["key"], "f" * 48),
        "a-key-secret-for-b-key": (b.sids["key"], a.key_secret),
    }[credentials]
    for template in (".json", "Messages.json", "Keys/{key}.json"):
        response = pair.http.get(b.path(template), auth=auth)
        assert spec.error_problems(response, 401, 20003) == []


def test_deleted_key_stops_authenticating(pair: Pair) -> None:
    b = pair.b
    key = pair.as_b("POST", b.path("Keys.json"), {"FriendlyName": "short-lived"}).json()
    key_auth = (key["sid"], key["secret"])
    assert pair.as_b("GET", b.path("Messages.json"), auth=key_auth).status_code == 200
    deleted = pair.as_b("DELETE", b.path("Keys/{key}.json", key=key["sid"]))
    assert deleted.status_code == 204
    for template in (".json", "Messages.json"):
        response = pair.http.get(b.path(template), auth=key_auth)
        assert spec.error_problems(response, 401, 20003) == []


def test_a_number_cannot_be_registered_by_b(pair: Pair) -> None:
    a, b = pair.a, pair.b
    number = a.path("IncomingPhoneNumbers/{number}.json")
    before = pair.as_a(number)
    for template in ("IncomingPhoneNumbers.json", "IncomingPhoneNumbers/Local.json"):
        response = pair.as_b("POST", b.path(template), {"PhoneNumber": a.phone_number})
        assert spec.error_problems(response, 400, 21422) == []
    assert pair.as_a(number) == before
    listed = pair.as_b("GET", b.path("IncomingPhoneNumbers.json")).json()
    assert a.phone_number not in {n["phone_number"] for n in listed["incoming_phone_numbers"]}


def test_a_short_code_cannot_be_registered_by_b(pair: Pair) -> None:
    a, b = pair.a, pair.b
    code = a.path("SMS/ShortCodes/{short_code}.json")
    before = pair.as_a(code)
    response = pair.as_b("POST", b.path("SMS/ShortCodes.json"), {"ShortCode": a.short_code})
    assert spec.error_problems(response, 400, 21422) == []
    assert pair.as_a(code) == before


def test_b_cannot_send_from_a_number(pair: Pair) -> None:
    a, b = pair.a, pair.b
    before = pair.as_a(a.path("Messages.json"))
    for sender in (a.phone_number, a.short_code):
        form = {"To": "+14155550123", "From": sender, "Body": "spoof"}
        response = pair.as_b("POST", b.path("Messages.json"), form)
        assert spec.error_problems(response, 400, 21606) == []
    assert pair.as_a(a.path("Messages.json")) == before
