"""A webhook's `<Message>` replies made messages: each `to` and `from` checked (alerts
14101 and 14102 for ones Herald cannot use), each refused as any send would be (21610
for a recipient who opted out) or by the reply loop guard (14107), the rest queued."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.engine import Connection

from herald.domain import twiml
from herald.domain.alerts import Alert
from herald.domain.delivery_errors import OptedOut, ReplyLoop, delivery_error_message
from herald.domain.message import Message
from herald.domain.numbers import (
    NumberError,
    is_alphanumeric_sender_id,
    is_short_code,
    parse_number,
)
from herald.domain.outbound import MAX_MEDIA_URL, MAX_URL, is_http_url
from herald.domain.reply_guard import ReplyGuard
from herald.inbound.replies import Conversation, NewSid, Reply, alert, reply_message
from herald.store import messages as message_store
from herald.store import opt_outs
from herald.store import senders as sender_store

MAX_BODY = 1600
INVALID_TO, INVALID_FROM, INVALID_BODY, INVALID_ACTION = 14101, 14102, 14103, 14105
INVALID_MEDIA = 21620  # Invalid media URL(s)


def build_replies(
    conn: Connection,
    chat: Conversation,
    wanted: Sequence[twiml.ReplyMessage],
    guard: ReplyGuard,
    new_sid: NewSid,
    now: int,
) -> tuple[list[Message], list[Alert]]:
    """Store the replies; the messages made (queued or failed) and the alerts raised."""
    made: list[Message] = []
    alerts: list[Alert] = []

    def warn(code: int, text: str) -> None:
        alerts.append(alert(chat, new_sid, now, code, text, resource_sid=None))

    for item in wanted:
        to = _recipient(item.to, chat)
        if to is None:
            warn(
                INVALID_TO, f"<Message to={_shown(item.to)}> is not a phone number Herald can reach"
            )
            continue
        sender = _sender(conn, item.from_, chat, to)
        if sender is None:
            warn(
                INVALID_FROM, f"<Message from={_shown(item.from_)}> is not a sender of this account"
            )
            continue
        refused = _unsendable(item)
        if refused is not None:
            warn(*refused)
            continue
        action = item.action
        if action is not None and not is_http_url(action, max_length=MAX_URL):
            warn(
                INVALID_ACTION,
                "a <Message action> that is not an http(s) URL of at most 1024 characters",
            )
            action = None
        address, sender_sid = sender
        outgoing = opt_outs.Outgoing(
            sid="", account_sid=chat.account_sid, to_number=to,
            from_number=address, sender_sid=sender_sid, service_sid=chat.service_sid,
        )  # fmt: skip
        failed = None
        if opt_outs.opted_out(conn, [outgoing]):
            failed = OptedOut.code
        elif not guard.allow(address, to, now):
            failed = ReplyLoop.code
        reply = Reply(
            to_number=to,
            from_number=address,
            sender_sid=sender_sid,
            body=item.body,
            media=item.media if failed is None else (),
            status_callback=action,
            failed_with=failed,
        )
        message, media = reply_message(
            reply, chat, new_sid, now,
            delivery_error=delivery_error_message(failed) if failed is not None else "",
        )  # fmt: skip
        message_store.insert_message(conn, message, media)
        made.append(message)
    return made, alerts


def _unsendable(item: twiml.ReplyMessage) -> tuple[int, str] | None:
    """Why a `<Message>` cannot be a message, if it cannot: an alert's code and text."""
    if "\x00" in item.body:
        return INVALID_BODY, "a <Message> body with a NUL character"
    if len(item.body) > MAX_BODY:
        return INVALID_BODY, f"a <Message> body of {len(item.body)} characters (at most 1600)"
    if any(not is_http_url(url, max_length=MAX_MEDIA_URL) for url in item.media):
        return INVALID_MEDIA, "a <Media> URL that is not an http(s) URL of at most 2048 characters"
    return None


def _shown(value: str | None) -> str:
    return repr(value if value is None or len(value) <= 64 else value[:64] + "…")


def _recipient(to: str | None, chat: Conversation) -> str | None:
    """`to`, or the inbound sender; a number without `+` is read in our number's country."""
    if to is None:
        return chat.their_address
    to = to.strip()
    if is_short_code(to):
        return to
    try:
        region = (
            parse_number(chat.our_address).country if chat.our_address.startswith("+") else None
        )
        return parse_number(to, default_region=region).e164
    except NumberError:
        return None


def _sender(
    conn: Connection, given: str | None, chat: Conversation, to: str
) -> tuple[str, str | None] | None:
    """(address, SID) of the sender: the number that received the message, or one the
    account owns, or an alphanumeric sender ID (no SID)."""
    if given is None or given.strip() == chat.our_address:
        return chat.our_address, chat.our_sid
    given = given.strip()
    if given.startswith("+"):
        found = sender_store.number_sender(conn, chat.account_sid, given)
        return (given, found[0]) if found is not None and found[1] else None
    if is_short_code(given):
        codes = sender_store.short_code_senders(conn, chat.account_sid, given)
        return next(((given, sid) for sid, _, sms in codes if sms), None)
    if is_alphanumeric_sender_id(given):
        return given, None
    return None
