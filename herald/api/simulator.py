"""The carrier simulator's test endpoint (Herald's): `POST /herald/v1/Simulator/Inbound`
with `From`, `To`, `Body` and any `MediaUrl`s is a handset texting one of the caller's
numbers; the simulated carrier hands it to Herald as a real one would, and the answer
is the stored inbound message (201). `CarrierMessageId` is the carrier's own id of the
message: handing the same id over again stores nothing new (a carrier's redelivery)."""

from __future__ import annotations

from dataclasses import replace

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from herald.api import render
from herald.api.requests import account_of, form_of, json, runtime_of
from herald.api.sending import content_type_of
from herald.domain import errors
from herald.domain.encoding import encode_body
from herald.domain.inbound import MAX_BODY, InboundMedia, InboundMessage
from herald.domain.numbers import NumberError, is_short_code, parse_number
from herald.domain.outbound import MAX_MEDIA, is_http_url

PATH = "/herald/v1/Simulator/Inbound"
CARRIER = "simulator"


async def inbound(request: Request) -> Response:
    account = await account_of(request)
    form = await form_of(request)
    runtime = runtime_of(request)
    message = _message(
        form.get("From"),
        form.get("To"),
        form.get("Body") or "",
        form.get_all("MediaUrl"),
        form.get("CarrierMessageId") or runtime.new_secret(),
    )
    # The simulated carrier keeps each account's ids apart, as one connection's would be.
    message = replace(message, carrier_id=f"{account.sid}/{message.carrier_id}")
    received = await runtime.simulate_inbound(message, account.sid)
    return json(render.message(received.message), 201)


def _message(
    from_: str | None,
    to: str | None,
    body: str,
    media_urls: list[str],
    carrier_id: str,
) -> InboundMessage:
    if not from_:
        raise errors.FromRequired()
    if not to:
        raise errors.ToRequired()
    sender = _number(from_, errors.InvalidFrom, "From")
    recipient = to if is_short_code(to) else _number(to, errors.InvalidTo, "To")
    if len(body) > MAX_BODY:
        raise errors.BodyTooLong()
    if not body and not media_urls:
        raise errors.BodyOrMediaRequired()
    if len(media_urls) > MAX_MEDIA:
        raise errors.TooManyMedia()
    for url in media_urls:
        if not is_http_url(url):
            raise errors.InvalidMediaUrl(f"MediaUrl {url!r} is not an http(s) URL")
    media = tuple(InboundMedia(url=url, content_type=content_type_of(url)) for url in media_urls)
    if len(carrier_id) > 128:
        raise errors.InvalidParameter("CarrierMessageId must be at most 128 characters")
    return InboundMessage(
        carrier=CARRIER,
        carrier_id=carrier_id,
        from_number=sender,
        to_number=recipient,
        body=body,
        media=media,
        num_segments=1 if media else encode_body(body, smart=False).num_segments,
    )


def _number(raw: str, error: type[errors.TwilioError], name: str) -> str:
    try:
        return parse_number(raw).e164
    except NumberError as exc:
        raise error(f"The '{name}' number {raw} is not a valid phone number: {exc}") from None


def routes() -> list[Route]:
    return [Route(PATH, inbound, methods=["POST"])]
