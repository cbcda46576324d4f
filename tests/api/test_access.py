"""Who may use what: standard API keys never reach the account, its keys or its tokens;
test credentials reach only sending and registering, and store nothing; unknown
usernames are remembered like known ones; tokens rotate as at Twilio."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import event
from twilio.base.exceptions import TwilioRestException

from herald.domain.accounts import Account
from herald.store import accounts as account_store
from tests.api import spec
from tests.conftest import Herald, client_for

# API-only server: nothing here needs dispatch.
DISPATCH = False

_codes = itertools.count(51000)


@pytest.fixture
def keyed(herald: Herald) -> tuple[Account, tuple[str, str]]:
    """An account and a standard API key of it, made with the account's own token."""
    account = herald.account()
    made = httpx.post(
        herald.url(account, "Keys.json"),
        data={"FriendlyName": "ci"},
        auth=(account.sid, account.auth_token),
    )
    assert made.status_code == 201, made.text
    return account, (made.json()["sid"], made.json()["secret"])


def _at(herald: Herald, account: Account, template: str) -> str:
    """The URL of `template` under the account; `.json` is the account itself."""
    base = f"{herald.base_url}/2010-04-01/Accounts/{account.sid}"
    return base + template if template.startswith(".") else f"{base}/{template}"


def _keys_of(herald: Herald, account: Account) -> list[str]:
    listed = httpx.get(herald.url(account, "Keys.json"), auth=(account.sid, account.auth_token))
    return [k["sid"] for k in listed.json()["keys"]]


KEY_REFUSED = [
    ("GET", ".json", None),
    ("GET", "Keys.json", None),
    ("POST", "Keys.json", {"FriendlyName": "successor"}),
    ("GET", "Keys/{key}.json", None),
    ("POST", "Keys/{key}.json", {"FriendlyName": "renamed"}),
    ("DELETE", "Keys/{key}.json", None),
]


@pytest.mark.parametrize(("method", "template", "form"), KEY_REFUSED)
def test_a_standard_key_cannot_use_the_account_or_its_keys(
    herald: Herald,
    keyed: tuple[Account, tuple[str, str]],
    method: str,
    template: str,
    form: dict[str, str] | None,
) -> None:
    account, key = keyed
    path = _at(herald, account, template.format(key=key[0]))
    response = httpx.request(method, path, data=form, auth=key)
    assert spec.error_problems(response, 403, 20003) == []
    assert account.auth_token not in response.text
    assert _keys_of(herald, account) == [key[0]]  # none made, renamed or deleted


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/v1/AuthTokens/Secondary"),
        ("DELETE", "/v1/AuthTokens/Secondary"),
        ("POST", "/v1/AuthTokens/Promote"),
    ],
)
def test_a_standard_key_cannot_touch_the_auth_tokens(
    herald: Herald, keyed: tuple[Account, tuple[str, str]], method: str, path: str
) -> None:
    account, key = keyed
    response = httpx.request(method, herald.base_url + path, auth=key)
    assert spec.error_problems(response, 403, 20003) == []
    owner = (account.sid, account.auth_token)
    assert httpx.get(_at(herald, account, ".json"), auth=owner).status_code == 200


def test_a_standard_key_still_reaches_everything_else(
    herald: Herald, keyed: tuple[Account, tuple[str, str]]
) -> None:
    account, key = keyed
    for path in ("Messages.json", "IncomingPhoneNumbers.json", "SMS/ShortCodes.json"):
        assert httpx.get(herald.url(account, path), auth=key).status_code == 200
    assert httpx.get(f"{herald.base_url}/v1/Services", auth=key).status_code == 200


# -- test credentials ------------------------------------------------------------------


def test_test_credentials_store_no_short_code_and_block_no_one(herald: Herald) -> None:
    tester, real = herald.account(test=True), herald.account()
    code = str(next(_codes))
    refused = httpx.post(
        herald.url(tester, "SMS/ShortCodes.json"),
        data={"ShortCode": code},
        auth=(tester.sid, tester.auth_token),
    )
    assert spec.error_problems(refused, 403, 20008) == []
    made = httpx.post(
        herald.url(real, "SMS/ShortCodes.json"),
        data={"ShortCode": code},
        auth=(real.sid, real.auth_token),
    )
    assert made.status_code == 201, made.text


@pytest.mark.parametrize(
    ("method", "template", "form"),
    [
        ("POST", "Keys.json", {"FriendlyName": "k"}),
        ("GET", "Keys.json", None),
        ("GET", ".json", None),
        ("GET", "Messages.json", None),
        ("GET", "IncomingPhoneNumbers.json", None),
        ("GET", "SMS/ShortCodes.json", None),
    ],
)
def test_test_credentials_reach_nothing_but_sending_and_registering(
    herald: Herald, method: str, template: str, form: dict[str, str] | None
) -> None:
    tester = herald.account(test=True)
    path = _at(herald, tester, template)
    response = httpx.request(method, path, data=form, auth=(tester.sid, tester.auth_token))
    assert spec.error_problems(response, 403, 20008) == []
    keys = herald.runtime.db.run(
        lambda conn: account_store.list_keys(conn, tester.sid, limit=10, offset=0)
    )
    assert keys == []


def test_test_credentials_still_send_and_register(herald: Herald) -> None:
    tester = herald.account(test=True)
    client = herald.client(tester)
    number = client.incoming_phone_numbers.create(phone_number="+15005550006")
    assert number.phone_number == "+15005550006"
    message = client.messages.create(to="+14155550111", from_="+15005550006", body="test")
    assert message.status == "queued"


# -- unknown usernames -----------------------------------------------------------------


@pytest.fixture
def credential_reads(herald: Herald) -> Iterator[list[str]]:
    """Every statement the server runs that reads accounts or keys, as it runs."""
    seen: list[str] = []

    def watch(_conn: Any, _cursor: Any, statement: str, *_rest: Any) -> None:
        if "FROM accounts" in statement or "FROM api_keys" in statement:
            seen.append(statement)

    engine = herald.runtime.db.read_engine
    event.listen(engine, "before_cursor_execute", watch)
    yield seen
    event.remove(engine, "before_cursor_execute", watch)


@pytest.mark.parametrize("prefix", ["AC", "SK"])
def test_an_unknown_username_is_read_once_and_refused_like_a_known_one(
    herald: Herald, credential_reads: list[str], prefix: str
) -> None:
    account = herald.account()
    unknown = prefix + next(_codes).to_bytes(16, "big").hex()
    path = herald.url(account, "Messages.json")
    for _ in range(20):
        response = httpx.get(path, auth=(unknown, "x" * 32))
        assert spec.error_problems(response, 401, 20003) == []
    assert len(credential_reads) == 1  # not once a request
    wrong = httpx.get(path, auth=(account.sid, "x" * 32))
    assert wrong.json() == response.json()  # a known SID's refusal reads the same


def test_a_password_that_is_not_ascii_is_refused_not_a_500(herald: Herald) -> None:
    account = herald.account()
    response = httpx.get(herald.url(account, "Messages.json"), auth=(account.sid, "ünïcödé-päss"))
    assert spec.error_problems(response, 401, 20003) == []
    assert response.headers["www-authenticate"].startswith("Basic")


# -- token rotation --------------------------------------------------------------------


def _accounts_client(herald: Herald, username: str, password: str) -> Any:
    client = client_for(herald.base_url, username, password)
    client.accounts.base_url = herald.base_url
    return client


def _works(herald: Herald, account: Account, token: str) -> bool:
    response = httpx.get(herald.url(account, "Messages.json"), auth=(account.sid, token))
    return response.status_code == 200


def test_rotation_with_a_secondary_token_and_promotion(herald: Herald) -> None:
    account = herald.account()
    old = account.auth_token
    secondary = _accounts_client(herald, account.sid, old).accounts.v1.secondary_auth_token()
    made = secondary.create()
    new = made.secondary_auth_token
    assert made.account_sid == account.sid and new and new != old
    assert _works(herald, account, old) and _works(herald, account, new)
    promoted = (
        _accounts_client(herald, account.sid, new).accounts.v1.auth_token_promotion().update()
    )
    assert promoted.auth_token == new
    assert not _works(herald, account, old) and _works(herald, account, new)
    fetched = httpx.get(_at(herald, account, ".json"), auth=(account.sid, new)).json()
    assert fetched["auth_token"] == new


def test_a_secondary_token_can_be_withdrawn(herald: Herald) -> None:
    account = herald.account()
    client = _accounts_client(herald, account.sid, account.auth_token)
    new = client.accounts.v1.secondary_auth_token().create().secondary_auth_token
    assert client.accounts.v1.secondary_auth_token().delete() is True
    assert not _works(herald, account, new) and _works(herald, account, account.auth_token)
    with pytest.raises(TwilioRestException) as missing:
        client.accounts.v1.auth_token_promotion().update()
    assert (missing.value.status, missing.value.code) == (404, 20404)
    with pytest.raises(TwilioRestException) as again:
        client.accounts.v1.secondary_auth_token().delete()
    assert (again.value.status, again.value.code) == (404, 20404)
