"""A message as Herald keeps it, and its media; the API renders these as Twilio's JSON."""

from __future__ import annotations

from dataclasses import dataclass

from herald.domain.status import Direction, MessageStatus


@dataclass(frozen=True, slots=True, kw_only=True)
class Message:
    sid: str
    account_sid: str
    messaging_service_sid: str | None
    direction: Direction
    from_number: str | None
    to_number: str
    sender_sid: str | None
    body: str
    status: MessageStatus
    encoding: str
    num_segments: int
    num_media: int
    # What a message the API did not create (inbound, replies) mostly leaves unset.
    error_code: int | None = None
    error_message: str | None = None
    price: str | None = None
    price_unit: str | None = "USD"
    status_callback: str | None = None
    application_sid: str | None = None
    validity_period: int | None = None
    smart_encoded: bool | None = None
    provide_feedback: bool = False
    attempt: int | None = None
    max_price: str | None = None
    tags: dict[str, str] | None = None
    send_at: int | None = None
    feedback_outcome: str | None = None
    feedback_date: int | None = None
    carrier: str | None = None
    date_sent: int | None = None
    date_created: int
    date_updated: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Media:
    sid: str
    account_sid: str
    message_sid: str
    content_type: str
    url: str
    date_created: int
    date_updated: int
    # Bytes of the copy Herald keeps (fetched at the create); None: it keeps none (an
    # inbound message's media, or media stored before Herald kept copies).
    size: int | None = None
