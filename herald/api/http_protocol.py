"""Herald's HTTP/1.1 connections: uvicorn's httptools protocol, with the limits it lacks
for clients that hold a connection open without finishing a request.

- A request head must be complete within `HERALD_HEAD_TIMEOUT_S` of the connection
  opening or of the previous response, else the connection is closed: with 408 and
  Twilio's error JSON (20408) if the client had begun a request, silently if it had sent
  nothing. uvicorn only times out idle keep-alive connections, and any byte resets that.
- A request head may be `MAX_HEAD_BYTES` long (431, 20413): the parser itself has no limit.
- At most `HERALD_MAX_CONNECTIONS` connections are open at once; one beyond it is answered
  503 (20503) and closed at once, so slow clients cannot exhaust descriptors.
- A request the parser cannot read is answered 400 with Twilio's error JSON (20001).

The body's limits are the ASGI app's (`body_guard`), which can still answer with JSON.
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


_DEFAULTS = Settings()


class _HeadOverflow(Exception):
    """Raised from a parser callback: the head passed `MAX_HEAD_BYTES`."""


class HeraldHttpProtocol(HttpToolsProtocol):
    head_timeout_s: ClassVar[float] = _DEFAULTS.head_timeout_s
    max_connections: ClassVar[int] = _DEFAULTS.max_connections
    _last_warned: ClassVar[float] = 0.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head_timer: TimerHandle | None = None
        self._head_bytes = 0
        self._head_begun = False  # bytes of a request head have arrived, not yet all of it
        self._head_too_large = False

    # ---- connections --------------------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if len(self.connections) > self.max_connections:
            self._warn_refused()
            self._answer(errors.ServiceUnavailable("Too many connections: try again shortly"))
            return
        self._arm_head_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_head_timer()
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

    def on_url(self, url: bytes) -> None:
        self._count_head(len(url))
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._count_head(len(name) + len(value) + 4)
        super().on_header(name, value)

    def _count_head(self, size: int) -> None:
        self._head_bytes += size
        if self._head_bytes > MAX_HEAD_BYTES:
            self._head_too_large = True
            raise _HeadOverflow  # the parser stops; uvicorn answers with `send_400_response`

    def on_headers_complete(self) -> None:
        self._cancel_head_timer()
        self._head_begun = False
        super().on_headers_complete()

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

    def _answer(self, error: errors.TwilioError) -> None:
        """Write Twilio's error JSON and close: no request is being served."""
        self._cancel_head_timer()
        body = error_body(error)
        head = (
            f"HTTP/1.1 {error.status} {HTTPStatus(error.status).phrase}\r\n"
            "content-type: application/json\r\n"
            f"content-length: {len(body)}\r\n"
            "connection: close\r\n\r\n"
        )
        if not self.transport.is_closing():
            self.transport.write(head.encode("ascii") + body)
            self.transport.close()


def protocol_for(settings: Settings) -> type[HeraldHttpProtocol]:
    """The protocol class with `settings`' limits (uvicorn builds one per connection)."""

    class Protocol(HeraldHttpProtocol):
        head_timeout_s = settings.head_timeout_s
        max_connections = settings.max_connections

    return Protocol
