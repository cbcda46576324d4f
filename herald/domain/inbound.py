"""An inbound message as a carrier hands it over, where its webhook goes (§10.1) and what
the webhook carries (§10.2)."""

from __future__ import annotations

import functools
from dataclasses import dataclass

import phonenumbers

from herald.domain.callbacks import API_VERSION
from herald.domain.nanp_table import AREA_CODES
from herald.domain.numbers import NumberError, parse_number
from herald.domain.senders import SmsWebhook
from herald.domain.services import Service

MAX_BODY = 1600  # what a webhook's Body carries (§10.2)
INBOUND_PRICE_PER_SEGMENT = "0.00750"  # as the seed's inbound messages show, negated


@dataclass(frozen=True, slots=True, kw_only=True)
class InboundMedia:
    url: str
    content_type: str


@dataclass(frozen=True, slots=True, kw_only=True)
class InboundMessage:
    """What a carrier delivered: `carrier_id` is its own id of the message, the key that
    makes a repeated hand-over store nothing new."""

    carrier: str
    carrier_id: str
    from_number: str
    to_number: str
    body: str
    media: tuple[InboundMedia, ...] = ()
    num_segments: int = 1
    error_code: int | None = None  # 30009: a part of a concatenated message never came


@dataclass(frozen=True, slots=True, kw_only=True)
class WebhookTarget:
    url: str
    method: str
    fallback_url: str
    fallback_method: str


def webhook_target(webhook: SmsWebhook, service: Service | None) -> WebhookTarget | None:
    """The number's own webhook, unless it is in a service that does not defer to it
    (`use_inbound_webhook_on_number` false): then the service's. None when neither has a
    URL: the message is stored and opt-outs applied, nothing is called."""
    if service is not None and not service.use_inbound_webhook_on_number:
        url, method = service.inbound_request_url or "", service.inbound_method
        fallback, fallback_method = service.fallback_url or "", service.fallback_method
    else:
        url, method = webhook.sms_url, webhook.sms_method
        fallback, fallback_method = webhook.sms_fallback_url, webhook.sms_fallback_method
    if not url and not fallback:
        return None
    return WebhookTarget(
        url=url or fallback,
        method=(method if url else fallback_method) or "POST",
        fallback_url=fallback if url else "",
        fallback_method=fallback_method or "POST",
    )


@dataclass(frozen=True, slots=True)
class Place:
    country: str = ""
    state: str = ""
    city: str = ""
    zip: str = ""


_NANP_PREFIX = 8  # "+1" and NPA-NXX: the finest unit the geocoder tells apart in +1
MAX_PREFIXES = 200_000  # far beyond the NPA-NXX codes in use
_by_prefix: dict[str, Place] = {}


def place_of(address: str) -> Place:
    """What can be told of where a number is: the country, and for NANP numbers the state
    (its area code) and the city (libphonenumber's geocoder). ZIP codes are not known.
    +1 numbers are answered per NPA-NXX, so texters of one exchange share one lookup."""
    if len(address) == 12 and address.startswith("+1") and address[1:].isdigit():
        prefix = address[:_NANP_PREFIX]
        found = _by_prefix.get(prefix)
        if found is None:
            if len(_by_prefix) >= MAX_PREFIXES:
                _by_prefix.clear()
            found = _by_prefix[prefix] = _place(address)
        return found
    return _place(address)


@functools.lru_cache(maxsize=4096)
def _place(address: str) -> Place:
    try:
        number = parse_number(address)
    except NumberError:
        return Place()
    state = ""
    if number.area_code is not None and number.area_code in AREA_CODES:
        state = AREA_CODES[number.area_code][1]
    city = ""
    if number.country_code == 1:
        # Imported at the first need: the geocoder's tables cost about 100 MB of memory,
        # which a node that never receives a message should not pay.
        from phonenumbers import geocoder

        described = geocoder.description_for_number(phonenumbers.parse(number.e164), "en")
        city = described.rsplit(", ", 1)[0] if ", " in described else ""
    return Place(country=number.country, state=state, city=city)


def webhook_params(
    *,
    message_sid: str,
    account_sid: str,
    service_sid: str | None,
    message: InboundMessage,
    opt_out_type: str | None,
) -> list[tuple[str, str]]:
    """The form Twilio posts for an inbound SMS/MMS (§10.2); geography sent empty when
    unknown, as Twilio does."""
    params = [
        ("ToCountry", ""),
        ("ToState", ""),
        ("SmsMessageSid", message_sid),
        ("NumMedia", str(len(message.media))),
        ("ToCity", ""),
        ("FromZip", ""),
        ("SmsSid", message_sid),
        ("FromState", ""),
        ("SmsStatus", "received"),
        ("FromCity", ""),
        ("Body", message.body[:MAX_BODY]),
        ("FromCountry", ""),
        ("To", message.to_number),
        ("ToZip", ""),
        ("NumSegments", str(message.num_segments)),
        ("MessageSid", message_sid),
        ("AccountSid", account_sid),
        ("From", message.from_number),
        ("ApiVersion", API_VERSION),
    ]
    geo = {}
    for side, address in (("From", message.from_number), ("To", message.to_number)):
        place = place_of(address)
        geo.update(
            {
                f"{side}Country": place.country,
                f"{side}State": place.state,
                f"{side}City": place.city,
                f"{side}Zip": place.zip,
            }
        )
    params = [(name, geo.get(name, value)) for name, value in params]
    if service_sid:
        params.append(("MessagingServiceSid", service_sid))
    for n, item in enumerate(message.media):
        params.append((f"MediaContentType{n}", item.content_type))
        params.append((f"MediaUrl{n}", item.url))
    if opt_out_type:
        params.append(("OptOutType", opt_out_type))
    return params


def inbound_price(num_segments: int) -> str:
    """Inbound SMS is charged per segment; Twilio writes it negative, five decimals."""
    cents = int(INBOUND_PRICE_PER_SEGMENT.replace(".", "")) * max(1, num_segments)
    return f"-{cents // 100_000}.{cents % 100_000:05d}"


@dataclass(frozen=True, slots=True, kw_only=True)
class InboundWebhook:
    """An inbound webhook owed: its targets as chosen on arrival, its form, and the token
    every attempt carries (`I-Twilio-Idempotency-Token`)."""

    id: int
    account_sid: str
    message_sid: str
    token: str
    target: WebhookTarget
    params: tuple[tuple[str, str], ...]
    attempts: int
    auth_token: str = ""  # the account's, read at claim time, to sign with
