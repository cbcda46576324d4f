"""Herald's HTTP/1.1 connections: uvicorn's httptools protocol, with the limits it lacks
for clients that hold a connection open without finishing a request, or send too much.

- A request head must be complete within `HERALD_HEAD_TIMEOUT_S` of the connection
  opening or of the previous response, else the connection is closed: with 408 and
  Twilio's error JSON (20408) if the client had begun a request, silently if it had sent
  nothing. uvicorn only times out idle keep-alive connections, and any byte resets that.
- A request head may be `MAX_HEAD_BYTES` long (431, 20413): the parser itself has no limit.
- At most `HERALD_MAX_CONNECTIONS` connections are open at once; one beyond it is answered
  503 (20503) and closed at once, so slow clients cannot exhaust descriptors.
- A request the parser cannot read is answered 400 with Twilio's error JSON (20001).
- A body may be `HERALD_MAX_BODY_BYTES` long (413, 20413): refused from its Content-Length
  before a byte of it is read, or as soon as the bytes streamed pass the cap, never
  buffered whole. It must be complete within `HERALD_BODY_TIMEOUT_S` of its head (408).
- A response sent before its request's body was read to the end (a 404, a 401) closes the
  connection: the rest of that body is never read, nor trickled in to hold the connection.

These live here rather than in an ASGI middleware because the connection knows the body's
state for free: a middleware wrapping every `receive` in a timeout cost 6% of the API's
CPU per message (py-spy, bench/api_accept.py).
"""

from __future__ import annotations

import asyncio
import logging
import time
from asyncio import TimerHandle
from http import HTTPStatus
from typing import Any, ClassVar

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from herald.api.errors import error_body
from herald.config import Settings
from herald.domain import errors

log = logging.getLogger("herald.http")

MAX_HEAD_BYTES = 32_768  # the request line and headers, as nginx allows by default
WARN_EVERY_S = 10.0  # at most one warning this often about refused connections
LINGER_S = 2.0  # after refusing a body, how long what the client still sends is dropped


_DEFAULTS = Settings()


class _HeadOverflow(Exception):
    """Raised from a parser callback: the head passed `MAX_HEAD_BYTES`."""


class HeraldHttpProtocol(HttpToolsProtocol):
    head_timeout_s: ClassVar[float] = _DEFAULTS.head_timeout_s
    body_timeout_s: ClassVar[float] = _DEFAULTS.body_timeout_s
    max_body_bytes: ClassVar[int] = _DEFAULTS.max_body_bytes
    max_connections: ClassVar[int] = _DEFAULTS.max_connections
    _last_warned: ClassVar[float] = 0.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head_timer: TimerHandle | None = None
        self._head_bytes = 0
        self._head_begun = False  # bytes of a request head have arrived, not yet all of it
        self._head_too_large = False
        self._body_timer: TimerHandle | None = None
        self._declared: int | None = None  # the request's Content-Length
        self._chunked = False
        self._body_bytes = 0
        self._keep_alive = True  # the request's own wish, until its body is read
        self._refused = False  # answered by the connection itself: the request goes no further
        self._lingering = False  # answered and half-closed: what arrives is dropped

    # ---- connections --------------------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if len(self.connections) > self.max_connections:
            self._warn_refused()
            self._answer(errors.ServiceUnavailable("Too many connections: try again shortly"))
            return
        self._arm_head_timer()

    def data_received(self, data: bytes) -> None:
        if not self._lingering:
            super().data_received(data)

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_head_timer()
        self._cancel_body_timer()
        super().connection_lost(exc)

    def _warn_refused(self) -> None:
        now = time.monotonic()
        if now - HeraldHttpProtocol._last_warned >= WARN_EVERY_S:
            HeraldHttpProtocol._last_warned = now
            log.warning(
                "refusing connections: %d open, the limit (HERALD_MAX_CONNECTIONS)",
                self.max_connections,
            )

    # ---- the request head -----------------------------------------------------------

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._head_begun = True
        self._head_bytes = 0
        self._declared, self._chunked, self._body_bytes, self._refused = None, False, 0, False

    def on_url(self, url: bytes) -> None:
        self._count_head(len(url))
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._count_head(len(name) + len(value) + 4)
        lowered = name.lower()
        if lowered == b"content-length":
            self._declared = int(value) if value.strip().isdigit() else None
        elif lowered == b"transfer-encoding":
            self._chunked = True
        super().on_header(name, value)

    def _count_head(self, size: int) -> None:
        self._head_bytes += size
        if self._head_bytes > MAX_HEAD_BYTES:
            self._head_too_large = True
            raise _HeadOverflow  # the parser stops; uvicorn answers with `send_400_response`

    def on_headers_complete(self) -> None:
        self._cancel_head_timer()
        self._head_begun = False
        if self._declared is not None and self._declared > self.max_body_bytes:
            self._refused = True  # before a byte of the body is read, and before any app
            self._answer(self._too_large(), linger=True)
            return
        super().on_headers_complete()
        if self._declared or self._chunked:  # a body follows: until it is read, no keep-alive
            self._keep_alive, self.cycle.keep_alive = self.cycle.keep_alive, False
            self._body_timer = self.loop.call_later(self.body_timeout_s, self._body_timed_out)

    # ---- the request body -----------------------------------------------------------

    def on_body(self, body: bytes) -> None:
        if self._refused:
            return
        self._body_bytes += len(body)
        if self._body_bytes > self.max_body_bytes:
            self._refuse(self._too_large())
            return
        super().on_body(body)

    def on_message_complete(self) -> None:
        if self._refused:
            return
        if self._body_timer is not None:
            self._cancel_body_timer()
            self.cycle.keep_alive = self._keep_alive
        super().on_message_complete()

    def _too_large(self) -> errors.PayloadTooLarge:
        limit = self.max_body_bytes
        return errors.PayloadTooLarge(f"The request body is larger than the limit of {limit} bytes")

    def _body_timed_out(self) -> None:
        self._body_timer = None
        timeout = f"{self.body_timeout_s:g}"
        self._refuse(
            errors.RequestTimeout(f"The request body was not complete within {timeout} seconds")
        )

    def _cancel_body_timer(self) -> None:
        if self._body_timer is not None:
            self._body_timer.cancel()
            self._body_timer = None

    def _refuse(self, error: errors.TwilioError) -> None:
        """Answer `error` about the body of the request being served (`self.cycle`) and
        close, unless the app has begun its own answer (then only close: the app hears a
        disconnect, which is not an error)."""
        self._refused = True
        self._cancel_body_timer()
        if self.cycle is not None and self.cycle.response_started:
            self.transport.close()
        else:
            self._answer(error, linger=True)

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if self.timeout_keep_alive_task is not None:  # waiting for the next request's head
            self._arm_head_timer()

    def send_400_response(self, msg: str) -> None:
        if self._head_too_large:
            limit = f"Request heads are limited to {MAX_HEAD_BYTES} bytes"
            self._answer(errors.RequestHeadTooLarge(limit))
        else:
            self._answer(errors.InvalidParameter(f"Invalid HTTP request: {msg}"))

    def _arm_head_timer(self) -> None:
        self._cancel_head_timer()
        self._head_timer = self.loop.call_later(self.head_timeout_s, self._head_timed_out)

    def _cancel_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if self.transport.is_closing():
            return
        if self._head_begun:
            timeout = f"{self.head_timeout_s:g}"
            self._answer(
                errors.RequestTimeout(f"The request head was not complete within {timeout} s")
            )
        else:  # nothing was asked: just close, as an idle keep-alive connection is closed
            self.transport.close()

    def _answer(self, error: errors.TwilioError, *, linger: bool = False) -> None:
        """Write Twilio's error JSON and close: no request is being served. With `linger`
        (a client may still be sending a body), end our side first and drop what arrives
        for up to `LINGER_S` before closing, so the client reads the answer instead of a
        reset (as nginx's lingering close)."""
        self._cancel_head_timer()
        body = error_body(error)
        head = (
            f"HTTP/1.1 {error.status} {HTTPStatus(error.status).phrase}\r\n"
            "content-type: application/json\r\n"
            f"content-length: {len(body)}\r\n"
            "connection: close\r\n\r\n"
        )
        if self.transport.is_closing():
            return
        self.transport.write(head.encode("ascii") + body)
        if linger and self.transport.can_write_eof():
            self._lingering = True
            self.transport.write_eof()
            self.loop.call_later(LINGER_S, self.transport.close)
        else:
            self.transport.close()


def protocol_for(settings: Settings) -> type[HeraldHttpProtocol]:
    """The protocol class with `settings`' limits (uvicorn builds one per connection)."""

    class Protocol(HeraldHttpProtocol):
        head_timeout_s = settings.head_timeout_s
        body_timeout_s = settings.body_timeout_s
        max_body_bytes = settings.max_body_bytes
        max_connections = settings.max_connections

    return Protocol
