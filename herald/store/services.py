"""Messaging Services and their sender pools in the database (reference §4).

A number or short code is in one pool at most: the pool's primary key is the sender's own
SID, so the check made before an insert is enforced by the table too (21710 / 21712).
Adding to a pool locks the service's row, so that concurrent adds cannot overfill it
(21714). A sender leaving a pool takes its Sticky Sender mappings with it (§6.4).
A value that is not a SID of the right kind names nothing, and is not sent to the
database (PostgreSQL refuses a NUL character in a query with an error).
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from herald.domain import service_errors
from herald.domain.services import (
    PoolKind,
    PoolMember,
    PoolSender,
    Service,
    capability_names,
    check_can_join,
    join_countries,
    split_countries,
)
from herald.domain.sids import Prefix, is_sid
from herald.store.inbound_schema import opt_out_settings
from herald.store.schema import (
    incoming_numbers,
    service_senders,
    services,
    short_codes,
    sticky_mappings,
)

_COUNTED = (PoolKind.PHONE_NUMBER.value, PoolKind.SHORT_CODE.value)
_PREFIXES = {
    PoolKind.PHONE_NUMBER: Prefix.PHONE_NUMBER,
    PoolKind.SHORT_CODE: Prefix.SHORT_CODE,
    PoolKind.ALPHA_SENDER: Prefix.ALPHA_SENDER,
}


def _service(row: Any) -> Service:
    return Service(**row._mapping)


def insert_service(conn: Connection, service: Service) -> Service:
    conn.execute(insert(services).values(**asdict(service)))
    return service


def save_service(conn: Connection, service: Service) -> Service:
    conn.execute(update(services).where(services.c.sid == service.sid).values(**asdict(service)))
    return service


def get_service(
    conn: Connection, account_sid: str, sid: str, *, for_update: bool = False
) -> Service | None:
    """The account's service; `for_update` locks its row (PostgreSQL) until the commit."""
    if not is_sid(sid, Prefix.SERVICE):
        return None
    query = select(services).where(services.c.sid == sid, services.c.account_sid == account_sid)
    if for_update:
        query = query.with_for_update()
    row = conn.execute(query).first()
    return _service(row) if row else None


def list_services(conn: Connection, account_sid: str, *, limit: int, offset: int) -> list[Service]:
    """The account's services, oldest first."""
    query = (
        select(services)
        .where(services.c.account_sid == account_sid)
        .order_by(services.c.date_created, services.c.sid)
        .limit(limit)
        .offset(offset)
    )
    return [_service(row) for row in conn.execute(query)]


def delete_service(conn: Connection, account_sid: str, sid: str) -> bool:
    """Delete the service, its pool and its Sticky Sender mappings; False if it has none."""
    if not is_sid(sid, Prefix.SERVICE):
        return False
    result = conn.execute(
        delete(services).where(services.c.sid == sid, services.c.account_sid == account_sid)
    )
    if result.rowcount == 0:
        return False
    conn.execute(delete(service_senders).where(service_senders.c.service_sid == sid))
    conn.execute(delete(sticky_mappings).where(sticky_mappings.c.service_sid == sid))
    conn.execute(delete(opt_out_settings).where(opt_out_settings.c.service_sid == sid))
    return True


def _pool_sender(row: Any) -> PoolSender:
    return PoolSender(
        sid=row.sid,
        account_sid=row.account_sid,
        service_sid=row.service_sid,
        kind=PoolKind(row.kind),
        alpha_sender=row.alpha_sender,
        registered_in=split_countries(row.registered_in),
        date_created=row.date_created,
        date_updated=row.date_updated,
    )


def pool_of(conn: Connection, service_sid: str) -> list[PoolSender]:
    """Every sender in the service's pool, oldest first."""
    table = service_senders
    query = (
        select(table)
        .where(table.c.service_sid == service_sid)
        .order_by(table.c.date_created, table.c.sid)
    )
    return [_pool_sender(row) for row in conn.execute(query)]


def _member_of(conn: Connection, sid: str) -> str | None:
    found: str | None = conn.execute(
        select(service_senders.c.service_sid).where(service_senders.c.sid == sid)
    ).scalar()
    return found


def _pool_size(conn: Connection, service_sid: str) -> int:
    count: int = conn.execute(
        select(func.count())
        .select_from(service_senders)
        .where(service_senders.c.service_sid == service_sid, service_senders.c.kind.in_(_COUNTED))
    ).scalar_one()
    return count


def _insert(conn: Connection, sender: PoolSender) -> bool:
    """Insert the pool row; False when the table refuses it as a duplicate."""
    values = asdict(sender)
    values.update(kind=sender.kind.value, registered_in=join_countries(sender.registered_in))
    try:
        with conn.begin_nested():
            conn.execute(insert(service_senders).values(**values))
    except IntegrityError:
        return False
    return True


def add_sender(conn: Connection, sender: PoolSender, *, can_send: bool = True) -> PoolSender:
    """Add a number or short code to its service's pool (whose row the caller has locked
    with `get_service(…, for_update=True)`); 21710, 21712, 21715 or 21714 if it may not."""

    def check() -> None:
        check_can_join(
            sender.service_sid,
            member_of=_member_of(conn, sender.sid),
            can_send=can_send,
            pool_size=_pool_size(conn, sender.service_sid),
        )

    check()
    if not _insert(conn, sender):  # another request added it since the check
        check()
        raise service_errors.SenderInAnotherService()
    return sender


def add_alpha_sender(conn: Connection, sender: PoolSender) -> PoolSender:
    """Add an alphanumeric sender ID to its service's pool; 21710 if it is there already."""
    table = service_senders
    existing = conn.execute(
        select(table.c.sid).where(
            table.c.service_sid == sender.service_sid,
            table.c.alpha_sender == sender.alpha_sender,
        )
    ).first()
    if existing is not None or not _insert(conn, sender):
        raise service_errors.SenderAlreadyInService(
            f"The alphanumeric sender ID {sender.alpha_sender!r} is already in this service."
        )
    return sender


# A pool row with what its subresource shows of the number or short code it names.
_MEMBERS = (
    select(
        service_senders,
        incoming_numbers.c.phone_number,
        incoming_numbers.c.country.label("number_country"),
        incoming_numbers.c.cap_sms.label("number_sms"),
        incoming_numbers.c.cap_mms.label("number_mms"),
        incoming_numbers.c.cap_voice.label("number_voice"),
        short_codes.c.short_code,
        short_codes.c.country.label("short_code_country"),
        short_codes.c.cap_sms.label("short_code_sms"),
        short_codes.c.cap_mms.label("short_code_mms"),
    )
    .outerjoin(incoming_numbers, incoming_numbers.c.sid == service_senders.c.sid)
    .outerjoin(short_codes, short_codes.c.sid == service_senders.c.sid)
)


def _member(row: Any) -> PoolMember:
    sender = _pool_sender(row)
    if sender.kind is PoolKind.PHONE_NUMBER:
        address, country = row.phone_number, row.number_country
        names = capability_names(sms=row.number_sms, mms=row.number_mms, voice=row.number_voice)
    elif sender.kind is PoolKind.SHORT_CODE:
        address, country = row.short_code, row.short_code_country
        names = capability_names(sms=row.short_code_sms, mms=row.short_code_mms)
    else:
        address, country, names = row.alpha_sender, "", ["SMS"]
    return PoolMember(sender=sender, address=address, country=country, capabilities=tuple(names))


def list_members(
    conn: Connection,
    account_sid: str,
    service_sid: str,
    kind: PoolKind,
    *,
    sid: str | None = None,
    limit: int = 1,
    offset: int = 0,
) -> list[PoolMember]:
    """The service's senders of one kind (or the one `sid`) with their numbers, oldest
    first; nothing for another account's service."""
    if not is_sid(service_sid, Prefix.SERVICE) or (
        sid is not None and not is_sid(sid, _PREFIXES[kind])
    ):
        return []
    table = service_senders
    query = _MEMBERS.where(
        table.c.account_sid == account_sid,
        table.c.service_sid == service_sid,
        table.c.kind == kind.value,
    )
    if sid is not None:
        query = query.where(table.c.sid == sid)
    query = query.order_by(table.c.date_created, table.c.sid).limit(limit).offset(offset)
    return [_member(row) for row in conn.execute(query)]


def get_member(
    conn: Connection, account_sid: str, service_sid: str, kind: PoolKind, sid: str
) -> PoolMember | None:
    found = list_members(conn, account_sid, service_sid, kind, sid=sid)
    return found[0] if found else None


def remove_sender(
    conn: Connection, account_sid: str, service_sid: str, kind: PoolKind, sid: str
) -> bool:
    """Take a sender out of the pool with its Sticky Sender mappings; False if absent."""
    if not is_sid(service_sid, Prefix.SERVICE) or not is_sid(sid, _PREFIXES[kind]):
        return False
    table = service_senders
    result = conn.execute(
        delete(table).where(
            table.c.sid == sid,
            table.c.account_sid == account_sid,
            table.c.service_sid == service_sid,
            table.c.kind == kind.value,
        )
    )
    if result.rowcount == 0:
        return False
    conn.execute(
        delete(sticky_mappings).where(
            sticky_mappings.c.service_sid == service_sid, sticky_mappings.c.sender_sid == sid
        )
    )
    return True
