"""The webhook HTTP client against real servers on 127.0.0.1 that answer by script,
including the ways receivers misbehave: closed keep-alive connections, chunked and
unbounded answers, interim 100s, garbage, silence, and TLS."""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest
import trustme

from herald.webhooks.http import (
    MAX_BODY,
    AnswerTooLarge,
    HttpClient,
    TargetRefused,
    WebhookFailure,
    target_of,
)

OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
Answer = Callable[[int, bytes], bytes | None]  # (request number, request) -> bytes or close


class _Scripted(asyncio.Protocol):
    def __init__(self, server: Scripted) -> None:
        self._server = server
        self._buffer = b""
        self._transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        self._server.connections += 1

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        while b"\r\n\r\n" in self._buffer and self._transport is not None:
            head, _, rest = self._buffer.partition(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            if len(rest) < length:
                return
            request, self._buffer = head + b"\r\n\r\n" + rest[:length], rest[length:]
            self._server.requests.append(request)
            answer = self._server.answer(len(self._server.requests), request)
            if answer is None:
                self._transport.close()
                return
            if answer:
                self._transport.write(answer)


class Scripted:
    def __init__(self, answer: Answer) -> None:
        self.answer = answer
        self.requests: list[bytes] = []
        self.connections = 0
        self.url = ""

    @asynccontextmanager
    async def serving(self, tls: ssl.SSLContext | None = None) -> AsyncIterator[Scripted]:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(lambda: _Scripted(self), "127.0.0.1", 0, ssl=tls)
        port = server.sockets[0].getsockname()[1]
        self.url = f"{'https' if tls else 'http'}://127.0.0.1:{port}/hook?x=1"
        try:
            yield self
        finally:
            server.close()


def client(timeout_s: float = 2.0, **options: object) -> HttpClient:
    """A client allowed to reach the scripted servers on 127.0.0.1."""
    options.setdefault("allow_private", True)
    return HttpClient(timeout_s=timeout_s, connect_timeout_s=1.0, **options)  # type: ignore[arg-type]


async def post(http: HttpClient, url: str, body: bytes = b"a=1") -> int:
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    return await http.send("POST", url, headers, body)


def test_posts_with_host_length_and_body_and_reuses_the_connection() -> None:
    async def scenario() -> None:
        async with Scripted(lambda n, r: OK).serving() as server:
            http = client()
            statuses = [await post(http, server.url, f"n={i}".encode()) for i in range(5)]
            await http.aclose()
        assert statuses == [200] * 5
        assert server.connections == 1
        first = server.requests[0].decode()
        assert first.startswith("POST /hook?x=1 HTTP/1.1\r\n")
        assert f"Host: 127.0.0.1:{server.url.split(':')[2].split('/')[0]}\r\n" in first
        assert "Content-Length: 3\r\n" in first and first.endswith("\r\n\r\nn=0")

    asyncio.run(scenario())


def test_get_has_no_body_or_length() -> None:
    async def scenario() -> None:
        async with Scripted(lambda n, r: OK).serving() as server:
            http = client()
            assert await http.send("GET", server.url + "&b=2", {}, b"") == 200
            await http.aclose()
        assert server.requests[0].startswith(b"GET /hook?x=1&b=2 HTTP/1.1\r\n")
        assert b"Content-Length" not in server.requests[0]

    asyncio.run(scenario())


def test_a_keep_alive_connection_the_receiver_closed_is_replaced_once() -> None:
    # The receiver answers, then closes each connection behind the client's back.
    def answer(n: int, request: bytes) -> bytes | None:
        return OK

    async def scenario() -> None:
        async with Scripted(answer).serving() as server:
            http = client()
            assert await post(http, server.url) == 200
            server.answer = lambda n, r: None if n == 2 else OK  # drop request 2 unanswered
            assert await post(http, server.url) == 200
            await http.aclose()
        # Request 2 was never answered (connection closed with no byte back): sent again.
        assert len(server.requests) == 3 and server.connections == 2

    asyncio.run(scenario())


def test_a_connection_dropped_twice_is_a_failure_not_a_loop() -> None:
    async def scenario() -> None:
        async with Scripted(lambda n, r: None).serving() as server:
            http = client()
            with pytest.raises(WebhookFailure, match="closed before an answer"):
                await post(http, server.url)
            await http.aclose()
        assert len(server.requests) == 1  # a new connection is not retried

    asyncio.run(scenario())


@pytest.mark.parametrize(
    ("answer", "status", "reused"),
    [
        (b"HTTP/1.1 204 No Content\r\n\r\n", 204, True),
        (
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"2\r\nok\r\n3\r\nyes\r\n0\r\n\r\n",
            200,
            True,
        ),
        (
            b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n",
            202,
            True,
        ),
        (b"HTTP/1.1 500 Oops\r\nContent-Length: 4\r\nConnection: close\r\n\r\nboom", 500, False),
        (b"HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n", 200, False),
    ],
)
def test_answers_and_whether_the_connection_is_kept(
    answer: bytes, status: int, reused: bool
) -> None:
    async def scenario() -> None:
        async with Scripted(lambda n, r: answer).serving() as server:
            http = client()
            assert await post(http, server.url) == status
            assert await post(http, server.url) == status
            await http.aclose()
        assert server.connections == (1 if reused else 2)

    asyncio.run(scenario())


async def _one_shot_server(answer: bytes, close_after_s: float) -> tuple[asyncio.Server, str]:
    """Answers every request with `answer`, then closes the connection."""
    loop = asyncio.get_running_loop()

    class OneShot(asyncio.Protocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            assert isinstance(transport, asyncio.Transport)
            self.transport = transport

        def data_received(self, data: bytes) -> None:
            self.transport.write(answer)
            loop.call_later(close_after_s, self.transport.close)

    server = await loop.create_server(OneShot, "127.0.0.1", 0)
    return server, f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/"


@pytest.mark.parametrize(
    ("answer", "outcome"),
    [
        (b"HTTP/1.1 200 OK\r\n\r\nthe body runs until the close", 200),  # close-delimited
        (b"HTTP/1.1 201 Created\r\nContent-Length: 10\r\n\r\nshort", 201),  # status known
        (b"HTTP/1.1 200 OK\r\nContent-Le", "closed in the middle of the answer"),
    ],
)
def test_answers_ended_by_the_receiver_closing(answer: bytes, outcome: int | str) -> None:
    async def scenario() -> None:
        server, url = await _one_shot_server(answer, close_after_s=0.05)
        http = client()
        try:
            if isinstance(outcome, int):
                assert await post(http, url) == outcome
                assert await post(http, url) == outcome  # on a new connection
            else:
                with pytest.raises(WebhookFailure, match=outcome):
                    await post(http, url)
        finally:
            await http.aclose()
            server.close()

    asyncio.run(scenario())


def test_a_huge_answer_is_cut_off_after_max_body() -> None:
    huge = b"x" * (MAX_BODY * 3)
    reply = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(huge), huge)

    async def scenario() -> None:
        async with Scripted(lambda n, r: reply).serving() as server:
            http = client()
            assert await post(http, server.url) == 200
            assert await post(http, server.url) == 200
            await http.aclose()
        assert server.connections == 2  # the cut-off connection was not reused

    asyncio.run(scenario())


@pytest.mark.parametrize(
    ("answer", "match"),
    [
        (b"garbage\r\n\r\n", "malformed HTTP answer"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort", None),  # rest never comes
        (b"", "timed out after 0.3s"),
    ],
)
def test_failures(answer: bytes, match: str | None) -> None:
    async def scenario() -> None:
        def reply(n: int, request: bytes) -> bytes | None:
            return answer

        async with Scripted(reply).serving() as server:
            http = client(timeout_s=0.3)
            with pytest.raises(WebhookFailure, match=match or "timed out"):
                await post(http, server.url)
            await http.aclose()

    asyncio.run(scenario())


def test_refused_connections_fail_quickly() -> None:
    async def scenario() -> None:
        server = await asyncio.get_running_loop().create_server(asyncio.Protocol, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        server.close()
        await server.wait_closed()
        http = client()
        with pytest.raises(WebhookFailure, match=r"could not connect to 127\.0\.0\.1"):
            await post(http, f"http://127.0.0.1:{port}/")

    asyncio.run(scenario())


def test_tls_with_a_trusted_certificate_and_refusal_of_an_untrusted_one() -> None:
    authority = trustme.CA()
    certificate = authority.issue_cert("127.0.0.1", "localhost")
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    certificate.configure_cert(server_context)
    trusting = ssl.create_default_context()
    authority.configure_trust(trusting)

    async def scenario() -> None:
        async with Scripted(lambda n, r: OK).serving(tls=server_context) as server:
            http = client(ssl_context=trusting)
            assert await post(http, server.url) == 200
            assert await post(http, server.url) == 200
            await http.aclose()
            assert server.connections == 1
            stranger = client()  # the system's authorities do not know this one
            with pytest.raises(WebhookFailure, match="could not connect"):
                await post(stranger, server.url)

    asyncio.run(scenario())


def test_targets() -> None:
    plain = target_of("http://Example.com/a%20b?q=1")
    assert (plain.host, plain.port, plain.tls) == ("example.com", 80, False)
    assert (plain.host_header, plain.path) == ("example.com", "/a%20b?q=1")
    secure = target_of("https://h.example:8443")
    assert (secure.port, secure.tls, secure.host_header, secure.path) == (
        8443,
        True,
        "h.example:8443",
        "/",
    )
    international = target_of("https://Bücher.example/x")
    assert international.host == international.host_header == "xn--bcher-kva.example"
    v6 = target_of("http://[::1]:8080/x")
    assert (v6.host, v6.host_header) == ("::1", "[::1]:8080")
    for bad in ("ftp://h/x", "/relative", "http:///nohost"):
        with pytest.raises(WebhookFailure):
            target_of(bad)


# -- the webhook target policy, at connect time ---------------------------------------


def test_private_targets_are_refused_by_default_in_every_spelling() -> None:
    async def scenario() -> None:
        async with Scripted(lambda n, r: OK).serving() as server:
            port = server.url.split(":")[2].split("/")[0]
            strict = client(allow_private=False)
            for host in ("127.0.0.1", "localhost", "2130706433", "0x7f.1", "[::ffff:127.0.0.1]"):
                with pytest.raises(TargetRefused, match="refused by the target policy"):
                    await post(strict, f"http://{host}:{port}/hook")
            await strict.aclose()
            assert server.connections == 0  # nothing was even connected to
            relaxed = client(allow_private=True)
            assert await post(relaxed, f"http://localhost:{port}/hook") == 200
            await relaxed.aclose()
        assert f"Host: localhost:{port}\r\n".encode() in server.requests[0]

    asyncio.run(scenario())


def test_metadata_addresses_are_refused_even_when_private_ones_are_allowed() -> None:
    async def scenario() -> None:
        http = client(allow_private=True)
        for url in ("http://169.254.169.254/latest/meta-data/", "http://[fd00:ec2::254]/"):
            with pytest.raises(TargetRefused, match="cloud metadata"):
                await post(http, url)
        await http.aclose()

    asyncio.run(scenario())


class _Rebinding(asyncio.SelectorEventLoop):
    """A resolver that answers `rebind.test` with 127.0.0.1 the first time and the cloud
    metadata address after: a DNS rebinding attack."""

    def __init__(self) -> None:
        super().__init__()
        self.lookups = 0

    async def getaddrinfo(self, host: object, port: object, **options: object) -> list[Any]:  # type: ignore[override]
        if host != "rebind.test":
            return await super().getaddrinfo(host, port, **options)  # type: ignore[arg-type]
        self.lookups += 1
        address = "127.0.0.1" if self.lookups == 1 else "169.254.169.254"
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))]


def test_the_connection_goes_to_the_checked_address_not_a_new_lookup() -> None:
    closing = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"

    async def scenario() -> _Rebinding:
        loop = asyncio.get_running_loop()
        assert isinstance(loop, _Rebinding)
        async with Scripted(lambda n, r: closing).serving() as server:
            port = server.url.split(":")[2].split("/")[0]
            http = client(allow_private=True)
            assert await post(http, f"http://rebind.test:{port}/hook") == 200
            assert loop.lookups == 1  # connecting did not resolve the name again
            with pytest.raises(TargetRefused, match=r"169\.254\.169\.254 is cloud metadata"):
                await post(http, f"http://rebind.test:{port}/hook")  # a new connection
            await http.aclose()
        assert server.connections == 1
        assert b"Host: rebind.test:" in server.requests[0]
        return loop

    with asyncio.Runner(loop_factory=_Rebinding) as runner:
        assert runner.run(scenario()).lookups == 2


def test_tls_checks_the_url_host_name_on_the_checked_address() -> None:
    authority = trustme.CA()
    certificate = authority.issue_cert("localhost")  # the name only, not 127.0.0.1
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    certificate.configure_cert(server_context)
    trusting = ssl.create_default_context()
    authority.configure_trust(trusting)

    async def scenario() -> None:
        async with Scripted(lambda n, r: OK).serving(tls=server_context) as server:
            port = server.url.split(":")[2].split("/")[0]
            http = client(ssl_context=trusting)
            assert await post(http, f"https://localhost:{port}/x") == 200
            with pytest.raises(WebhookFailure, match="could not connect"):
                await post(http, f"https://127.0.0.1:{port}/x")  # not the certificate's name
            await http.aclose()

    asyncio.run(scenario())


def test_a_host_that_does_not_resolve_fails() -> None:
    async def scenario() -> None:
        http = client()
        with pytest.raises(WebhookFailure, match=r"could not resolve no-such-host\.invalid"):
            await post(http, "http://no-such-host.invalid/")
        with pytest.raises(WebhookFailure, match="not a valid host"):
            await post(http, "http://1.2.3.999/")
        await http.aclose()

    asyncio.run(scenario())


# -- answers kept whole (fetch) ---------------------------------------------------------


def test_fetch_keeps_headers_and_body() -> None:
    chunked = (
        b"HTTP/1.1 100 Continue\r\nX-Interim: 1\r\n\r\n"
        b"HTTP/1.1 200 OK\r\nContent-Type: image/png\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"3\r\nPNG\r\n4\r\ndata\r\n0\r\n\r\n"
    )

    async def scenario() -> None:
        async with Scripted(lambda n, r: chunked).serving() as server:
            http = client(max_body=100)
            for _ in range(2):  # the second on the kept-alive connection
                answer = await http.fetch("GET", server.url, {})
                assert (answer.status, answer.body) == (200, b"PNGdata")
                assert answer.header("content-type") == "image/png"
                assert answer.header("x-interim") is None and answer.header("nope") is None
            await http.aclose()
        assert server.connections == 1
        assert server.requests[0].startswith(b"GET /hook?x=1 HTTP/1.1\r\n")

    asyncio.run(scenario())


def test_fetch_refuses_an_answer_over_its_limit_and_needs_a_reading_client() -> None:
    big = b"HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\n0123456789!"

    async def scenario() -> None:
        async with Scripted(lambda n, r: big if n == 1 else OK).serving() as server:
            http = client(max_body=10)
            with pytest.raises(AnswerTooLarge, match="longer than 10 bytes"):
                await http.fetch("GET", server.url, {})
            assert (await http.fetch("GET", server.url, {})).body == b"ok"
            await http.aclose()
            plain = client()
            with pytest.raises(TypeError, match="max_body"):
                await plain.fetch("GET", server.url, {})
            await plain.aclose()
        assert server.connections == 2  # the one cut off was not reused; TypeError sent nothing

    asyncio.run(scenario())
