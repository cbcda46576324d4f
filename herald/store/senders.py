"""Phone numbers and short codes an account owns, in the database."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from sqlalchemy import bindparam, delete, insert, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from herald.domain import errors
from herald.domain.senders import Capabilities, IncomingNumber, ShortCode, SmsWebhook
from herald.domain.sids import Prefix
from herald.store.raw import RawStatement
from herald.store.schema import incoming_numbers, service_senders, short_codes, sticky_mappings


def _webhook(row: Any) -> SmsWebhook:
    return SmsWebhook(
        sms_url=row.sms_url,
        sms_method=row.sms_method,
        sms_fallback_url=row.sms_fallback_url,
        sms_fallback_method=row.sms_fallback_method,
    )


def _number(row: Any) -> IncomingNumber:
    return IncomingNumber(
        sid=row.sid,
        account_sid=row.account_sid,
        phone_number=row.phone_number,
        friendly_name=row.friendly_name,
        country=row.country,
        number_type=row.number_type,
        webhook=_webhook(row),
        sms_application_sid=row.sms_application_sid,
        voice_url=row.voice_url,
        voice_method=row.voice_method,
        voice_fallback_url=row.voice_fallback_url,
        voice_fallback_method=row.voice_fallback_method,
        voice_caller_id_lookup=bool(row.voice_caller_id_lookup),
        status_callback=row.status_callback,
        status_callback_method=row.status_callback_method,
        capabilities=Capabilities(
            voice=bool(row.cap_voice),
            sms=bool(row.cap_sms),
            mms=bool(row.cap_mms),
            fax=bool(row.cap_fax),
        ),
        mps=row.mps,
        date_created=row.date_created,
        date_updated=row.date_updated,
    )


def _number_columns(number: IncomingNumber) -> dict[str, Any]:
    values = {
        key: value
        for key, value in asdict(number).items()
        if key not in ("webhook", "capabilities")
    }
    values.update(asdict(number.webhook))
    caps = number.capabilities
    values.update(cap_voice=caps.voice, cap_sms=caps.sms, cap_mms=caps.mms, cap_fax=caps.fax)
    return values


def _short_code(row: Any) -> ShortCode:
    return ShortCode(
        sid=row.sid,
        account_sid=row.account_sid,
        short_code=row.short_code,
        country=row.country,
        friendly_name=row.friendly_name,
        webhook=_webhook(row),
        sms=bool(row.cap_sms),
        mms=bool(row.cap_mms),
        mps=row.mps,
        date_created=row.date_created,
        date_updated=row.date_updated,
    )


def _short_code_columns(code: ShortCode) -> dict[str, Any]:
    values = {
        key: value for key, value in asdict(code).items() if key not in ("webhook", "sms", "mms")
    }
    values.update(asdict(code.webhook))
    values.update(cap_sms=code.sms, cap_mms=code.mms)
    return values


def insert_number(conn: Connection, number: IncomingNumber) -> IncomingNumber:
    """Register a number; a number belongs to one account only (21452 otherwise)."""
    try:
        with conn.begin_nested():
            conn.execute(insert(incoming_numbers).values(**_number_columns(number)))
    except IntegrityError:
        raise errors.PhoneNumberUnavailable(
            f"The phone number {number.phone_number} is already registered."
        ) from None
    return number


def save_number(conn: Connection, number: IncomingNumber) -> IncomingNumber:
    values = _number_columns(number)
    conn.execute(
        update(incoming_numbers).where(incoming_numbers.c.sid == number.sid).values(**values)
    )
    return number


def get_number(conn: Connection, account_sid: str, sid: str) -> IncomingNumber | None:
    row = conn.execute(
        select(incoming_numbers).where(
            incoming_numbers.c.sid == sid, incoming_numbers.c.account_sid == account_sid
        )
    ).first()
    return _number(row) if row else None


_NUMBER_SENDER = RawStatement(
    select(incoming_numbers.c.sid, incoming_numbers.c.cap_sms).where(
        incoming_numbers.c.account_sid == bindparam("account_sid"),
        incoming_numbers.c.phone_number == bindparam("phone_number"),
    )
)
_SHORT_CODE_SENDERS = RawStatement(
    select(short_codes.c.sid, short_codes.c.country, short_codes.c.cap_sms).where(
        short_codes.c.account_sid == bindparam("account_sid"),
        short_codes.c.short_code == bindparam("short_code"),
    )
)


def number_sender(conn: Connection, account_sid: str, phone_number: str) -> tuple[str, bool] | None:
    """(SID, can send SMS) of the account's number, without loading the whole record."""
    rows = _NUMBER_SENDER.fetch(conn, {"account_sid": account_sid, "phone_number": phone_number})
    return (rows[0][0], bool(rows[0][1])) if rows else None


def short_code_senders(
    conn: Connection, account_sid: str, short_code: str
) -> list[tuple[str, str, bool]]:
    """(SID, country, can send SMS) of each of the account's short codes with this number."""
    rows = _SHORT_CODE_SENDERS.fetch(conn, {"account_sid": account_sid, "short_code": short_code})
    return [(sid, country, bool(sms)) for sid, country, sms in rows]


def can_send_mms(conn: Connection, sid: str) -> bool:
    """Whether the number or short code `sid` has the MMS capability (21621 otherwise)."""
    table = short_codes if sid.startswith(Prefix.SHORT_CODE) else incoming_numbers
    row = conn.execute(select(table.c.cap_mms).where(table.c.sid == sid)).first()
    return row is not None and bool(row.cap_mms)


def find_number(conn: Connection, account_sid: str, phone_number: str) -> IncomingNumber | None:
    row = conn.execute(
        select(incoming_numbers).where(
            incoming_numbers.c.account_sid == account_sid,
            incoming_numbers.c.phone_number == phone_number,
        )
    ).first()
    return _number(row) if row else None


def list_numbers(
    conn: Connection,
    account_sid: str,
    *,
    phone_number: str | None = None,
    friendly_name: str | None = None,
    number_type: str | None = None,
    limit: int,
    offset: int,
) -> list[IncomingNumber]:
    """Numbers, oldest first; `phone_number` matches a part of the number, `*` as wildcard."""
    table = incoming_numbers
    query = select(table).where(table.c.account_sid == account_sid)
    if phone_number:
        pattern = phone_number.replace("%", "").replace("_", "").replace("*", "%")
        query = query.where(table.c.phone_number.like(f"%{pattern}%"))
    if friendly_name is not None:
        query = query.where(table.c.friendly_name == friendly_name)
    if number_type is not None:
        query = query.where(table.c.number_type == number_type)
    query = query.order_by(table.c.date_created, table.c.sid).limit(limit).offset(offset)
    return [_number(row) for row in conn.execute(query)]


def _leave_service(conn: Connection, sid: str) -> None:
    """A deleted sender leaves its Messaging Service's pool, and its Sticky Sender
    mappings go with it (reference §6.4)."""
    service_sid = conn.execute(
        select(service_senders.c.service_sid).where(service_senders.c.sid == sid)
    ).scalar()
    if service_sid is None:
        return
    conn.execute(delete(service_senders).where(service_senders.c.sid == sid))
    conn.execute(
        delete(sticky_mappings).where(
            sticky_mappings.c.service_sid == service_sid, sticky_mappings.c.sender_sid == sid
        )
    )


def delete_number(conn: Connection, account_sid: str, sid: str) -> bool:
    result = conn.execute(
        delete(incoming_numbers).where(
            incoming_numbers.c.sid == sid, incoming_numbers.c.account_sid == account_sid
        )
    )
    if result.rowcount == 0:
        return False
    _leave_service(conn, sid)
    return True


def insert_short_code(conn: Connection, code: ShortCode) -> ShortCode:
    try:
        with conn.begin_nested():
            conn.execute(insert(short_codes).values(**_short_code_columns(code)))
    except IntegrityError:
        raise errors.PhoneNumberUnavailable(
            f"The short code {code.short_code} ({code.country}) is already registered."
        ) from None
    return code


def save_short_code(conn: Connection, code: ShortCode) -> ShortCode:
    conn.execute(
        update(short_codes).where(short_codes.c.sid == code.sid).values(**_short_code_columns(code))
    )
    return code


def get_short_code(conn: Connection, account_sid: str, sid: str) -> ShortCode | None:
    row = conn.execute(
        select(short_codes).where(
            short_codes.c.sid == sid, short_codes.c.account_sid == account_sid
        )
    ).first()
    return _short_code(row) if row else None


def find_short_codes(conn: Connection, account_sid: str, short_code: str) -> list[ShortCode]:
    rows = conn.execute(
        select(short_codes).where(
            short_codes.c.account_sid == account_sid, short_codes.c.short_code == short_code
        )
    )
    return [_short_code(row) for row in rows]


def list_short_codes(
    conn: Connection,
    account_sid: str,
    *,
    short_code: str | None = None,
    friendly_name: str | None = None,
    limit: int,
    offset: int,
) -> list[ShortCode]:
    table = short_codes
    query = select(table).where(table.c.account_sid == account_sid)
    if short_code is not None:
        query = query.where(table.c.short_code == short_code)
    if friendly_name is not None:
        query = query.where(table.c.friendly_name == friendly_name)
    query = query.order_by(table.c.date_created, table.c.sid).limit(limit).offset(offset)
    return [_short_code(row) for row in conn.execute(query)]


def delete_short_code(conn: Connection, account_sid: str, sid: str) -> bool:
    result = conn.execute(
        delete(short_codes).where(
            short_codes.c.sid == sid, short_codes.c.account_sid == account_sid
        )
    )
    if result.rowcount == 0:
        return False
    _leave_service(conn, sid)
    return True
