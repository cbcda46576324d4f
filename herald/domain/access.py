"""Which credentials may use which resource (reference §1.2, §17).

Twilio's standard API keys reach every resource but the account itself, its keys and
its auth tokens: a leaked key can neither read the master token nor mint itself a
successor, so deleting it ends its access. Test credentials reach only the two
resources they exist for, sending a message and registering a number, and store
nothing (20008 elsewhere).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from herald.domain import errors
from herald.domain.accounts import Account


class Credential(StrEnum):
    AUTH_TOKEN = "auth_token"
    API_KEY = "api_key"


class Resource(StrEnum):
    """What a request touches, as far as access is concerned."""

    ACCOUNT = "account"  # the Account resource and its auth tokens
    KEYS = "keys"
    SENDING = "sending"  # POST Messages.json
    REGISTERING = "registering"  # POST IncomingPhoneNumbers
    OTHER = "other"


_ACCOUNT_ONLY = frozenset({Resource.ACCOUNT, Resource.KEYS})
_FOR_TESTING = frozenset({Resource.SENDING, Resource.REGISTERING})


def refusal(
    credential: Credential, *, is_test: bool, resource: Resource
) -> errors.TwilioError | None:
    """The error that refuses this credential on this resource, or None when allowed."""
    if credential is Credential.API_KEY and resource in _ACCOUNT_ONLY:
        return errors.KeyNotPermitted()
    if is_test and resource not in _FOR_TESTING:
        return errors.TestCredentialsNotAllowed()
    return None


@dataclass(frozen=True, slots=True)
class Caller:
    """Whom a request's credentials prove, and with what kind of credential."""

    account: Account
    credential: Credential
