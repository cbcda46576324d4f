"""Couriers carry one signed callback to its receiver and bring back the HTTP status.

`HttpCourier` signs and posts in this process; `herald.webhooks.courier_process` runs the
same courier in helper processes, so that signing and HTTP use another core.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Protocol

from herald.webhooks.http import HttpClient, WebhookFailure
from herald.webhooks.signer import Signable, build_request

__all__ = ["Courier", "HttpCourier", "WebhookFailure"]

CONNECT_TIMEOUT_S = 5.0  # Twilio's default connect timeout (reference §9.4)


class Courier(Protocol):
    """The seam to the outside world: deliver one callback, return its HTTP status."""

    async def deliver(self, callback: Signable, auth_token: str) -> int:
        """Raise WebhookFailure when no answer came."""
        ...


class HttpCourier:
    """Signs with the account's token and posts, in this process."""

    def __init__(self, client: HttpClient) -> None:
        self._client = client

    @classmethod
    @asynccontextmanager
    async def open(
        cls, *, concurrency: int, timeout_s: float, allow_private: bool
    ) -> AsyncIterator[HttpCourier]:
        client = HttpClient(
            timeout_s=timeout_s,
            connect_timeout_s=CONNECT_TIMEOUT_S,
            max_idle_per_origin=concurrency,
            allow_private=allow_private,
        )
        try:
            yield cls(client)
        finally:
            await client.aclose()

    async def deliver(self, callback: Signable, auth_token: str) -> int:
        request = build_request(callback, auth_token)
        return await self._client.send(request.method, request.url, request.headers, request.body)
