"""Twilio's `X-Twilio-Signature` (reference §9.3) and the signed request it goes on, so
receivers keep validating Herald's webhooks with Twilio's own helper libraries.

The signed string is the full URL requested, then each POST parameter as name + value,
names in byte order and, for a repeated name, its values sorted. Identical pairs count
once, as in twilio-python's `RequestValidator`. HMAC-SHA1 keyed with the account's Auth
Token, Base64-encoded. The URL signed is the URL as it goes on the wire.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import quote_plus

import yarl

from herald.domain.callbacks import Params, event_time

USER_AGENT = "Herald/0.1 (TwilioProxy-compatible)"
_UNRESERVED = re.compile(r"[A-Za-z0-9_.~-]*")


def signed_string(url: str, params: Iterable[tuple[str, str]]) -> str:
    """What is fed to the HMAC: the URL, then the sorted name/value pairs."""
    return url + "".join(name + value for name, value in sorted(set(params)))


def sign(url: str, params: Iterable[tuple[str, str]], auth_token: str) -> str:
    """The `X-Twilio-Signature` value for a request to `url` carrying `params`."""
    digest = hmac.new(
        auth_token.encode(), signed_string(url, params).encode(), hashlib.sha1
    ).digest()
    return base64.b64encode(digest).decode("ascii")


class Signable(Protocol):
    """What a signed request is made of: a stored `Callback`, or an `Envelope`."""

    @property
    def url(self) -> str: ...
    @property
    def method(self) -> str: ...
    @property
    def params(self) -> Params: ...
    @property
    def message_sid(self) -> str: ...
    @property
    def sequence(self) -> int: ...
    @property
    def event_time(self) -> int: ...


@dataclass(frozen=True, slots=True, kw_only=True)
class Envelope:
    """A callback's signable part alone, as it crosses to a courier process."""

    url: str
    method: str
    params: Params
    message_sid: str
    sequence: int
    event_time: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Request:
    method: str
    url: str
    headers: dict[str, str]
    body: bytes


@functools.lru_cache(maxsize=1024)
def wire_url(url: str) -> str:
    """The URL as it goes on the wire (what receivers see and validate): normalised
    percent-encoding, no fragment, and `/` for an empty path."""
    parsed = yarl.URL(url).with_fragment(None)
    text = str(parsed)
    if not parsed.raw_query_string and not text.endswith("/") and parsed.raw_path == "/":
        text += "/"
    return text


@functools.lru_cache(maxsize=8192)
def _quoted(text: str) -> str:
    return text if _UNRESERVED.fullmatch(text) else quote_plus(text)


def form_encode(params: Iterable[tuple[str, str]]) -> str:
    """`application/x-www-form-urlencoded` as `urlencode` writes it. SIDs and statuses,
    most of a callback, need no quoting; names and numbers repeat, so quoting is cached."""
    return "&".join(
        (name if name.isascii() and name.isalnum() else _quoted(name))
        + "="
        + (value if value.isascii() and value.isalnum() else _quoted(value))
        for name, value in params
    )


def signed_request(
    method: str,
    url: str,
    params: Sequence[tuple[str, str]],
    auth_token: str,
    headers: dict[str, str],
) -> Request:
    """A form request to `url`, signed (§9.3: a GET's parameters are in its URL), with
    Twilio's headers and `headers`."""
    url = wire_url(url)
    form = form_encode(params)
    method = method.upper()
    if method == "GET":
        url += ("&" if "?" in url else "?") + form
        signature, body = sign(url, (), auth_token), b""
    else:
        signature, body = sign(url, params, auth_token), form.encode()
    return Request(
        method=method,
        url=url,
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "User-Agent": USER_AGENT,
            "X-Twilio-Signature": signature,
            **headers,
        },
        body=body,
    )


def build_request(callback: Signable, auth_token: str) -> Request:
    """The signed request for `callback`."""
    return signed_request(
        callback.method,
        callback.url,
        callback.params,
        auth_token,
        {
            "I-Twilio-Idempotency-Token": f"{callback.message_sid}-{callback.sequence}",
            "X-Herald-Sequence": str(callback.sequence),
            "X-Herald-Event-Time": event_time(callback.event_time),
        },
    )
