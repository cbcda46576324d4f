"""HTTP/1.1 spoken by hand over a real socket, for what a well-behaved client never sends:
a head in pieces, a body that never ends, a body far beyond its limit."""

from __future__ import annotations

import base64
import json
import select
import socket
import time
from typing import Any
from urllib.parse import urlsplit


def connect(base_url: str, timeout: float = 10.0) -> socket.socket:
    parts = urlsplit(base_url)
    sock = socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 80))
    sock.settimeout(timeout)
    return sock


def head(method: str, path: str, auth: tuple[str, str], **headers: str | int) -> bytes:
    token = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", f"Authorization: Basic {token}"]
    lines += [f"{name.replace('_', '-')}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def readable(sock: socket.socket, timeout: float) -> bool:
    """Whether the server has said something (or closed) within `timeout` seconds."""
    ready, _, _ = select.select([sock], [], [], timeout)
    return bool(ready)


def read_until_closed(sock: socket.socket, timeout: float = 10.0) -> bytes:
    """Everything the server sends until it closes the connection."""
    deadline = time.monotonic() + timeout
    chunks = []
    while time.monotonic() < deadline:
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            break
        if not chunk:
            break
        chunks.append(chunk)
    else:
        raise AssertionError("the server did not close the connection in time")
    return b"".join(chunks)


def parse_response(raw: bytes) -> tuple[int, dict[str, str], Any]:
    """(status, headers, JSON body) of one response with a Content-Length."""
    head_part, _, body = raw.partition(b"\r\n\r\n")
    status_line, *header_lines = head_part.decode("latin-1").split("\r\n")
    headers = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", len(body)))
    return int(status_line.split()[1]), headers, json.loads(body[:length]) if length else None


def is_closed(sock: socket.socket) -> bool:
    """Whether the server has closed the connection (a read now returns nothing)."""
    try:
        sock.setblocking(False)
        try:
            return sock.recv(1, socket.MSG_PEEK) == b""
        except BlockingIOError:
            return False
    except ConnectionResetError:
        return True
    finally:
        sock.setblocking(True)


def twilio_error_problems(status: int, body: Any, expected_status: int) -> list[str]:
    """Twilio's error JSON: `code` int, `message` and `more_info` str, `status` the HTTP one."""
    problems = [] if status == expected_status else [f"HTTP {status}, not {expected_status}"]
    if not isinstance(body, dict) or set(body) != {"code", "message", "more_info", "status"}:
        return [*problems, f"not Twilio's error JSON: {body!r}"]
    if not isinstance(body["code"], int) or not isinstance(body["message"], str):
        problems.append(f"code/message of the wrong type: {body!r}")
    if not isinstance(body["more_info"], str) or body["status"] != status:
        problems.append(f"more_info/status wrong: {body!r}")
    return problems
