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

from herald.domain import errors, numbers, service_errors
from herald.domain.routing import Candidate

USECASES = ("notifications", "marketing", "verification", "discussion", "poll", "undeclared")
SCAN_CHOICES = ("inherit", "enable", "disable")
MAX_FRIENDLY_NAME = 64
MAX_COUNTRIES = 250  # ISO 3166-1 has 249; 250 codes of "XX," fit the 1,024 stored
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


@dataclass(frozen=True, slots=True, kw_only=True)
class PoolMember:
    """A pool sender as the v1 API shows it (§4.2): with the number, short code or alpha
    ID itself, its country (empty for an alpha ID) and its capabilities' names."""

    sender: PoolSender
    address: str
    country: str
    capabilities: tuple[str, ...]


def check_usecase(value: str) -> str:
    if value not in USECASES:
        raise service_errors.InvalidUsecase()
    return value


def check_alpha_sender(value: str) -> str:
    """An alphanumeric sender ID as §14 allows it (21709 otherwise)."""
    if not numbers.is_alphanumeric_sender_id(value):
        raise service_errors.AlphaSenderInvalid()
    return value


def check_countries(values: list[str]) -> frozenset[str]:
    """ISO-2 country codes, upper-cased; anything else is refused with 20001, as are
    more than there are countries (the column holds them comma-separated)."""
    countries = set()
    for raw in values:
        for part in raw.split(","):
            code = part.strip().upper()
            if not code:
                continue
            if len(code) != 2 or not code.isalpha() or not code.isascii():
                raise errors.InvalidParameter(f"{part!r} is not an ISO 3166 country code")
            countries.add(code)
    if len(countries) > MAX_COUNTRIES:
        raise errors.InvalidParameter(f"RegisteredIn names at most {MAX_COUNTRIES} countries")
    return frozenset(countries)


def check_friendly_name(value: str | None) -> str:
    """FriendlyName: required on create, at most 64 characters and no NUL, which
    PostgreSQL cannot store (20001 otherwise)."""
    if value is None or not value.strip():
        raise errors.InvalidParameter("FriendlyName is required")
    if "\x00" in value:
        raise errors.InvalidParameter("FriendlyName must not contain NUL characters")
    if len(value) > MAX_FRIENDLY_NAME:
        raise errors.InvalidParameter(
            f"FriendlyName must be at most {MAX_FRIENDLY_NAME} characters long"
        )
    return value


def check_validity_period(value: int) -> int:
    if not 1 <= value <= MAX_VALIDITY:
        raise errors.InvalidParameter(f"ValidityPeriod must be from 1 to {MAX_VALIDITY}")
    return value


def check_can_join(
    service_sid: str, *, member_of: str | None, can_send: bool, pool_size: int
) -> None:
    """Whether a number or short code may join `service_sid`'s pool: it is in no service
    yet (21710 if in this one, 21712 if in another), it can send SMS (21715), and the
    pool has room (21714: 400 numbers and short codes; alphanumeric IDs do not count)."""
    if member_of == service_sid:
        raise service_errors.SenderAlreadyInService()
    if member_of is not None:
        raise service_errors.SenderInAnotherService()
    if not can_send:
        raise service_errors.SenderNotCapable()
    if pool_size >= MAX_POOL:
        raise service_errors.ServicePoolFull()


def capability_names(*, sms: bool, mms: bool, voice: bool = False) -> list[str]:
    """A sender's capabilities as the v1 API lists them: `["MMS", "SMS", "Voice"]`."""
    flags = (("MMS", mms), ("SMS", sms), ("Voice", voice))
    return [name for name, present in flags if present]


def join_countries(countries: frozenset[str]) -> str:
    """`registered_in` as stored: sorted ISO-2 codes, comma-separated."""
    return ",".join(sorted(countries))


def split_countries(stored: str) -> frozenset[str]:
    return frozenset(code for code in stored.split(",") if code)


@dataclass(frozen=True, slots=True)
class PoolEntry:
    """A pool sender as routing sees it, and whether it can send MMS."""

    candidate: Candidate
    mms: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class Mapping:
    """A Sticky Sender mapping: the service sends to `to_number` from this sender (§6.4)."""

    service_sid: str
    to_number: str
    sender_sid: str
    pinned: bool
    date_created: int
    date_updated: int
