"""The access table: what each kind of credential may use (reference §1.2, §17)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from herald.domain import errors
from herald.domain.access import Credential, Resource, refusal
from herald.domain.accounts import Account, hash_secret


@pytest.mark.parametrize("resource", list(Resource))
def test_an_auth_token_reaches_everything(resource: Resource) -> None:
    assert refusal(Credential.AUTH_TOKEN, is_test=False, resource=resource) is None


@pytest.mark.parametrize("resource", list(Resource))
def test_a_standard_key_reaches_all_but_the_account_and_its_keys(resource: Resource) -> None:
    refused = refusal(Credential.API_KEY, is_test=False, resource=resource)
    if resource in (Resource.ACCOUNT, Resource.KEYS):
        assert isinstance(refused, errors.KeyNotPermitted)
        assert (refused.code, refused.status) == (20003, 403)
    else:
        assert refused is None


@pytest.mark.parametrize("resource", list(Resource))
def test_test_credentials_reach_only_sending_and_registering(resource: Resource) -> None:
    refused = refusal(Credential.AUTH_TOKEN, is_test=True, resource=resource)
    if resource in (Resource.SENDING, Resource.REGISTERING):
        assert refused is None
    else:
        assert isinstance(refused, errors.TestCredentialsNotAllowed)
        assert (refused.code, refused.status) == (20008, 403)


def test_an_account_with_a_secondary_token_has_two() -> None:
    account = Account(
        sid="AC" + "0" * 32,
        friendly_name="a",
        auth_token="primary",
        status="active",
        is_test=False,
        date_created=0,
        date_updated=0,
    )
    assert account.auth_tokens == ("primary",)
    rotating = replace(account, secondary_auth_token="secondary")
    assert rotating.auth_tokens == ("primary", "secondary")


def test_only_a_hash_of_a_keys_secret_is_kept() -> None:
    """SHA-256 in hex: keys already stored must keep verifying, so the form is pinned."""
    assert hash_secret("abc") == (
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    )
    kept = hash_secret("key-secret-shown-once")
    assert "key-secret-shown-once" not in kept and len(kept) == 64
    assert kept == hash_secret("key-secret-shown-once") != hash_secret("key-secret-shown-twice")
