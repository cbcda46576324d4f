"""Messages, their media and idempotency keys in the database.

Lists page newest first by an internal row id, so a page token (`PA` + the SID of
the last message of a page) resumes exactly where the page ended, however many
messages arrive meanwhile.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import Select, bindparam, delete, insert, select, update
from sqlalchemy.engine import Connection

from herald.domain.message import Media, Message
from herald.domain.status import Direction, MessageStatus, allowed_from
from herald.store.raw import RawStatement
from herald.store.schema import idempotency_keys, media, messages

_MESSAGE_COLUMNS = [c for c in messages.c if c.name != "id"]
_MEDIA_COLUMNS = list(media.c)
_MEDIA_RECORD = [c for c in media.c if c.name != "content"]  # a record without its bytes
_INSERT_MESSAGE = RawStatement(
    insert(messages).values({c.name: bindparam(c.name) for c in _MESSAGE_COLUMNS})
)
_INSERT_MEDIA = RawStatement(
    insert(media).values({c.name: bindparam(c.name) for c in _MEDIA_COLUMNS})
)
_FIND_IDEMPOTENT = RawStatement(
    select(idempotency_keys.c.message_sid, idempotency_keys.c.request_hash).where(
        idempotency_keys.c.account_sid == bindparam("account_sid"),
        idempotency_keys.c.key == bindparam("key"),
        idempotency_keys.c.date_created >= bindparam("not_before"),
    )
)


@dataclass(frozen=True, slots=True, kw_only=True)
class MessageFilter:
    to_number: str | None = None
    from_number: str | None = None
    sent_from: int | None = None  # inclusive, microseconds
    sent_before: int | None = None  # exclusive


def _message(row: Any) -> Message:
    return Message(
        sid=row.sid,
        account_sid=row.account_sid,
        messaging_service_sid=row.messaging_service_sid,
        direction=Direction(row.direction),
        from_number=row.from_number,
        to_number=row.to_number,
        sender_sid=row.sender_sid,
        body=row.body,
        status=MessageStatus(row.status),
        encoding=row.encoding,
        num_segments=row.num_segments,
        num_media=row.num_media,
        error_code=row.error_code,
        error_message=row.error_message,
        price=row.price,
        price_unit=row.price_unit,
        status_callback=row.status_callback,
        application_sid=row.application_sid,
        validity_period=row.validity_period,
        smart_encoded=row.smart_encoded,
        provide_feedback=bool(row.provide_feedback),
        attempt=row.attempt,
        max_price=row.max_price,
        tags=orjson.loads(row.tags) if row.tags else None,
        send_at=row.send_at,
        feedback_outcome=row.feedback_outcome,
        feedback_date=row.feedback_date,
        carrier=row.carrier,
        date_sent=row.date_sent,
        date_created=row.date_created,
        date_updated=row.date_updated,
    )


def _columns(message: Message) -> dict[str, Any]:
    return {
        "sid": message.sid,
        "account_sid": message.account_sid,
        "messaging_service_sid": message.messaging_service_sid,
        "direction": message.direction.value,
        "from_number": message.from_number,
        "to_number": message.to_number,
        "sender_sid": message.sender_sid,
        "body": message.body,
        "status": message.status.value,
        "encoding": message.encoding,
        "num_segments": message.num_segments,
        "num_media": message.num_media,
        "error_code": message.error_code,
        "error_message": message.error_message,
        "price": message.price,
        "price_unit": message.price_unit,
        "status_callback": message.status_callback,
        "application_sid": message.application_sid,
        "validity_period": message.validity_period,
        "smart_encoded": message.smart_encoded,
        "provide_feedback": message.provide_feedback,
        "attempt": message.attempt,
        "max_price": message.max_price,
        "tags": orjson.dumps(message.tags).decode() if message.tags is not None else None,
        "send_at": message.send_at,
        "feedback_outcome": message.feedback_outcome,
        "feedback_date": message.feedback_date,
        "carrier": message.carrier,
        "callback_sequence": 0,
        "date_sent": message.date_sent,
        "date_created": message.date_created,
        "date_updated": message.date_updated,
        "routing": None,
        "mms_link": None,
    }


def _media(row: Any) -> Media:
    return Media(
        sid=row.sid,
        account_sid=row.account_sid,
        message_sid=row.message_sid,
        content_type=row.content_type,
        url=row.url,
        date_created=row.date_created,
        date_updated=row.date_updated,
        size=row.size,
    )


def insert_message(
    conn: Connection,
    message: Message,
    items: Sequence[Media] = (),
    contents: Mapping[str, bytes] | None = None,
) -> Message:
    """The message and its media; `contents` holds the copies kept in the database, by
    Media SID (a larger copy is a file, `media_files`)."""
    contents = contents or {}
    _INSERT_MESSAGE.run_many(conn, [_columns(message)])
    if items:
        _INSERT_MEDIA.run_many(
            conn,
            [
                {
                    "sid": m.sid,
                    "account_sid": m.account_sid,
                    "message_sid": m.message_sid,
                    "content_type": m.content_type,
                    "url": m.url,
                    "date_created": m.date_created,
                    "date_updated": m.date_updated,
                    "size": m.size,
                    "content": contents.get(m.sid),
                }
                for m in items
            ],
        )
    return message


def get_message(conn: Connection, account_sid: str, sid: str) -> Message | None:
    row = conn.execute(
        select(*_MESSAGE_COLUMNS).where(
            messages.c.sid == sid, messages.c.account_sid == account_sid
        )
    ).first()
    return _message(row) if row else None


def account_of(conn: Connection, sid: str) -> str | None:
    row = conn.execute(select(messages.c.account_sid).where(messages.c.sid == sid)).first()
    return None if row is None else str(row[0])


def _filtered(account_sid: str, where: MessageFilter) -> Select[Any]:
    query = select(messages.c.id, *_MESSAGE_COLUMNS).where(messages.c.account_sid == account_sid)
    if where.to_number is not None:
        query = query.where(messages.c.to_number == where.to_number)
    if where.from_number is not None:
        query = query.where(messages.c.from_number == where.from_number)
    if where.sent_from is not None:
        query = query.where(messages.c.date_sent >= where.sent_from)
    if where.sent_before is not None:
        query = query.where(messages.c.date_sent < where.sent_before)
    return query


def _row_id(conn: Connection, account_sid: str, sid: str) -> int | None:
    row = conn.execute(
        select(messages.c.id).where(messages.c.sid == sid, messages.c.account_sid == account_sid)
    ).first()
    return int(row.id) if row else None


def list_messages(
    conn: Connection,
    account_sid: str,
    where: MessageFilter,
    *,
    limit: int,
    after_sid: str | None = None,
    before_sid: str | None = None,
    offset: int = 0,
) -> list[Message]:
    """A page, newest first: after `after_sid` (next page), before `before_sid` (previous
    page), or at `offset` when no token is given. An unknown token gives an empty page."""
    query = _filtered(account_sid, where)
    if after_sid is not None or before_sid is not None:
        anchor = _row_id(conn, account_sid, after_sid or before_sid or "")
        if anchor is None:
            return []
        if before_sid is not None:
            query = query.where(messages.c.id > anchor).order_by(messages.c.id.asc())
            earlier = conn.execute(query.limit(limit)).all()
            return [_message(row) for row in reversed(earlier)]
        query = query.where(messages.c.id < anchor)
    else:
        query = query.offset(offset)
    rows = conn.execute(query.order_by(messages.c.id.desc()).limit(limit))
    return [_message(row) for row in rows]


def redact_body(conn: Connection, message: Message, now: int) -> None:
    conn.execute(
        update(messages).where(messages.c.sid == message.sid).values(body="", date_updated=now)
    )


def record_feedback(conn: Connection, sid: str, outcome: str, now: int) -> None:
    conn.execute(
        update(messages)
        .where(messages.c.sid == sid)
        .values(feedback_outcome=outcome, feedback_date=now, date_updated=now)
    )


def change_status(conn: Connection, sid: str, new: MessageStatus, now: int, **values: Any) -> bool:
    """Apply a status change if it is still legal; False means a lost race."""
    allowed = [status.value for status in allowed_from(new)]
    result = conn.execute(
        update(messages)
        .where(messages.c.sid == sid, messages.c.status.in_(allowed))
        .values(status=new.value, date_updated=now, **values)
    )
    return result.rowcount > 0


def delete_message(conn: Connection, account_sid: str, sid: str) -> bool:
    conn.execute(delete(media).where(media.c.message_sid == sid))
    result = conn.execute(
        delete(messages).where(messages.c.sid == sid, messages.c.account_sid == account_sid)
    )
    return result.rowcount > 0


def list_media(
    conn: Connection, account_sid: str, message_sid: str, *, limit: int, offset: int
) -> list[Media]:
    rows = conn.execute(
        select(*_MEDIA_RECORD)
        .where(media.c.account_sid == account_sid, media.c.message_sid == message_sid)
        .order_by(media.c.date_created, media.c.sid)
        .limit(limit)
        .offset(offset)
    )
    return [_media(row) for row in rows]


def get_media(conn: Connection, account_sid: str, message_sid: str, sid: str) -> Media | None:
    row = conn.execute(
        select(*_MEDIA_RECORD).where(
            media.c.sid == sid,
            media.c.account_sid == account_sid,
            media.c.message_sid == message_sid,
        )
    ).first()
    return _media(row) if row else None


def delete_media(conn: Connection, account_sid: str, message_sid: str, sid: str) -> bool:
    result = conn.execute(
        delete(media).where(
            media.c.sid == sid,
            media.c.account_sid == account_sid,
            media.c.message_sid == message_sid,
        )
    )
    if result.rowcount == 0:
        return False
    conn.execute(
        update(messages)
        .where(messages.c.sid == message_sid)
        .values(num_media=messages.c.num_media - 1)
    )
    return True


def find_idempotent(
    conn: Connection, account_sid: str, key: str, not_before: int
) -> tuple[str, str] | None:
    """The (message SID, request hash) first stored under this key, if still fresh."""
    rows = _FIND_IDEMPOTENT.fetch(
        conn, {"account_sid": account_sid, "key": key, "not_before": not_before}
    )
    return (rows[0][0], rows[0][1]) if rows else None


def remember_key(
    conn: Connection, account_sid: str, key: str, message_sid: str, request_hash: str, now: int
) -> None:
    params = {"a": account_sid, "k": key, "m": message_sid, "h": request_hash, "now": now}
    _FORGET_KEY.run_many(conn, [params])
    _REMEMBER_KEY.run_many(conn, [params])


# Every create with an Idempotency-Key runs these (a bulk send sends one per recipient):
# built with Core per call they were 15% of Herald's CPU under bench/campaign.py.
_FORGET_KEY = RawStatement(
    delete(idempotency_keys).where(
        idempotency_keys.c.account_sid == bindparam("a"), idempotency_keys.c.key == bindparam("k")
    )
)
_REMEMBER_KEY = RawStatement(
    insert(idempotency_keys).values(
        account_sid=bindparam("a"),
        key=bindparam("k"),
        message_sid=bindparam("m"),
        request_hash=bindparam("h"),
        date_created=bindparam("now"),
    )
)


def forget_keys_before(conn: Connection, cutoff: int) -> int:
    result = conn.execute(delete(idempotency_keys).where(idempotency_keys.c.date_created < cutoff))
    return int(result.rowcount)
