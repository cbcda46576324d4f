"""A request body's limits, enforced as it streams in, never after buffering it: at most
`HERALD_MAX_BODY_BYTES` (413, 20413: refused from Content-Length before a byte is read,
or as soon as the bytes received pass the cap) and complete within
`HERALD_BODY_TIMEOUT_S` of the request's head (408, 20408).

Either refusal, and any response sent before the body was read to its end, closes the
connection: the rest of that body is never read, and a client trickling it cannot hold
the connection. A request head's own deadline is the connection's (`http_protocol`).
"""

from __future__ import annotations

import asyncio

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from herald.api.errors import error_response
from herald.domain import errors

CLOSE = (b"connection", b"close")


class BodyGuard:
    def __init__(self, app: ASGIApp, *, max_bytes: int, timeout_s: float) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.timeout_s = timeout_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None and declared > self.max_bytes:
            refusal = error_response(self.too_large())
            await refusal(scope, receive, send)  # `error_response` closes the connection
            return
        body = _Body(self, receive, complete=declared == 0 or not _has_body(scope))

        async def send_closing(message: Message) -> None:
            if message["type"] == "http.response.start" and not body.complete:
                message = {**message, "headers": [*message.get("headers", []), CLOSE]}
            await send(message)

        await self.app(scope, body.receive, send_closing)

    def too_large(self) -> errors.PayloadTooLarge:
        return errors.PayloadTooLarge(
            f"The request body is larger than the limit of {self.max_bytes} bytes"
        )


class _Body:
    """The receive channel of one request, counting its bytes against the guard's limits."""

    def __init__(self, guard: BodyGuard, receive: Receive, *, complete: bool) -> None:
        self.guard = guard
        self._receive = receive
        self.complete = complete
        self.size = 0
        self.deadline = asyncio.get_running_loop().time() + guard.timeout_s

    async def receive(self) -> Message:
        if self.complete:  # after the body, only a disconnect is left to hear
            return await self._receive()
        try:
            async with asyncio.timeout_at(self.deadline):  # no task per receive, unlike wait_for
                message = await self._receive()
        except TimeoutError:
            raise errors.RequestTimeout(
                f"The request body was not complete within {self.guard.timeout_s:g} seconds"
            ) from None
        if message["type"] == "http.request":
            self.size += len(message.get("body", b""))
            if self.size > self.guard.max_bytes:
                raise self.guard.too_large()
            self.complete = not message.get("more_body", False)
        return message


def _header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope["headers"]:
        if key == name:
            return bytes(value)
    return None


def _content_length(scope: Scope) -> int | None:
    """The declared length; the HTTP parser has already refused one that is not a number."""
    raw = _header(scope, b"content-length")
    return int(raw) if raw is not None and raw.strip().isdigit() else None


def _has_body(scope: Scope) -> bool:
    return _header(scope, b"content-length") is not None or (
        _header(scope, b"transfer-encoding") is not None
    )
