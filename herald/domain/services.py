"""Messaging Services as values (reference §4): the settings a service applies to what
is sent through it, and the senders in its pool.

Defaults are Twilio's where Twilio documents one (inbound and fallback POST, validity
36,000 s, `scan_message_content` inherit, usecase undeclared) and the console's where the
API schema is silent (Sticky Sender, Area Code Geomatch, MMS converter and Smart Encoding
on).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from herald.domain import errors, numbers

USECASES = ("notifications", "marketing", "verification", "discussion", "poll", "undeclared")
SCAN_CHOICES = ("inherit", "enable", "disable")
MAX_FRIENDLY_NAME = 64
MAX_POOL = 400  # numbers and short codes per service (21714)
MAX_VALIDITY = 36_000


class PoolKind(StrEnum):
    PHONE_NUMBER = "phone_number"
    SHORT_CODE = "short_code"
    ALPHA_SENDER = "alpha_sender"


@dataclass(frozen=True, slots=True, kw_only=True)
class Service:
    sid: str
    account_sid: str
    friendly_name: str
    inbound_request_url: str | None = None
    inbound_method: str = "POST"
    fallback_url: str | None = None
    fallback_method: str = "POST"
    status_callback: str | None = None
    sticky_sender: bool = True
    mms_converter: bool = True
    smart_encoding: bool = True
    scan_message_content: str = "inherit"
    fallback_to_long_code: bool = False
    area_code_geomatch: bool = True
    validity_period: int = MAX_VALIDITY
    synchronous_validation: bool = False
    usecase: str = "undeclared"
    use_inbound_webhook_on_number: bool = False
    skip_unregistered_alpha: bool = False  # Herald's extension (§14)
    date_created: int = 0
    date_updated: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class PoolSender:
    """A sender in a service's pool: `sid` is the number's PN…, the short code's SC…, or
    the alphanumeric ID's own AI…; `registered_in` lists the countries (ISO-2) where an
    alphanumeric ID is pre-registered."""

    sid: str
    account_sid: str
    service_sid: str
    kind: PoolKind
    alpha_sender: str | None = None
    registered_in: frozenset[str] = frozenset()
    date_created: int = 0
    date_updated: int = 0


def check_usecase(value: str) -> str:
    if value not in USECASES:
        raise errors.InvalidUsecase()
    return value


def check_alpha_sender(value: str) -> str:
    """An alphanumeric sender ID as §14 allows it (21709 otherwise)."""
    if not numbers.is_alphanumeric_sender_id(value):
        raise errors.AlphaSenderInvalid()
    return value


def check_countries(values: list[str]) -> frozenset[str]:
    """ISO-2 country codes, upper-cased; anything else is refused with 20001."""
    countries = set()
    for raw in values:
        for part in raw.split(","):
            code = part.strip().upper()
            if not code:
                continue
            if len(code) != 2 or not code.isalpha() or not code.isascii():
                raise errors.InvalidParameter(f"{part!r} is not an ISO 3166 country code")
            countries.add(code)
    return frozenset(countries)
