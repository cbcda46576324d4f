"""Replies to an inbound message (an opt-out keyword's, or a webhook's TwiML) as outbound
messages: `outbound-reply`, from the number or short code that received the message, in
its service if it is in one, queued like any other send."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from herald.domain.alerts import Alert
from herald.domain.encoding import encode_body
from herald.domain.message import Media, Message
from herald.domain.sids import Prefix
from herald.domain.status import Direction, MessageStatus

NewSid = Callable[[Prefix], str]


@dataclass(frozen=True, slots=True, kw_only=True)
class Conversation:
    """Whose inbound message is answered, through which number and service."""

    account_sid: str
    service_sid: str | None
    our_address: str  # the number or short code that received the message
    our_sid: str | None
    their_address: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Reply:
    """A reply decided, before it is a message: what to send, from whom, to whom."""

    to_number: str
    from_number: str
    sender_sid: str | None
    body: str
    media: tuple[str, ...] = ()
    status_callback: str | None = None
    failed_with: int | None = None  # stored failed at once (21610, 14107), never sent


def reply_message(
    reply: Reply, chat: Conversation, new_sid: NewSid, now: int, *, delivery_error: str = ""
) -> tuple[Message, list[Media]]:
    sid = new_sid(Prefix.MEDIA_MESSAGE if reply.media else Prefix.MESSAGE)
    encoded = encode_body(reply.body, smart=False)
    failed = reply.failed_with is not None
    message = Message(
        sid=sid,
        account_sid=chat.account_sid,
        messaging_service_sid=chat.service_sid,
        direction=Direction.OUTBOUND_REPLY,
        from_number=reply.from_number,
        to_number=reply.to_number,
        sender_sid=reply.sender_sid,
        body=reply.body,
        status=MessageStatus.FAILED if failed else MessageStatus.QUEUED,
        encoding=encoded.encoding.value,
        num_segments=1 if reply.media else encoded.num_segments,
        num_media=len(reply.media),
        error_code=reply.failed_with,
        error_message=delivery_error or None,
        status_callback=reply.status_callback,
        date_created=now,
        date_updated=now,
    )
    media = media_rows(
        new_sid,
        chat.account_sid,
        sid,
        [(url, "application/octet-stream") for url in reply.media],
        now,
    )
    return message, media


def media_rows(
    new_sid: NewSid,
    account_sid: str,
    message_sid: str,
    items: Sequence[tuple[str, str]],
    now: int,
) -> list[Media]:
    """A message's media (URL, content type), a microsecond apart so that they list in
    order."""
    return [
        Media(
            sid=new_sid(Prefix.MEDIA), account_sid=account_sid, message_sid=message_sid,
            url=url, content_type=content_type, date_created=now + n, date_updated=now + n,
        )
        for n, (url, content_type) in enumerate(items)
    ]  # fmt: skip


def alert(
    chat: Conversation,
    new_sid: NewSid,
    now: int,
    code: int,
    text: str,
    *,
    resource_sid: str | None,
    level: str = "error",
) -> Alert:
    return Alert(
        sid=new_sid(Prefix.ALERT),
        account_sid=chat.account_sid,
        error_code=code,
        log_level=level,
        alert_text=text,
        resource_sid=resource_sid,
        service_sid=chat.service_sid,
        date_created=now,
        date_updated=now,
    )


def queued(messages: Sequence[Message]) -> list[Message]:
    return [m for m in messages if m.status is MessageStatus.QUEUED]
