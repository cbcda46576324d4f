"""Status-callback delivery: drain the outbox, POST each callback signed, retry with
exponential backoff, dead-letter after `max_attempts`.

A loop of its own, so a slow receiver never slows sending. Each cycle is one
transaction that records the finished attempts and claims the next due callbacks, so
callback n+1 of a message is claimable the moment n's outcome is stored. Requests are
bounded overall (`concurrency`) and per host (`per_host`): a receiver that times out
holds at most `per_host` slots and the rest keep flowing to other hosts.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import random
import re
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import quote_plus

import aiohttp
import yarl
from sqlalchemy.engine import Connection

from herald.clock import Clock
from herald.store import accounts as account_store
from herald.store import callbacks as store
from herald.store.callbacks import Attempt
from herald.store.db import Database
from herald.webhooks.callbacks import Callback, CallbackState, event_time, origin_of
from herald.webhooks.signer import sign

log = logging.getLogger("herald.webhooks")

USER_AGENT = "Herald/0.1 (TwilioProxy-compatible)"
CONNECT_TIMEOUT_S = 5.0  # Twilio's default connect timeout (reference §9.4)
MAX_BACKOFF_S = 3600.0
MAX_BODY = 65_536  # bytes of a receiver's answer read before the connection is dropped
PURGE_EVERY_US = 60_000_000

TokenLookup = Callable[[str], Awaitable[str | None] | str | None]


class WebhookFailure(Exception):
    """A request that got no HTTP answer (connect error, reset, timeout)."""


class HttpClient(Protocol):
    """The seam to the outside world: send one request, return its HTTP status."""

    async def send(self, method: str, url: str, headers: Mapping[str, str], body: bytes) -> int:
        """Raise WebhookFailure when no answer came; `url` is sent exactly as given."""
        ...


class AiohttpClient:
    """The default client: keep-alive connections, no cookies shared between accounts."""

    def __init__(self, session: aiohttp.ClientSession, timeout_s: float) -> None:
        self._session = session
        self._timeout_s = timeout_s

    @classmethod
    @asynccontextmanager
    async def open(cls, *, concurrency: int, timeout_s: float) -> AsyncIterator[AiohttpClient]:
        connector = aiohttp.TCPConnector(limit=concurrency, limit_per_host=0, ttl_dns_cache=60)
        timeout = aiohttp.ClientTimeout(
            total=timeout_s, sock_connect=min(CONNECT_TIMEOUT_S, timeout_s)
        )
        async with aiohttp.ClientSession(
            connector=connector,
            timeout=timeout,
            cookie_jar=aiohttp.DummyCookieJar(),
            auto_decompress=False,
        ) as session:
            yield cls(session, timeout_s)

    async def send(self, method: str, url: str, headers: Mapping[str, str], body: bytes) -> int:
        target = yarl.URL(url, encoded=True)
        try:
            async with self._session.request(
                method, target, data=body or None, headers=headers, allow_redirects=False
            ) as response:
                read = 0
                while read <= MAX_BODY and (chunk := await response.content.read(MAX_BODY)):
                    read += len(chunk)
                return response.status
        except TimeoutError as exc:
            raise WebhookFailure(f"timed out after {self._timeout_s:g}s") from exc
        except aiohttp.ClientError as exc:
            raise WebhookFailure(f"{type(exc).__name__}: {exc}") from exc


@dataclass(frozen=True, slots=True, kw_only=True)
class Request:
    method: str
    url: str
    headers: dict[str, str]
    body: bytes


def wire_url(url: str) -> str:
    """The URL as it goes on the wire (what receivers see and validate): normalised
    percent-encoding, no fragment, and `/` for an empty path."""
    parsed = yarl.URL(url).with_fragment(None)
    text = str(parsed)
    if not parsed.raw_query_string and not text.endswith("/") and parsed.raw_path == "/":
        text += "/"
    return text


_UNRESERVED = re.compile(r"[A-Za-z0-9_.~-]*")


def form_encode(params: Iterable[tuple[str, str]]) -> str:
    """`application/x-www-form-urlencoded`, as `urlencode` writes it, but skipping the
    quoting of the SIDs and statuses that need none (most of a callback)."""

    def quoted(text: str) -> str:
        return text if _UNRESERVED.fullmatch(text) else quote_plus(text)

    return "&".join(f"{quoted(name)}={quoted(value)}" for name, value in params)


def build_request(callback: Callback, auth_token: str) -> Request:
    """The signed request for `callback` (§9.3: a GET's parameters are in its URL)."""
    url = wire_url(callback.url)
    form = form_encode(callback.params)
    body = form.encode()
    if callback.method.upper() == "GET":
        url += ("&" if "?" in url else "?") + form
        signature, body = sign(url, (), auth_token), b""
    else:
        signature = sign(url, callback.params, auth_token)
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "User-Agent": USER_AGENT,
        "X-Twilio-Signature": signature,
        "I-Twilio-Idempotency-Token": f"{callback.message_sid}-{callback.sequence}",
        "X-Herald-Sequence": str(callback.sequence),
        "X-Herald-Event-Time": event_time(callback.event_time),
    }
    return Request(method=callback.method.upper(), url=url, headers=headers, body=body)


@dataclass(frozen=True, slots=True, kw_only=True)
class RetryPolicy:
    max_attempts: int = 8
    backoff_s: float = 1.0
    max_backoff_s: float = MAX_BACKOFF_S
    jitter: float = 0.1  # up to this fraction is added to each delay

    def delay_s(self, attempt: int, draw: float) -> float:
        """The wait after failed attempt number `attempt` (1-based); `draw` is in [0, 1)."""
        base = min(self.backoff_s * 2.0 ** (attempt - 1), self.max_backoff_s)
        return base * (1 + self.jitter * draw)


def judge(
    callback: Callback,
    status_code: int | None,
    error: str | None,
    now: int,
    policy: RetryPolicy,
    draw: float,
) -> Attempt:
    """Delivered on a 2xx; otherwise retried after a backoff, or dead at the last attempt."""
    if status_code is not None and 200 <= status_code < 300:
        return Attempt(
            callback=callback,
            state=CallbackState.DELIVERED,
            next_attempt_at=now,
            status_code=status_code,
        )
    error = error or f"HTTP {status_code}"
    attempt = callback.attempts + 1
    if attempt >= policy.max_attempts:
        state, due = CallbackState.DEAD, now
    else:
        state, due = CallbackState.PENDING, now + round(policy.delay_s(attempt, draw) * 1e6)
    return Attempt(
        callback=callback,
        state=state,
        next_attempt_at=due,
        error=error[:500],
        status_code=status_code,
    )


class TokenCache:
    """Auth tokens by account SID, remembered for `ttl_s`; signing needs one per request."""

    def __init__(self, db: Database, clock: Clock, ttl_s: float = 60.0) -> None:
        self._db = db
        self._clock = clock
        self._ttl_us = round(ttl_s * 1e6)
        self._tokens: dict[str, tuple[int, str | None]] = {}

    async def __call__(self, account_sid: str) -> str | None:
        now = self._clock.now_us()
        cached = self._tokens.get(account_sid)
        if cached is not None and cached[0] > now:
            return cached[1]
        account = await self._db.read(lambda conn: account_store.get_account(conn, account_sid))
        token = account.auth_token if account is not None else None
        self._tokens[account_sid] = (now + self._ttl_us, token)
        return token


@dataclass
class DeliveryStats:
    """Counters for /metrics."""

    delivered: int = 0
    failed_attempts: int = 0
    dead: int = 0
    in_flight: int = 0


class CallbackDelivery:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        *,
        auth_tokens: TokenLookup | None = None,
        max_attempts: int = 8,
        backoff_s: float = 1.0,
        timeout_s: float = 15.0,
        concurrency: int = 64,
        per_host: int = 16,
        poll_s: float = 0.5,
        keep_delivered_s: float = 86_400.0,
        http_client: HttpClient | None = None,
        jitter: Callable[[], float] | None = random.random,
    ) -> None:
        self._db = db
        self._clock = clock
        self._tokens: TokenLookup = auth_tokens or TokenCache(db, clock)
        self._policy = RetryPolicy(max_attempts=max_attempts, backoff_s=backoff_s)
        self._timeout_s = timeout_s
        self._concurrency = concurrency
        self._per_host = per_host
        self._poll_us = round(poll_s * 1e6)
        self._cycle_at = 0
        self._keep_us = round(keep_delivered_s * 1e6)
        self._given_client = http_client
        self._jitter = jitter
        self._wakeup = asyncio.Event()
        self._running: dict[int, tuple[str, asyncio.Task[None]]] = {}  # id → origin, task
        self._busy: Counter[str] = Counter()  # requests in flight by origin
        self._finished: list[Attempt] = []
        self._next_purge = 0
        self.stats = DeliveryStats()

    def wake(self) -> None:
        """New callbacks were committed: claim them now rather than at the next poll."""
        self._wakeup.set()

    async def run(self, stop: asyncio.Event) -> None:
        """Deliver until `stop` is set; then cancel requests in flight and release them."""
        async with self._client() as client, asyncio.TaskGroup() as tasks:
            watcher = tasks.create_task(self._watch(stop))
            while not stop.is_set():
                self._wakeup.clear()
                for callback in await self._cycle():
                    origin = origin_of(callback.url)
                    task = tasks.create_task(self._attempt(client, callback))
                    self._running[callback.id] = (origin, task)
                    self._busy[origin] += 1
                self.stats.in_flight = len(self._running)
                if not self._finished:
                    await self._idle()
            watcher.cancel()
            await self._shutdown()

    @asynccontextmanager
    async def _client(self) -> AsyncIterator[HttpClient]:
        if self._given_client is not None:
            yield self._given_client
            return
        async with AiohttpClient.open(
            concurrency=self._concurrency, timeout_s=self._timeout_s
        ) as client:
            yield client

    async def _watch(self, stop: asyncio.Event) -> None:
        await stop.wait()
        self._wakeup.set()

    async def _idle(self) -> None:
        """Wait for a wake-up or until a poll interval after the last cycle's `now`."""
        if self._wakeup.is_set():
            return
        sleeper = asyncio.ensure_future(self._sleep_until(self._cycle_at + self._poll_us))
        waiter = asyncio.ensure_future(self._wakeup.wait())
        try:
            await asyncio.wait({sleeper, waiter}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            sleeper.cancel()
            waiter.cancel()

    async def _sleep_until(self, deadline: int) -> None:
        # Reading the time and starting the sleep with no await between them means a
        # manual clock moved meanwhile is never missed.
        while (left := deadline - self._clock.now_us()) > 0:
            await self._clock.sleep(left / 1e6)

    async def _cycle(self) -> list[Callback]:
        """Record finished attempts and claim what the freed slots allow, in one commit."""
        done, self._finished = self._finished, []
        busy = self._busy.copy()
        busy.subtract(self._running[a.callback.id][0] for a in done)
        free = self._concurrency - len(self._running) + len(done)
        now = self._cycle_at = self._clock.now_us()
        purge = now >= self._next_purge

        def write(conn: Connection) -> list[Callback]:
            store.record(conn, done, now)
            if purge:
                store.purge_delivered(conn, now - self._keep_us)
            if free <= 0:
                return []
            lease = now + round((2 * self._timeout_s + 30) * 1e6)
            return store.claim_due(
                conn, now, free, lease_until=lease, busy=busy, per_origin=self._per_host
            )

        try:
            claimed = await self._db.write(write)
        except Exception:
            log.exception("callback outbox cycle failed; retrying at the next poll")
            self._finished[:0] = done
            self._wakeup.clear()
            await self._idle()
            return []
        if purge:
            self._next_purge = now + PURGE_EVERY_US
        self._settle(done)
        return [c for c in claimed if c.id not in self._running]

    def _settle(self, done: list[Attempt]) -> None:
        """Their outcomes are stored: free their slots and count them."""
        for attempt in done:
            origin, _ = self._running.pop(attempt.callback.id)
            self._busy[origin] -= 1
            if attempt.state is CallbackState.DELIVERED:
                self.stats.delivered += 1
            else:
                self.stats.failed_attempts += 1
                self.stats.dead += attempt.state is CallbackState.DEAD
        self.stats.in_flight = len(self._running)

    async def _attempt(self, client: HttpClient, callback: Callback) -> None:
        status: int | None = None
        error: str | None = None
        try:
            token = await self._token(callback.account_sid)
            if token is None:
                error = f"account {callback.account_sid} not found: cannot sign"
            else:
                request = build_request(callback, token)
                status = await client.send(
                    request.method, request.url, request.headers, request.body
                )
        except WebhookFailure as exc:
            error = str(exc)
        except Exception as exc:
            log.exception("callback %d: unexpected delivery error", callback.id)
            error = f"{type(exc).__name__}: {exc}"
        draw = self._jitter() if self._jitter is not None else 0.0
        self._finished.append(
            judge(callback, status, error, self._clock.now_us(), self._policy, draw)
        )
        self._wakeup.set()

    async def _token(self, account_sid: str) -> str | None:
        found = self._tokens(account_sid)
        return await found if inspect.isawaitable(found) else found

    async def _shutdown(self) -> None:
        """Cancel requests in flight; store what finished and make the rest due again."""
        for _, task in self._running.values():
            task.cancel()
        await asyncio.gather(*(task for _, task in self._running.values()), return_exceptions=True)
        done, self._finished = self._finished, []
        recorded = {a.callback.id for a in done}
        unfinished = [i for i in self._running if i not in recorded]
        now = self._clock.now_us()

        def write(conn: Connection) -> None:
            store.record(conn, done, now)
            store.release(conn, unfinished, now)

        try:
            await self._db.write(write)
        except Exception:
            log.exception("could not release %d callbacks at shutdown", len(unfinished))
        self._settle(done)
        self._running.clear()
        self._busy.clear()
        self.stats.in_flight = 0
