"""Twilio SIDs: a two-letter prefix and 32 lowercase hex digits (reference §1.3).

The random bytes come from the caller, so the core stays deterministic.
"""

from __future__ import annotations

import re
from enum import StrEnum


class Prefix(StrEnum):
    ACCOUNT = "AC"
    MESSAGE = "SM"
    MEDIA_MESSAGE = "MM"
    MEDIA = "ME"
    PHONE_NUMBER = "PN"
    SHORT_CODE = "SC"
    API_KEY = "SK"
    SERVICE = "MG"
    ALPHA_SENDER = "AI"
    REQUEST = "RQ"
    APPLICATION = "AP"
    ALERT = "NO"
    OPT_OUT = "OO"  # Herald's opt-out ledger entries


_SID = re.compile(r"[A-Z]{2}[0-9a-fA-F]{32}")


def format_sid(prefix: Prefix, random_bytes: bytes) -> str:
    """Build a SID from 16 random bytes supplied by the caller."""
    if len(random_bytes) != 16:
        raise ValueError("a SID needs exactly 16 random bytes")
    return f"{prefix}{random_bytes.hex()}"


def is_sid(value: str, *prefixes: Prefix) -> bool:
    """Whether `value` is a well-formed SID with one of `prefixes` (any prefix if none)."""
    if not _SID.fullmatch(value):  # `$` would let a trailing newline through
        return False
    return not prefixes or value[:2] in prefixes
