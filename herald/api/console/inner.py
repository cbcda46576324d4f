"""The console acts through Herald's own REST API, in-process: a page's form becomes the
same request an API client would send, answered by the same handlers, so every rule and
every error message is the API's (shown in place). The signed-in caller rides in the
ASGI scope (`requests.CONSOLE_CALLER`), which no network client can set."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.types import Message

from herald.api.console.session import SignedIn
from herald.api.requests import CONSOLE_CALLER


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    body: Any  # the JSON, or the raw text for CSV

    @property
    def ok(self) -> bool:
        return self.status < 400

    @property
    def error(self) -> str:
        """The API's message for a refusal (Twilio's error JSON), with its code."""
        if isinstance(self.body, dict) and self.body.get("message"):
            code = self.body.get("code")
            return f"{self.body['message']}" + (f" ({code})" if code else "")
        return f"HTTP {self.status}"


class Inner:
    """The REST API as the signed-in account, for one console request."""

    def __init__(self, request: Request, signed: SignedIn) -> None:
        self._app = request.app
        self._signed = signed
        self.account_sid = signed.account_sid

    def account_path(self, tail: str) -> str:
        return f"/2010-04-01/Accounts/{self.account_sid}/{tail}"

    async def get(
        self, path: str, params: dict[str, str] | list[tuple[str, str]] | None = None
    ) -> Answer:
        return await self.call("GET", path, params=params)

    async def post(self, path: str, form: dict[str, str] | list[tuple[str, str]]) -> Answer:
        return await self.call("POST", path, form=form)

    async def delete(self, path: str) -> Answer:
        return await self.call("DELETE", path)

    async def call(
        self, method: str, path: str, *, params: Any = None, form: Any = None,
        body: bytes | None = None, content_type: str | None = None,
    ) -> Answer:  # fmt: skip
        raw = body if body is not None else (urlencode(form, doseq=True).encode() if form else b"")
        kind = content_type or "application/x-www-form-urlencoded"
        headers = [(b"host", b"console.internal"), (b"content-length", str(len(raw)).encode())]
        if raw:
            headers.append((b"content-type", kind.encode()))
        scope = {
            "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
            "method": method, "scheme": "http", "path": path, "raw_path": path.encode(),
            "query_string": urlencode(params or {}, doseq=True).encode(), "root_path": "",
            "headers": headers, "client": ("127.0.0.1", 0), "server": ("console.internal", 80),
            CONSOLE_CALLER: self._signed.caller,
        }  # fmt: skip
        sent = False
        status = 500
        chunks: list[bytes] = []

        async def receive() -> Message:
            nonlocal sent
            if sent:
                return {"type": "http.disconnect"}
            sent = True
            return {"type": "http.request", "body": raw, "more_body": False}

        async def send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))

        await self._app(scope, receive, send)
        data = b"".join(chunks)
        try:
            parsed: Any = json.loads(data) if data else None
        except ValueError:
            parsed = data.decode("utf-8", "replace")
        return Answer(status, parsed)
