"""Request parameters: Twilio's PascalCase names in, typed snake_case values out.

Twilio's helpers send booleans as `true`/`false` and repeat a key for arrays (§1.1).
A value of the wrong type is refused here with 20001, naming the parameter. Parsing is
strict: parameters are UTF-8 (a byte that is not is refused, never replaced by U+FFFD),
at most `MAX_PARAMETERS` of them, and an integer is ASCII digits that fit the 32-bit
columns every integer parameter is stored in.
"""

from __future__ import annotations

import re
from decimal import Decimal
from urllib.parse import parse_qsl

import orjson

from herald.domain import errors
from herald.domain.outbound import SendRequest

MAX_PARAMETERS = 1000  # far beyond any request's; each costs a little to parse and check
INT_MIN, INT_MAX = -(2**31), 2**31 - 1  # what an INTEGER column holds on either database
MAX_DECIMAL = 16  # the characters a stored number (MaxPrice) may take
_INTEGER = re.compile(r"[+-]?[0-9]{1,10}")
_DECIMAL = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]{1,4})?")


class Form:
    """Form or query parameters, keeping repeated keys."""

    __slots__ = ("_pairs", "_single")

    def __init__(self, pairs: list[tuple[str, str]]) -> None:
        self._pairs = pairs
        self._single = dict(pairs)

    @classmethod
    def parse(cls, raw: bytes) -> Form:
        try:
            text = raw.decode("utf-8")
            pairs = parse_qsl(
                text, keep_blank_values=True, errors="strict", max_num_fields=MAX_PARAMETERS
            )
        except UnicodeDecodeError:
            raise errors.InvalidParameter(
                "Parameters must be UTF-8: the request has bytes that are not"
            ) from None
        except ValueError:  # parse_qsl's "Max number of fields exceeded"
            raise errors.InvalidParameter(
                f"A request can have at most {MAX_PARAMETERS} parameters"
            ) from None
        for name, value in pairs:
            if "\x00" in name or "\x00" in value:  # no database stores it in text
                raise errors.InvalidParameter(
                    f"{name.strip(chr(0))} must not contain NUL characters"
                )
        return cls(pairs)

    def get(self, name: str) -> str | None:
        return self._single.get(name)

    def __contains__(self, name: str) -> bool:
        return name in self._single

    def get_all(self, name: str) -> list[str]:
        return [value for key, value in self._pairs if key == name]

    def items(self) -> list[tuple[str, str]]:
        return list(self._pairs)

    def boolean(self, name: str) -> bool | None:
        raw = self._single.get(name)
        if raw is None or raw == "":
            return None
        lowered = raw.lower()
        if lowered in ("true", "1"):
            return True
        if lowered in ("false", "0"):
            return False
        raise errors.InvalidParameter(f"{name} must be true or false, not {raw!r}")

    def integer(self, name: str) -> int | None:
        """ASCII digits only (`int` would take "²" or "٣"), within a 32-bit column."""
        raw = self._single.get(name)
        if raw is None or raw == "":
            return None
        value = int(raw) if _INTEGER.fullmatch(raw) else None
        if value is None or not INT_MIN <= value <= INT_MAX:
            raise errors.InvalidParameter(
                f"{name} must be an integer from {INT_MIN} to {INT_MAX}, not {raw[:32]!r}"
            )
        return value

    def decimal(self, name: str) -> str | None:
        """A finite number in ASCII, stored as text of at most `MAX_DECIMAL` characters."""
        raw = self._single.get(name)
        if raw is None or raw == "":
            return None
        value = str(Decimal(raw)) if _DECIMAL.fullmatch(raw) else None
        if value is None or len(value) > MAX_DECIMAL:
            raise errors.InvalidParameter(f"{name} must be a number, not {raw[:32]!r}")
        return value

    def choice(self, name: str, allowed: tuple[str, ...]) -> str | None:
        raw = self._single.get(name)
        if raw is None:
            return None
        if raw not in allowed:
            raise errors.InvalidParameter(f"{name} must be one of {', '.join(allowed)}")
        return raw


def _tags(form: Form) -> dict[str, str] | None:
    raw = form.get("Tags")
    if raw is None or raw == "":
        return None
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError:
        value = None
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise errors.InvalidParameter("Tags must be a JSON object of string values")
    return value


def _validity_period(form: Form) -> int | None:
    try:
        return form.integer("ValidityPeriod")
    except errors.InvalidParameter:
        raise errors.InvalidValidityPeriod() from None


def media_urls(form: Form) -> tuple[str, ...]:
    """`MediaUrl`, repeated; an empty one is no media (as the helper sends none)."""
    return tuple(url for url in form.get_all("MediaUrl") if url != "")


def send_request(form: Form) -> SendRequest:
    """The parameters of POST Messages.json (reference §2.3)."""
    return SendRequest(
        to=form.get("To"),
        from_=form.get("From") or None,
        messaging_service_sid=form.get("MessagingServiceSid") or None,
        body=form.get("Body"),
        media_urls=media_urls(form),
        content_sid=form.get("ContentSid") or None,
        status_callback=form.get("StatusCallback"),
        application_sid=form.get("ApplicationSid") or None,
        validity_period=_validity_period(form),
        smart_encoded=form.boolean("SmartEncoded"),
        max_price=form.decimal("MaxPrice"),
        provide_feedback=bool(form.boolean("ProvideFeedback")),
        attempt=form.integer("Attempt"),
        tags=_tags(form),
        schedule_type=form.get("ScheduleType"),
        send_at=form.get("SendAt"),
    )
