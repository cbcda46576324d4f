"""Twilio's `X-Twilio-Signature` (reference §9.3), so receivers can keep validating
Herald's webhooks with Twilio's own helper libraries.

The signed string is the full URL requested, then each POST parameter as name + value,
names in byte order and, for a repeated name, its values sorted. Identical pairs count
once, as in twilio-python's `RequestValidator`. HMAC-SHA1 keyed with the account's Auth
Token, Base64-encoded.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable


def signed_string(url: str, params: Iterable[tuple[str, str]]) -> str:
    """What is fed to the HMAC: the URL, then the sorted name/value pairs."""
    return url + "".join(name + value for name, value in sorted(set(params)))


def sign(url: str, params: Iterable[tuple[str, str]], auth_token: str) -> str:
    """The `X-Twilio-Signature` value for a request to `url` carrying `params`."""
    digest = hmac.new(
        auth_token.encode(), signed_string(url, params).encode(), hashlib.sha1
    ).digest()
    return base64.b64encode(digest).decode("ascii")
