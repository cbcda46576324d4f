"""The campaign's only way to the target: Twilio's public REST API over aiohttp.

Everything here is a documented Twilio request (seed 004 lists the connector's), except
two Herald extensions used only when the target answers them: the opt-out ledger
(`/herald/v1/Accounts/{AC}/OptOuts/Export.json`) and a service's `Preview`. Herald also
honours `Idempotency-Key` on a create; other targets ignore the header.

Every call retries on 429, 5xx and network errors (`Retrying`); a create whose request
may have reached the server before the connection failed is raised as `Ambiguous`, so
the caller decides whether a retry is safe.

aiohttp rather than httpx, by measurement: at 16 requests in flight httpx spent 7 ms of
CPU per create (its pool's request assignment, and httpcore importing the absent
`sniffio` on every request), aiohttp a small fraction of that (bench/campaign.py).
"""

from __future__ import annotations

import asyncio
import base64
import json
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urljoin

import aiohttp

from herald.campaign import backoff
from herald.campaign.settings import Campaign

T = TypeVar("T")
API = "/2010-04-01/Accounts"
LIST_PAGE_SIZE = 1000


class ApiError(Exception):
    """A refusal (Twilio's error JSON) or a failure to reach the target."""

    def __init__(
        self, message: str, *, status: int = 0, code: int | None = None,
        retry_after_s: float | None = None,
    ) -> None:  # fmt: skip
        super().__init__(message)
        self.status = status
        self.code = code
        self.retry_after_s = retry_after_s

    @property
    def is_retryable(self) -> bool:
        return self.status in (0, 429) or self.status >= 500


class Ambiguous(ApiError):
    """The connection failed after the request was sent: it may have been processed."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Retrying:
    min_s: float
    max_s: float
    max_attempts: int

    @classmethod
    def of(cls, campaign: Campaign) -> Retrying:
        return cls(
            min_s=float(campaign["send.retry_min_s"]),
            max_s=float(campaign["send.retry_max_s"]),
            max_attempts=int(campaign["send.max_attempts"]),
        )

    async def run(
        self,
        call: Callable[[], Awaitable[T]],
        on_retry: Callable[[ApiError], None] = lambda _e: None,
    ) -> T:
        """`call` until it succeeds, raises a refusal, or has failed `max_attempts` times."""
        attempt = 0
        while True:
            attempt += 1
            try:
                return await call()
            except ApiError as exc:
                if (
                    not exc.is_retryable
                    or isinstance(exc, Ambiguous)
                    or attempt >= self.max_attempts
                ):
                    raise
                on_retry(exc)
                await asyncio.sleep(self.delay_s(attempt, exc.retry_after_s))

    def delay_s(self, attempt: int, retry_after_s: float | None) -> float:
        return backoff.delay_s(attempt, self.min_s, self.max_s, retry_after_s, random.uniform)


class Api:
    def __init__(self, campaign: Campaign, *, connections: int) -> None:
        self.account_sid = str(campaign["api.account_sid"])
        self.base_url = str(campaign["api.base_url"]).rstrip("/")
        self.messaging_base_url = campaign.messaging_base_url
        username = str(campaign["api.username"]) or self.account_sid
        # HTTP Basic written out: aiohttp 3.14 deprecates `BasicAuth`, and the helper it
        # points to is not in older releases.
        secret = f"{username}:{campaign['api.auth_token']}".encode()
        self.http = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=float(campaign["api.timeout_s"])),
            connector=aiohttp.TCPConnector(limit=connections),
            headers={"User-Agent": "herald-campaign/1", "Accept": "application/json",
                     "Authorization": "Basic " + base64.b64encode(secret).decode()},
            raise_for_status=False,
        )  # fmt: skip

    async def aclose(self) -> None:
        await self.http.close()

    def account_url(self, path: str) -> str:
        return f"{self.base_url}{API}/{self.account_sid}/{path}"

    async def call(
        self, method: str, url: str, *, data: dict[str, str] | None = None,
        params: dict[str, str] | None = None, headers: dict[str, str] | None = None,
    ) -> dict[str, Any]:  # fmt: skip
        """One request; its JSON, or ApiError."""
        try:
            async with self.http.request(
                method, url, data=data, params=params, headers=headers
            ) as response:
                status, raw = response.status, await response.read()
                retry_after = response.headers.get("Retry-After")
        except aiohttp.ClientConnectorError as exc:  # nothing was sent
            raise ApiError(f"cannot reach {url}: {exc}") from None
        except (aiohttp.ClientError, TimeoutError) as exc:
            cause = f"{method} {url}: {type(exc).__name__} {exc}"
            raise (Ambiguous if method == "POST" else ApiError)(cause) from None
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        if status >= 400:
            raise _refusal(status, body, retry_after)
        if not isinstance(body, dict):
            raise ApiError(f"{method} {url}: the answer is not a JSON object", status=status)
        return body

    # ---- the public API -----------------------------------------------------------------

    async def incoming_numbers(self) -> list[dict[str, Any]]:
        """The account's numbers: seed 004's connectivity test."""
        return [
            n
            async for n in self._pages(
                self.account_url("IncomingPhoneNumbers.json"), {}, "incoming_phone_numbers"
            )
        ]

    async def create_message(self, form: dict[str, str], idempotency_key: str) -> dict[str, Any]:
        return await self.call(
            "POST", self.account_url("Messages.json"), data=form,
            headers={"Idempotency-Key": idempotency_key},
        )  # fmt: skip

    async def fetch_message(self, sid: str) -> dict[str, Any]:
        return await self.call("GET", self.account_url(f"Messages/{sid}.json"))

    def messages(self, filters: dict[str, str]) -> AsyncIterator[dict[str, Any]]:
        """Every message matching Twilio's list filters (`To`, `From`, `DateSent>`…), newest
        first, page after page."""
        params = {**filters, "PageSize": str(LIST_PAGE_SIZE)}
        return self._pages(self.account_url("Messages.json"), params, "messages")

    async def service_senders(self, service_sid: str) -> list[dict[str, Any]]:
        """The service's phone numbers and short codes (their `phone_number`/`short_code`)."""
        base = f"{self.messaging_base_url}/v1/Services/{service_sid}"
        found: list[dict[str, Any]] = []
        for path, key in (("PhoneNumbers", "phone_numbers"), ("ShortCodes", "short_codes")):
            found += [
                entry async for entry in self._pages(f"{base}/{path}", {"PageSize": "1000"}, key)
            ]
        return found

    # ---- Herald's extensions ------------------------------------------------------------

    async def is_herald(self) -> bool:
        url = f"{self.base_url}/herald/v1/Accounts/{self.account_sid}/OptOuts.json"
        try:
            body = await self.call("GET", url, params={"PageSize": "1"})
        except ApiError:
            return False
        return "opt_outs" in body

    async def opt_out_ledger(self) -> list[dict[str, Any]]:
        url = f"{self.base_url}/herald/v1/Accounts/{self.account_sid}/OptOuts/Export.json"
        body = await self.call("GET", url)
        entries = body.get("opt_outs", [])
        return entries if isinstance(entries, list) else []

    async def preview(self, service_sid: str, to: str, body: str) -> dict[str, Any]:
        url = f"{self.messaging_base_url}/v1/Services/{service_sid}/Preview"
        return await self.call("POST", url, data={"To": to, "Body": body})

    async def _pages(
        self, url: str, params: dict[str, str], key: str
    ) -> AsyncIterator[dict[str, Any]]:
        next_url: str | None = url
        query: dict[str, str] | None = params
        while next_url:
            body = await self.call("GET", next_url, params=query)
            for record in body.get(key) or []:
                yield record
            following = body.get("next_page_uri") or (body.get("meta") or {}).get("next_page_url")
            next_url = urljoin(self.base_url + "/", following) if following else None
            query = None  # the next page's URL carries the filters


def _refusal(status: int, body: Any, retry_after: str | None) -> ApiError:
    code: int | None = None
    message = "refused"
    if isinstance(body, dict):
        code = body.get("code") if isinstance(body.get("code"), int) else None
        message = str(body.get("message") or message)
    return ApiError(
        f"{status} {code or ''} {message}".replace("  ", " "),
        status=status, code=code,
        retry_after_s=backoff.retry_after_of(retry_after, time.time()),
    )  # fmt: skip
