"""Validating a send request (POST Messages.json) into an outbound draft.

The checks run in the order Twilio reports them (reference §2.3, §3): required
parameters first, then the numbers, then the body and media, then the options. A
request that fails here writes nothing. Ownership of `From` is checked by the store.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from urllib.parse import urlsplit

from herald.domain import errors, numbers, service_errors, targets, test_credentials
from herald.domain.encoding import EncodedBody, encode_body, utf16_length
from herald.domain.sids import Prefix, is_sid

MAX_BODY = 1600
MAX_MEDIA = 10
MAX_VALIDITY = 36_000
MAX_URL = 1024  # a webhook URL, as stored
MAX_MEDIA_URL = 2048


class FromKind(StrEnum):
    PHONE = "phone"
    SHORT_CODE = "short_code"
    ALPHANUMERIC = "alphanumeric"
    SERVICE = "service"


@dataclass(frozen=True, slots=True, kw_only=True)
class SendRequest:
    """A create request's parameters, typed but not yet validated against each other."""

    to: str | None = None
    from_: str | None = None
    messaging_service_sid: str | None = None
    body: str | None = None
    media_urls: tuple[str, ...] = ()
    content_sid: str | None = None
    status_callback: str | None = None
    application_sid: str | None = None
    validity_period: int | None = None
    smart_encoded: bool | None = None
    max_price: str | None = None
    provide_feedback: bool = False
    attempt: int | None = None
    tags: dict[str, str] | None = None
    schedule_type: str | None = None
    send_at: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Draft:
    """A valid outbound message, waiting only for the store's ownership check."""

    to: numbers.PhoneNumber
    from_kind: FromKind
    from_value: str
    messaging_service_sid: str | None
    body: str
    encoded: EncodedBody
    media_urls: tuple[str, ...]
    request: SendRequest


def prepare(request: SendRequest, *, test: bool = False, allow_private: bool = False) -> Draft:
    """Check a send request; raise the first Twilio error that applies.

    With `test` (a test account, §17) the magic numbers decide the outcome first. A
    `StatusCallback` or `MediaUrl` whose host is an address the webhook target policy
    refuses is invalid (21609, 21620); `allow_private` is HERALD_WEBHOOK_ALLOW_PRIVATE.
    """
    _require(request)
    if test:
        from_kind, from_value = _magic_from(request)
    else:
        from_kind, from_value = classify_from(request)
    to = parse_to(request.to or "", from_kind, from_value)
    if from_kind is FromKind.PHONE and to.e164 == from_value:
        raise errors.InvalidTo("'To' and 'From' numbers cannot be the same.")
    if from_kind is FromKind.ALPHANUMERIC:
        _check_alpha_destination(to)
    if request.content_sid is not None:
        raise errors.InvalidContentSid()
    body = request.body or ""
    check_content(body, request.media_urls, allow_private)
    _check_options(request, allow_private)
    return Draft(
        to=to,
        from_kind=from_kind,
        from_value=from_value,
        messaging_service_sid=request.messaging_service_sid,
        body=body,
        encoded=encode_body(body, smart=bool(request.smart_encoded)),
        media_urls=request.media_urls,
        request=request,
    )


def _magic_from(request: SendRequest) -> tuple[FromKind, str]:
    if request.messaging_service_sid is not None:
        raise errors.FromNotOwned("Messaging Services cannot be used with test credentials.")
    raw = (request.from_ or "").strip()
    test_credentials.check_from(raw)
    test_credentials.check_to((request.to or "").strip())
    return FromKind.PHONE, raw


def _require(request: SendRequest) -> None:
    if not request.to:
        raise errors.ToRequired()
    if not request.from_ and not request.messaging_service_sid:
        raise errors.FromRequired()
    if request.body is None and not request.media_urls and not request.content_sid:
        raise errors.BodyRequired()
    if not (request.body or "").strip() and not request.media_urls and not request.content_sid:
        raise errors.BodyOrMediaRequired()


def classify_from(request: SendRequest) -> tuple[FromKind, str]:
    """What kind of sender `From` names, or the service when only a service is given.

    A `From` that is given must name a sender: a blank one is malformed (21212), never
    "no sender" — taken for a service with an empty SID, it once sent from nobody.
    """
    service = request.messaging_service_sid
    if service is not None and not is_sid(service, Prefix.SERVICE):
        raise service_errors.ServiceNotFound(f"The Messaging Service Sid {service} is invalid.")
    if request.from_ is None:
        if service is None:
            raise errors.FromRequired()
        return FromKind.SERVICE, service
    raw = request.from_.strip()
    if is_sid(raw, Prefix.SERVICE):
        return FromKind.SERVICE, raw
    if numbers.is_short_code(raw):
        return FromKind.SHORT_CODE, raw
    if raw.startswith("+") or raw[:1].isdigit():
        try:
            return FromKind.PHONE, numbers.parse_number(raw).e164
        except numbers.NumberError:
            raise errors.InvalidFrom(f"Invalid From Number (caller ID): {raw}") from None
    if numbers.is_alphanumeric_sender_id(raw):
        return FromKind.ALPHANUMERIC, raw
    raise errors.InvalidFrom(f"Invalid From Number (caller ID): {raw}")


def parse_to(raw: str, from_kind: FromKind, from_value: str) -> numbers.PhoneNumber:
    """The recipient; without a leading `+` it is read in the sender's country, as Twilio does."""
    region = None
    if from_kind is FromKind.PHONE:
        region = "US" if test_credentials.is_magic(from_value) else _country(from_value)
    try:
        return numbers.parse_number(raw.strip(), default_region=region)
    except numbers.NumberError:
        raise errors.InvalidTo(f"The 'To' number {raw} is not a valid phone number.") from None


def _country(e164: str) -> str:
    return numbers.parse_number(e164).country


def _check_alpha_destination(to: numbers.PhoneNumber) -> None:
    support = numbers.alpha_support(to.country)
    if support is None or support[0] == "no":
        raise errors.CannotRoute(
            f"The 'To' phone number: {to.e164}, is not currently reachable using the "
            "'From' alphanumeric sender ID: alphanumeric sender IDs are not supported "
            f"in {to.country}."
        )


def check_content(body: str, media_urls: tuple[str, ...], allow_private: bool) -> None:
    """A message's body (21617 beyond 1,600 UTF-16 units) and media (21623 beyond ten,
    21620 for one that is not an absolute http(s) URL or names an address the webhook
    target policy refuses): for a send and for its Preview."""
    if utf16_length(body) > MAX_BODY:
        raise errors.BodyTooLong()
    _check_media(media_urls, allow_private)


def _check_media(urls: tuple[str, ...], allow_private: bool) -> None:
    if len(urls) > MAX_MEDIA:
        raise errors.TooManyMedia()
    for url in urls:
        if not is_http_url(url, max_length=MAX_MEDIA_URL):
            raise errors.InvalidMediaUrl(
                f"Media urls: {url} are invalid. Please use absolute urls."
            )
        refused = targets.url_refusal(url, allow_private=allow_private)
        if refused is not None:
            raise errors.InvalidMediaUrl(
                f"Media urls: {url} are invalid. {refused_target(refused)}"
            )


def _check_options(request: SendRequest, allow_private: bool) -> None:
    period = request.validity_period
    if period is not None and not 1 <= period <= MAX_VALIDITY:
        raise errors.InvalidValidityPeriod()
    callback = request.status_callback
    if callback is not None and callback != "":
        if not is_http_url(callback):
            raise errors.InvalidStatusCallback(
                f"The StatusCallback URL {callback} is not a valid URL."
            )
        refused = targets.url_refusal(callback, allow_private=allow_private)
        if refused is not None:
            raise errors.InvalidStatusCallback(
                f"The StatusCallback URL {callback} is not a valid URL. {refused_target(refused)}"
            )
    scheduled = request.schedule_type is not None or request.send_at is not None
    has_service = request.messaging_service_sid is not None or is_sid(
        request.from_ or "", Prefix.SERVICE
    )
    if scheduled and not has_service:
        raise service_errors.SchedulingNeedsService()


_HOST = re.compile(
    r"^(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)*[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$"
)


def is_http_url(url: str, *, max_length: int = MAX_URL) -> bool:
    """An absolute http(s) URL with a valid host name (Twilio refuses underscores in hosts)
    or address (in any spelling a browser reads as one), no longer than Herald stores,
    without control characters. Whether its address may be used is `targets`' question."""
    if len(url) > max_length or any(ord(c) < 0x20 or c == "\x7f" for c in url):
        return False
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        _ = parts.port
        address = targets.literal_address(host)
    except ValueError:
        return False
    if parts.scheme not in ("http", "https") or not host:
        return False
    return address is not None or bool(_HOST.match(host))


def refused_target(refused: targets.Refusal) -> str:
    """Why a URL's address is refused, for the API's error message."""
    return f"Its host is an address this server does not send to ({refused.value})."
