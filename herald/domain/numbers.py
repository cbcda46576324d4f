"""Phone numbers: parse once at the edge into an E.164 `PhoneNumber`, plus sender-ID shapes.

Outside +1 a number is valid when phonenumbers says so; a +1 number is valid when it has the
NANP shape (area code and exchange each starting 2-9, then 4 digits) and its area code is in
service per the NANPA table (phonenumbers lags new codes such as 357 or 679) or is
toll-free: other non-geographic codes cannot receive SMS.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from enum import StrEnum

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberFormat, PhoneNumberType

from herald.domain.nanp_table import AREA_CODES, NON_GEOGRAPHIC
from herald.domain.sender_tables import ALPHA_COUNTRIES, SHORT_CODE_COUNTRIES


class NumberType(StrEnum):
    """IncomingPhoneNumber `type` values; every line type phonenumbers knows maps onto these."""

    LOCAL = "local"
    MOBILE = "mobile"
    TOLL_FREE = "toll-free"


@dataclass(frozen=True, slots=True, kw_only=True)
class PhoneNumber:
    e164: str  # "+14155551234"
    country: str  # ISO 3166 alpha-2; for +1 from the NANP table ("787" -> "PR")
    country_code: int  # 1
    national_number: str  # "4155551234"
    area_code: str | None  # NANP only: "415"
    number_type: NumberType


class NumberError(ValueError):
    """The text is not a phone number Herald can message; the message says why."""


NANP_COUNTRY_CODE = 1
# libphonenumber gives NANP-wide toll-free numbers to the main country of +1.
TOLL_FREE_COUNTRY = "US"
_MAX_LENGTH = 64  # longer input is never a phone number; keeps junk out of the cache
_CACHE_SIZE = 65536

_HUMAN = re.compile(r"\+?[0-9 ().\-/]+")
_NANP_NATIONAL = re.compile(r"[2-9][0-9]{2}[2-9][0-9]{6}")
_NANP_E164 = re.compile(r"\+1[2-9][0-9]{2}[2-9][0-9]{6}")
# phonenumbers cannot tell US/CA mobiles from landlines (FIXED_LINE_OR_MOBILE), so their
# line type is LOCAL whatever it says: canonical US/CA numbers skip it (it costs ~150 µs).
_LOCAL_ONLY_COUNTRIES = frozenset({"US", "CA"})
_SHORT_CODE = re.compile(r"[0-9]{3,8}")
_ALPHA_SENDER = re.compile(r"[A-Za-z0-9 +\-_&]{1,11}")
_LETTER = re.compile(r"[A-Za-z]")

_PARSE_ERRORS = {
    NumberParseException.INVALID_COUNTRY_CODE: "has an unknown country calling code",
    NumberParseException.NOT_A_NUMBER: "is not a phone number",
    NumberParseException.TOO_SHORT_AFTER_IDD: "is too short after the international prefix",
    NumberParseException.TOO_SHORT_NSN: "is too short",
    NumberParseException.TOO_LONG: "is too long",
}
_LINE_TYPES = {
    PhoneNumberType.MOBILE: NumberType.MOBILE,
    PhoneNumberType.TOLL_FREE: NumberType.TOLL_FREE,
}
_OVERLAYS: dict[str, frozenset[str]] = {code: frozenset(row[3]) for code, row in AREA_CODES.items()}


def parse_number(raw: str, *, default_region: str | None = None) -> PhoneNumber:
    """Parse E.164 or human formatting ("+1 (415) 555-1234") into a `PhoneNumber`.

    Text without a leading "+" is read as a national number of `default_region` (ISO
    alpha-2); with no region it is rejected. Results, failures included, are cached.
    """
    if len(raw) > _MAX_LENGTH:
        raise NumberError(f"{raw[:20]!r}… is too long to be a phone number")
    region = default_region.upper() if default_region is not None else None
    result = _parse_cached(raw.strip(), region)
    if isinstance(result, str):
        raise NumberError(result)
    return result


@functools.lru_cache(maxsize=_CACHE_SIZE)
def _parse_cached(text: str, region: str | None) -> PhoneNumber | str:
    try:
        return _parse(text, region)
    except NumberError as exc:
        return str(exc)


def _parse(text: str, region: str | None) -> PhoneNumber:
    if not _HUMAN.fullmatch(text):
        raise NumberError(
            f"{text!r} is not a phone number: use digits with an optional leading '+'"
            " and only spaces, ( ) - . / between them"
        )
    if _NANP_E164.fullmatch(text):
        return _nanp_e164(text)
    if not text.startswith("+"):
        _check_region(text, region)
    try:
        parsed = phonenumbers.parse(text, region)
    except NumberParseException as exc:
        raise NumberError(f"{text!r} {_PARSE_ERRORS[exc.error_type]}") from None
    if parsed.country_code == NANP_COUNTRY_CODE:
        return _nanp_number(parsed)
    return _international_number(parsed)


def _check_region(text: str, region: str | None) -> None:
    if region is None:
        raise NumberError(f"{text!r} has no leading '+' and country code (E.164: +14155551234)")
    if region not in phonenumbers.SUPPORTED_REGIONS:
        raise NumberError(f"{region!r} is not a known country for reading {text!r}")


def _nanp_e164(e164: str) -> PhoneNumber:
    """A canonical +1 number, read from the NANP table alone where that is enough."""
    area_code = e164[2:5]
    row = AREA_CODES.get(area_code)
    if row is not None and row[0] in _LOCAL_ONLY_COUNTRIES and row[4] == "in_service":
        return PhoneNumber(
            e164=e164,
            country=row[0],
            country_code=NANP_COUNTRY_CODE,
            national_number=e164[2:],
            area_code=area_code,
            number_type=NumberType.LOCAL,
        )
    return _nanp_number(phonenumbers.parse(e164, None))


def _nanp_number(parsed: phonenumbers.PhoneNumber) -> PhoneNumber:
    national = phonenumbers.national_significant_number(parsed)
    e164 = f"+1{national}"
    if not _NANP_NATIONAL.fullmatch(national):
        raise NumberError(
            f"{e164} is not a NANP number: +1 takes 10 digits: NPA, exchange (2-9 first), line"
        )
    area_code = national[:3]
    kind = NON_GEOGRAPHIC.get(area_code)
    if kind == "toll_free":
        country, number_type = TOLL_FREE_COUNTRY, NumberType.TOLL_FREE
    elif kind is not None:
        raise NumberError(f"{e164}: area code {area_code} is {kind}, not a number for SMS")
    else:
        country = _in_service_country(e164, area_code)
        number_type = NumberType.LOCAL if country in _LOCAL_ONLY_COUNTRIES else _line_type(parsed)
    return PhoneNumber(
        e164=e164,
        country=country,
        country_code=NANP_COUNTRY_CODE,
        national_number=national,
        area_code=area_code,
        number_type=number_type,
    )


def _in_service_country(e164: str, area_code: str) -> str:
    row = AREA_CODES.get(area_code)
    if row is None:
        raise NumberError(f"{e164}: area code {area_code} is not an assigned NANP area code")
    country, _region, _groups, _overlays, status = row
    if status != "in_service":
        raise NumberError(f"{e164}: area code {area_code} is {status}, not yet in service")
    return country


def _international_number(parsed: phonenumbers.PhoneNumber) -> PhoneNumber:
    national = phonenumbers.national_significant_number(parsed)
    e164 = f"+{parsed.country_code}{national}"
    if not phonenumbers.is_valid_number(parsed):
        raise NumberError(f"{e164} is not a valid number for country code +{parsed.country_code}")
    country = phonenumbers.region_code_for_number(parsed)
    if country is None or country == phonenumbers.REGION_CODE_FOR_NON_GEO_ENTITY:
        raise NumberError(f"{e164} belongs to no country (global service numbers cannot get SMS)")
    return PhoneNumber(
        e164=e164,
        country=country,
        country_code=phonenumbers.country_code_for_valid_region(country),
        national_number=national,
        area_code=None,
        number_type=_line_type(parsed),
    )


def _line_type(parsed: phonenumbers.PhoneNumber) -> NumberType:
    """MOBILE and TOLL_FREE as phonenumbers says; every other line type, or unknown, is LOCAL."""
    return _LINE_TYPES.get(phonenumbers.number_type(parsed), NumberType.LOCAL)


def is_short_code(raw: str) -> bool:
    """3 to 8 ASCII digits, no '+' (US short codes are 5-6 digits, other countries 3-8)."""
    return _SHORT_CODE.fullmatch(raw) is not None


def country_of(raw: str) -> str | None:
    """The ISO country of a number, or None when it is not one (a short code, an ID)."""
    try:
        return parse_number(raw).country
    except NumberError:
        return None


def is_alphanumeric_sender_id(raw: str) -> bool:
    """1-11 of A-Z a-z 0-9 space - + _ &, at least one a letter (reference §14)."""
    return _ALPHA_SENDER.fullmatch(raw) is not None and _LETTER.search(raw) is not None


def area_code_of(number: PhoneNumber) -> str | None:
    return number.area_code


def overlay_codes(area_code: str) -> frozenset[str]:
    """The other codes sharing an overlay group with `area_code`, scheduled ones included."""
    return _OVERLAYS.get(area_code, frozenset())


def is_local_area(sender_area: str, recipient_area: str) -> bool:
    """Area Code Geomatch: the same area code or an overlay of it (reference §6.1)."""
    return sender_area == recipient_area or recipient_area in overlay_codes(sender_area)


def nanp_country(area_code: str) -> str | None:
    """The country a geographic NANP area code serves; None for unknown or non-geographic codes."""
    row = AREA_CODES.get(area_code)
    return row[0] if row is not None else None


def alpha_support(country: str) -> tuple[str, str] | None:
    """(alpha_supported, pre_registration) for a destination country, None if not in the table."""
    return ALPHA_COUNTRIES.get(country.upper())


def short_code_default_mps(country: str) -> int | None:
    """Twilio's default short-code MPS for the country, None if unpublished or no short codes."""
    return SHORT_CODE_COUNTRIES.get(country.upper())


def has_short_codes(country: str) -> bool:
    return country.upper() in SHORT_CODE_COUNTRIES


def friendly_format(number: PhoneNumber) -> str:
    """Twilio's default friendly_name: "(415) 555-1234" for +1, else international format."""
    national = number.national_number
    if number.country_code == NANP_COUNTRY_CODE:
        return f"({national[:3]}) {national[3:6]}-{national[6:]}"
    parsed = phonenumbers.parse(number.e164)
    return phonenumbers.format_number(parsed, PhoneNumberFormat.INTERNATIONAL)
