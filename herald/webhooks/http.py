"""A small HTTP/1.1 client for webhooks: keep-alive connections per origin, responses
parsed by httptools (llhttp, the parser Node.js uses), TLS by the standard library.

Why not aiohttp: a callback is one small POST whose answer matters only for its status,
and aiohttp spends about 140 µs of CPU on each, two callbacks per message, more than the
rest of dispatch. This client does only what a webhook needs, at about a fifth of that:
no redirects, cookies, proxies or compression; the answer's body is read (up to
`MAX_BODY`) only to keep the connection usable, then dropped.

Every request Herald makes on a user's behalf goes through here, so this is where the
webhook target policy (domain/targets.py) is enforced: a new connection resolves the host,
keeps only the addresses the policy allows and connects to one of those addresses itself,
so a name cannot resolve to one address when checked and another when used (DNS
rebinding). TLS still checks the certificate against the URL's host name, and the Host
header is the URL's.

A client made with `max_body` also keeps each answer's headers and body, for `fetch`
(media): that costs a Python call per header and per body chunk and a copy of the body,
which the status-only callback path does not pay; its connections are its own.

A request on a kept-alive connection that the receiver had already closed fails before
any answer arrives; it is sent once more on a new connection, as browsers and urllib3 do.
"""

from __future__ import annotations

import asyncio
import functools
import socket
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from ipaddress import ip_address

import httptools
import yarl

from herald.domain.targets import Address, literal_address, refusal

MAX_BODY = 65_536  # bytes of an answer read before the connection is dropped
IDLE_S = 30.0  # an idle kept-alive connection older than this is closed, not reused
_FORBIDDEN = frozenset("\r\n \t")


class WebhookFailure(Exception):
    """A request that got no HTTP answer (connect error, reset, timeout); the message
    says exactly why, for the operator's log only."""


class TargetRefused(WebhookFailure):
    """The host is, or resolves only to, addresses the webhook target policy refuses."""


class AnswerTooLarge(WebhookFailure):
    """An answer kept by `fetch` was longer than the client's `max_body`."""


@dataclass(frozen=True, slots=True)
class Answer:
    """An answer `fetch` kept: its status, headers (names lower-cased) and body."""

    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes

    def header(self, name: str) -> str | None:
        """The first value of the header `name` (lower case), if any."""
        return next((value for key, value in self.headers if key == name), None)


class _Stale(Exception):
    """The connection closed before any byte of an answer: safe to send again."""


@dataclass(frozen=True, slots=True)
class Target:
    """Where a URL's request goes and its request line's parts."""

    origin: tuple[str, str, int]
    host: str  # to connect to (IDNA-encoded, no brackets)
    port: int
    tls: bool
    host_header: str
    path: str  # path and query, percent-encoded


@functools.lru_cache(maxsize=1024)
def target_of(url: str) -> Target:
    """The target of an absolute http(s) URL, already percent-encoded as it goes out."""
    parsed = yarl.URL(url, encoded=True)
    if parsed.scheme not in ("http", "https") or not parsed.raw_host:
        raise WebhookFailure(f"not an absolute http(s) URL: {url!r}")
    path = parsed.raw_path or "/"
    if parsed.raw_query_string:
        path += "?" + parsed.raw_query_string
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    host = parsed.raw_host.lower()
    if not host.isascii():  # an international name goes out IDNA-encoded
        host = yarl.URL(url).raw_host or host
    shown = f"[{host}]" if ":" in host else host
    if not parsed.is_default_port():
        shown += f":{port}"
    if _FORBIDDEN.intersection(path) or _FORBIDDEN.intersection(shown):
        raise WebhookFailure(f"URL has characters that cannot go in a request: {url!r}")
    return Target((parsed.scheme, host, port), host, port, parsed.scheme == "https", shown, path)


def encode_request(method: str, target: Target, headers: dict[str, str], body: bytes) -> bytes:
    lines = [f"{method} {target.path} HTTP/1.1", f"Host: {target.host_header}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    if body or method not in ("GET", "HEAD"):
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


class _Connection(asyncio.Protocol):
    """One connection; one exchange at a time. Its httptools parser calls back into it."""

    def __init__(self) -> None:
        self._parser = httptools.HttpResponseParser(self)
        self._transport: asyncio.Transport | None = None
        self._answer: asyncio.Future[int] | None = None
        self._status = 0
        self._body = 0
        self._answered = False  # any byte of the current answer arrived
        self.reusable = False
        self.idle_since = 0.0

    # asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]
        self.reusable = True

    def data_received(self, data: bytes) -> None:
        self._answered = True
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._fail(WebhookFailure("the receiver switched protocols"))
        except httptools.HttpParserError as exc:
            self._fail(WebhookFailure(f"malformed HTTP answer: {exc}"))

    def connection_lost(self, exc: Exception | None) -> None:
        self.reusable = False
        if self._status:  # an answer without a length ends when the connection does
            self._finish()
        elif not self._answered:
            self._fail(_Stale())
        else:
            self._fail(WebhookFailure("connection closed in the middle of the answer"))

    # httptools callbacks
    def on_headers_complete(self) -> None:
        self._status = self._parser.get_status_code()

    def on_body(self, body: bytes) -> None:
        self._body += len(body)
        if self._body > MAX_BODY:
            self.reusable = False
            self._finish()
            self.close()

    def on_message_complete(self) -> None:
        if 100 <= self._status < 200:  # an interim answer (100 Continue): the real one follows
            self._status = 0
            return
        self.reusable = self.reusable and self._parser.should_keep_alive()
        self._finish()

    # the client's side
    def exchange(self, request: bytes) -> asyncio.Future[int]:
        assert self._transport is not None
        self._answer = asyncio.get_running_loop().create_future()
        self._status, self._body, self._answered = 0, 0, False
        self._transport.write(request)
        return self._answer

    def close(self) -> None:
        self.reusable = False
        if self._transport is not None:
            self._transport.close()

    def _finish(self) -> None:
        answer, self._answer = self._answer, None
        if answer is not None and not answer.done():
            answer.set_result(self._status)

    def _fail(self, exc: Exception) -> None:
        self.close()
        answer, self._answer = self._answer, None
        if answer is not None and not answer.done():
            answer.set_exception(exc)


class _Reader(_Connection):
    """A connection that keeps each answer's headers and body (up to `max_body`)."""

    def __init__(self, max_body: int) -> None:
        super().__init__()
        self._max_body = max_body
        self._headers: list[tuple[str, str]] = []
        self._chunks = bytearray()
        self.answer: Answer | None = None

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers.append((name.decode("latin-1").lower(), value.decode("latin-1")))

    def on_body(self, body: bytes) -> None:
        self._chunks += body
        if len(self._chunks) > self._max_body:
            self._fail(AnswerTooLarge(f"answer longer than {self._max_body} bytes"))

    def on_message_complete(self) -> None:
        if 100 <= self._status < 200:
            self._headers.clear()
        super().on_message_complete()

    def exchange(self, request: bytes) -> asyncio.Future[int]:
        self._headers, self._chunks, self.answer = [], bytearray(), None
        return super().exchange(request)

    def _finish(self) -> None:
        self.answer = Answer(self._status, tuple(self._headers), bytes(self._chunks))
        super()._finish()


class HttpClient:
    """Connections kept alive per origin; how many are open at once is the caller's
    business (callback delivery bounds requests overall and per host). `allow_private`
    is HERALD_WEBHOOK_ALLOW_PRIVATE; with `max_body` the client can `fetch`."""

    def __init__(
        self,
        *,
        timeout_s: float,
        connect_timeout_s: float,
        ssl_context: ssl.SSLContext | None = None,
        max_idle_per_origin: int = 64,
        allow_private: bool = False,
        max_body: int | None = None,
    ) -> None:
        self._timeout_s = timeout_s
        self._connect_timeout_s = min(connect_timeout_s, timeout_s)
        self._ssl = ssl_context
        self._max_idle = max_idle_per_origin
        self._allow_private = allow_private
        self._protocol: Callable[[], _Connection] = (
            _Connection if max_body is None else functools.partial(_Reader, max_body)
        )
        self._idle: dict[tuple[str, str, int], list[_Connection]] = {}

    async def send(self, method: str, url: str, headers: dict[str, str], body: bytes) -> int:
        """The answer's HTTP status; WebhookFailure when none came in time."""
        status, _ = await self._exchange(method, url, headers, body)
        return status

    async def fetch(
        self, method: str, url: str, headers: dict[str, str], body: bytes = b""
    ) -> Answer:
        """The whole answer (a client made with `max_body`); WebhookFailure when none came
        in time, AnswerTooLarge beyond `max_body`."""
        if self._protocol is _Connection:
            raise TypeError("fetch needs a client made with max_body")
        _, connection = await self._exchange(method, url, headers, body)
        assert isinstance(connection, _Reader) and connection.answer is not None
        return connection.answer

    async def _exchange(
        self, method: str, url: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, _Connection]:
        """The status, and the connection it came on (already back in the idle pool: read
        what it kept before the next await)."""
        target = target_of(url)
        request = encode_request(method, target, headers, body)
        connection: _Connection | None = None
        try:
            async with asyncio.timeout(self._timeout_s):
                connection = self._take_idle(target)
                if connection is not None:
                    try:
                        status = await connection.exchange(request)
                    except _Stale:
                        connection = None
                if connection is None:
                    connection = await self._connect(target)
                    status = await connection.exchange(request)
        except _Stale:
            raise WebhookFailure("connection closed before an answer") from None
        except TimeoutError:
            if connection is not None:
                connection.close()
            raise WebhookFailure(f"timed out after {self._timeout_s:g}s") from None
        except BaseException:
            if connection is not None:
                connection.close()
            raise
        self._put_idle(target, connection)
        return status, connection

    async def aclose(self) -> None:
        for pool in self._idle.values():
            for connection in pool:
                connection.close()
        self._idle.clear()

    def _take_idle(self, target: Target) -> _Connection | None:
        pool = self._idle.get(target.origin)
        cutoff = time.monotonic() - IDLE_S
        while pool:
            connection = pool.pop()
            if connection.reusable and connection.idle_since >= cutoff:
                return connection
            connection.close()
        return None

    def _put_idle(self, target: Target, connection: _Connection) -> None:
        pool = self._idle.setdefault(target.origin, [])
        if connection.reusable and len(pool) < self._max_idle:
            connection.idle_since = time.monotonic()
            pool.append(connection)
        else:
            connection.close()

    async def _connect(self, target: Target) -> _Connection:
        loop = asyncio.get_running_loop()
        context: ssl.SSLContext | None = None
        if target.tls:
            context = self._ssl = self._ssl or ssl.create_default_context()
        try:
            async with asyncio.timeout(self._connect_timeout_s):
                addresses = await self._addresses(loop, target)
                return await self._open(loop, target, addresses, context)
        except TimeoutError:
            raise WebhookFailure(
                f"could not connect to {target.host_header} within {self._connect_timeout_s:g}s"
            ) from None

    async def _addresses(self, loop: asyncio.AbstractEventLoop, target: Target) -> list[Address]:
        """The host's addresses that the target policy allows, in the resolver's order."""
        try:
            literal = literal_address(target.host)
        except ValueError:
            raise WebhookFailure(f"{target.host_header} is not a valid host") from None
        if literal is not None:
            found = [literal]
        else:
            try:
                infos = await loop.getaddrinfo(target.host, target.port, type=socket.SOCK_STREAM)
            except OSError as exc:
                raise WebhookFailure(f"could not resolve {target.host_header}: {exc}") from None
            found = list(dict.fromkeys(ip_address(info[4][0]) for info in infos))
        refused = {a: refusal(a, allow_private=self._allow_private) for a in found}
        allowed = [a for a, why in refused.items() if why is None]
        if not allowed:
            reasons = ", ".join(f"{a} is {why}" for a, why in refused.items())
            raise TargetRefused(f"{target.host_header} refused by the target policy: {reasons}")
        return allowed

    async def _open(
        self,
        loop: asyncio.AbstractEventLoop,
        target: Target,
        addresses: list[Address],
        context: ssl.SSLContext | None,
    ) -> _Connection:
        """A connection to the first of `addresses` that answers: to the checked address
        itself, so nothing resolves the name again."""
        failures = []
        for address in addresses:
            try:
                _, connection = await loop.create_connection(
                    self._protocol,
                    str(address),
                    target.port,
                    ssl=context,
                    server_hostname=target.host if context else None,
                )
                return connection
            except OSError as exc:  # refused, unreachable, TLS handshake (ssl.SSLError)
                failures.append(f"{address}: {exc}")
        raise WebhookFailure(f"could not connect to {target.host_header}: {'; '.join(failures)}")
