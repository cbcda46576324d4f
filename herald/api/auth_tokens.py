"""Auth token rotation, as Twilio's Accounts v1 API does it (`/v1/AuthTokens/…`).

A secondary token is created beside the primary; both authenticate while the
applications move to the new one; promoting it makes it the only token (the old
primary stops working at once on this node, on others within `HERALD_AUTH_CACHE_S`).
Callbacks are always signed with the primary. Only the account's own credentials
reach these resources, never an API key or test credentials (`domain/access.py`).
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from herald.api.paths import AUTH_TOKENS
from herald.api.requests import account_of, json, no_content, not_found, runtime_of
from herald.api.v1_paging import base_url
from herald.domain.accounts import Account
from herald.domain.timestamps import iso8601
from herald.store import accounts as store

SECONDARY = f"{AUTH_TOKENS}/Secondary"
PROMOTE = f"{AUTH_TOKENS}/Promote"


def _secondary(account: Account, url: str) -> dict[str, Any]:
    return {
        "account_sid": account.sid,
        "date_created": iso8601(account.secondary_date_created),
        "date_updated": iso8601(account.date_updated),
        "secondary_auth_token": account.secondary_auth_token,
        "url": url,
    }


async def create_secondary(request: Request) -> Response:
    account = await account_of(request)
    runtime = runtime_of(request)
    token, now = runtime.new_secret(), runtime.clock.now_us()
    updated = await runtime.db.write(
        lambda conn: store.create_secondary_token(conn, account.sid, token, now)
    )
    if updated is None:  # deleted since it authenticated
        raise not_found(SECONDARY)
    runtime.auth.forget(account.sid)
    return json(_secondary(updated, base_url(request) + SECONDARY), 201)


async def delete_secondary(request: Request) -> Response:
    account = await account_of(request)
    runtime = runtime_of(request)
    now = runtime.clock.now_us()
    if not await runtime.db.write(
        lambda conn: store.delete_secondary_token(conn, account.sid, now)
    ):
        raise not_found(SECONDARY)
    runtime.auth.forget(account.sid)
    return no_content()


async def promote(request: Request) -> Response:
    """The secondary token becomes the primary; 20404 when there is no secondary."""
    account = await account_of(request)
    runtime = runtime_of(request)
    now = runtime.clock.now_us()
    promoted = await runtime.db.write(
        lambda conn: store.promote_secondary_token(conn, account.sid, now)
    )
    if promoted is None:
        raise not_found(SECONDARY)
    runtime.auth.forget(account.sid)
    return json(
        {
            "account_sid": promoted.sid,
            "auth_token": promoted.auth_token,
            "date_created": iso8601(promoted.date_created),
            "date_updated": iso8601(promoted.date_updated),
            "url": base_url(request) + PROMOTE,
        }
    )


def routes() -> list[Route]:
    return [
        Route(SECONDARY, create_secondary, methods=["POST"]),
        Route(SECONDARY, delete_secondary, methods=["DELETE"]),
        Route(PROMOTE, promote, methods=["POST"]),
    ]
