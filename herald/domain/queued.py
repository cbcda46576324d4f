"""The message as it moves through dispatch: stored, waiting for its sender's queue,
submitted, finished. The API makes one from the message it stores, the store from a
row; routing, queues, the sender loops and the status callbacks all read this value.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from herald.domain.carrier import Submission
from herald.domain.encoding import encode_body
from herald.domain.message import Message
from herald.domain.ratelimit import default_mps
from herald.domain.senders import SenderKind
from herald.domain.status import MessageStatus


@dataclass(frozen=True, slots=True, kw_only=True)
class QueuedMessage:
    """What dispatch needs of a message waiting for its sender."""

    id: int
    sid: str
    account_sid: str
    messaging_service_sid: str | None
    from_number: str
    to_number: str
    sender_sid: str | None
    body: str
    smart_encoded: bool
    num_segments: int
    num_media: int
    validity_period: int | None
    status_callback: str | None
    status: MessageStatus
    date_created: int
    send_at: int | None = None  # a scheduled message's validity runs from here
    mms_link: str | None = None  # MMS Converter: sent as SMS with this link to its media

    @property
    def sends_media(self) -> bool:
        return self.num_media > 0 and self.mms_link is None

    @property
    def text(self) -> str:
        """What the carrier gets: the body, and the media's link when converted to SMS."""
        return f"{self.body}\n{self.mms_link}" if self.mms_link else self.body


@dataclass(frozen=True, slots=True, kw_only=True)
class SenderFacts:
    """What sets a sender's queue rate: its type, country and `Mps` override."""

    sid: str
    kind: SenderKind
    country: str
    mps: int | None


@dataclass(frozen=True, slots=True)
class StatusChange:
    """A message's new status, as its status callback reports it."""

    row: QueuedMessage
    status: MessageStatus
    error_code: int | None = None
    done_at_us: int | None = None


def sender_mps(sender: SenderFacts) -> int:
    """The sender's `Mps` override, else the default for its type and country."""
    return sender.mps or default_mps(sender.kind, sender.country)


def queued(source: Any, row_id: int) -> QueuedMessage:
    """A stored row or a `Message`: both carry these fields by the same names."""
    return QueuedMessage(
        id=row_id,
        sid=source.sid,
        account_sid=source.account_sid,
        messaging_service_sid=source.messaging_service_sid,
        from_number=source.from_number or "",
        to_number=source.to_number,
        sender_sid=source.sender_sid,
        body=source.body,
        smart_encoded=bool(source.smart_encoded),
        num_segments=source.num_segments,
        num_media=source.num_media,
        validity_period=source.validity_period,
        status_callback=source.status_callback,
        status=MessageStatus(source.status),
        date_created=source.date_created,
        send_at=source.send_at,
        mms_link=getattr(source, "mms_link", None),
    )


def queued_message(message: Message) -> QueuedMessage:
    """A message just stored by the API, as dispatch sees it (its row id is not needed)."""
    return queued(message, 0)


def message_parts(row: QueuedMessage) -> tuple[tuple[str, ...], str]:
    """The texts a message goes out in (its segments; an MMS is one part) and their
    encoding."""
    encoded = encode_body(row.text, smart=row.smart_encoded)
    parts = (row.body,) if row.sends_media else encoded.segments
    return tuple(parts), encoded.encoding


def last_submission(row: QueuedMessage) -> Submission:
    """The submission of a message's last part, as its sender loop made it: the part that
    carries the receipt. (Only its reference and recipient matter to `reconcile`.)"""
    parts, encoding = message_parts(row)
    return Submission(
        reference=f"{row.sid}/{len(parts)}",
        message_sid=row.sid,
        account_sid=row.account_sid,
        sender=row.from_number,
        sender_kind=SenderKind.LONG_CODE,
        recipient=row.to_number,
        part=len(parts),
        parts=len(parts),
        text=parts[-1],
        encoding=encoding,
        media_urls=(),
    )
