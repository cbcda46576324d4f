"""Where Twilio's resources live, and what each route touches as far as access goes.

Access is decided here, from the route a request matched, for every handler at once
(`requests.account_of`): a new route is covered without a check of its own.
"""

from __future__ import annotations

import functools

from herald.domain.access import Resource

ACCOUNT = "/2010-04-01/Accounts/{account_sid}"
HERALD = "/herald/v1/Accounts/{account_sid}"  # Herald's own resources
AUTH_TOKENS = "/v1/AuthTokens"  # Twilio's Accounts v1 API (accounts.twilio.com)

_REGISTERING = frozenset(
    f"{ACCOUNT}/IncomingPhoneNumbers{kind}.json" for kind in ("", "/Local", "/Mobile", "/TollFree")
)


@functools.lru_cache(maxsize=256)  # a few dozen routes, asked on every request
def resource_of(method: str, route: str) -> Resource:
    """What a request to `route` (its template, as declared) with `method` touches."""
    if route == f"{ACCOUNT}.json" or route.startswith(AUTH_TOKENS):
        return Resource.ACCOUNT
    if route.startswith(f"{ACCOUNT}/Keys"):
        return Resource.KEYS
    if method == "POST" and route == f"{ACCOUNT}/Messages.json":
        return Resource.SENDING
    if method == "POST" and route in _REGISTERING:
        return Resource.REGISTERING
    return Resource.OTHER
