"""A real HTTP/1.1 webhook receiver on 127.0.0.1 for tests and benchmarks.

It runs its own event loop on a thread, so sync and async tests use it alike; it records
every request and answers by a script (status, delay, or a dropped connection for the
next N requests), or by path with a fixed reply (headers and body too: a media
server). A bare `asyncio.Protocol` with keep-alive keeps it fast enough that
the client, not the receiver, is what a benchmark measures. Run it in its own process
with `python -m tests.webhooks.receiver` (prints its URL, serves until stdin closes) to
keep it off the client's GIL.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import sys
import threading
import time
from dataclasses import dataclass, field
from types import TracebackType
from urllib.parse import parse_qsl, urlsplit


@dataclass(frozen=True, slots=True, kw_only=True)
class Reply:
    """How to answer one request: a status (with headers and a body) after `delay`
    seconds, or drop the connection."""

    status: int = 200
    delay: float = 0.0
    drop: bool = False
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""


@dataclass(frozen=True, slots=True, kw_only=True)
class Received:
    method: str
    target: str  # path and query, as requested
    headers: dict[str, str]  # names lower-cased
    body: bytes
    arrived: float  # time.monotonic()
    reply: Reply  # how it was (or is being) answered
    index: int = 0  # its place in `Receiver.requests`

    @property
    def path(self) -> str:
        return urlsplit(self.target).path

    @property
    def form(self) -> list[tuple[str, str]]:
        return parse_qsl(self.body.decode(), keep_blank_values=True)


@dataclass
class _Script:
    default: Reply = field(default_factory=Reply)
    planned: collections.deque[Reply] = field(default_factory=collections.deque)

    def next(self) -> Reply:
        return self.planned.popleft() if self.planned else self.default


_REASONS = {
    200: b"OK",
    204: b"No Content",
    302: b"Found",
    401: b"Unauthorized",
    404: b"Not Found",
    500: b"Internal Server Error",
}


class _Connection(asyncio.Protocol):
    def __init__(self, receiver: Receiver) -> None:
        self._receiver = receiver
        self._buffer = b""
        self._busy = False  # a delayed reply is pending; later requests wait for it
        self._transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        self._receiver._open.add(transport)

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        self._serve()

    def _serve(self) -> None:
        while not self._busy and self._transport is not None:
            parsed = _parse(self._buffer)
            if parsed is None:
                return
            method, target, headers, body, used = parsed
            self._buffer = self._buffer[used:]
            reply = self._receiver._routes.get(urlsplit(target).path) or (
                self._receiver._script.next()
            )
            index = self._receiver._record(method, target, headers, body, reply)
            keep = headers.get("connection", "").lower() != "close"
            if reply.delay > 0:
                self._busy = True
                loop = asyncio.get_running_loop()
                loop.call_later(reply.delay, self._answer_later, reply, keep, index)
                return
            self._answer(reply, keep, index)

    def _answer_later(self, reply: Reply, keep: bool, index: int) -> None:
        self._busy = False
        self._answer(reply, keep, index)
        self._serve()

    def _answer(self, reply: Reply, keep: bool, index: int) -> None:
        transport = self._transport
        if transport is None or transport.is_closing():
            return
        if reply.drop:
            transport.abort()
            return
        self._receiver.answered.add(index)
        reason = _REASONS.get(reply.status, b"Status")
        head = [b"HTTP/1.1 %d %s" % (reply.status, reason)]
        head += [f"{name}: {value}".encode("latin-1") for name, value in reply.headers]
        head.append(b"content-length: %d" % len(reply.body))
        if not keep:
            head.append(b"connection: close")
        transport.write(b"\r\n".join(head) + b"\r\n\r\n" + reply.body)
        if not keep:
            transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._transport is not None:
            self._receiver._open.discard(self._transport)
        self._transport = None


def _parse(buffer: bytes) -> tuple[str, str, dict[str, str], bytes, int] | None:
    """One complete request from the front of `buffer` (Content-Length bodies only)."""
    end = buffer.find(b"\r\n\r\n")
    if end < 0:
        return None
    lines = buffer[:end].decode("latin-1").split("\r\n")
    method, target, _version = lines[0].split(" ", 2)
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0"))
    start = end + 4
    if len(buffer) < start + length:
        return None
    return method, target, headers, buffer[start : start + length], start + length


class Receiver:
    """Start with `with Receiver() as receiver:`; POST to `receiver.url + "/path"`."""

    def __init__(self, *, record: bool = True) -> None:
        self.requests: list[Received] = []
        self.count = 0
        self.answered: set[int] = set()  # indexes of the requests answered with a status
        self._record_bodies = record
        self._script = _Script()
        self._routes: dict[str, Reply] = {}
        self._changed = threading.Condition()
        self._loop = asyncio.new_event_loop()
        self._server: asyncio.Server | None = None
        self._open: set[asyncio.Transport] = set()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Receiver:
        self._thread.start()

        async def serve() -> asyncio.Server:
            return await self._loop.create_server(lambda: _Connection(self), "127.0.0.1", 0)

        self._server = asyncio.run_coroutine_threadsafe(serve(), self._loop).result(10)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    def stop(self) -> None:
        async def close() -> None:
            if self._server is not None:
                self._server.close()
            # A connection accepted just before the close still has its connection_made
            # to come: let those run and abort each, then let the aborts close the sockets
            # (one left open is an unclosed-socket warning in whatever test runs next).
            for _ in range(3):
                await asyncio.sleep(0)
                for transport in list(self._open):
                    transport.abort()
            if self._server is not None:
                await self._server.wait_closed()
            await asyncio.sleep(0)

        asyncio.run_coroutine_threadsafe(close(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    def __enter__(self) -> Receiver:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def always(self, reply: Reply) -> None:
        """Answer every request not otherwise planned with `reply`."""
        self._loop.call_soon_threadsafe(setattr, self._script, "default", reply)
        self._sync()

    def route(self, path: str, reply: Reply) -> None:
        """Answer every request for `path` with `reply`, whatever the script says."""
        self._loop.call_soon_threadsafe(self._routes.__setitem__, path, reply)
        self._sync()

    def plan(self, reply: Reply, times: int = 1) -> None:
        """Answer the next `times` requests with `reply`, before the default."""
        self._loop.call_soon_threadsafe(self._script.planned.extend, [reply] * times)
        self._sync()

    def _sync(self) -> None:
        asyncio.run_coroutine_threadsafe(asyncio.sleep(0), self._loop).result(10)

    def _record(
        self, method: str, target: str, headers: dict[str, str], body: bytes, reply: Reply
    ) -> int:
        with self._changed:
            index = self.count
            self.count += 1
            if self._record_bodies:
                self.requests.append(
                    Received(
                        method=method,
                        target=target,
                        headers=headers,
                        body=body,
                        arrived=time.monotonic(),
                        reply=reply,
                        index=index,
                    )
                )
            self._changed.notify_all()
            return index

    def wait_for(self, count: int, timeout: float = 5.0) -> list[Received]:
        """Block until `count` requests have arrived; fail the test if they do not."""
        with self._changed:
            arrived = self._changed.wait_for(lambda: self.count >= count, timeout)
            assert arrived, f"expected {count} requests within {timeout}s, got {self.count}"
            return list(self.requests)


def main() -> None:
    """Serve until stdin closes (start it with `stdin=PIPE`, so it ends with its parent)."""
    with Receiver(record=False) as receiver:
        print(receiver.url, flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            sys.stdin.read()


if __name__ == "__main__":
    main()
