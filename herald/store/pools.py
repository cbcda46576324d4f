"""What the console shows of an account's sender pools that the REST API does not: how
many senders each service holds, and which numbers and short codes are in no service yet,
the only ones a pool can take (21710, 21712). Always within one account."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from sqlalchemy import Table, func, select
from sqlalchemy.engine import Connection

from herald.store.schema import incoming_numbers, service_senders, short_codes


@dataclass(frozen=True, slots=True, kw_only=True)
class Unpooled:
    """A number (PN…) or short code (SC…) of the account that no service holds."""

    sid: str
    address: str
    friendly_name: str
    can_send: bool  # SMS-capable: a pool refuses one that is not (21715)


def pool_sizes(conn: Connection, account_sid: str, service_sids: Collection[str]) -> dict[str, int]:
    """The number of senders (of every kind) in each of the account's `service_sids`."""
    if not service_sids:
        return {}
    table = service_senders
    query = (
        select(table.c.service_sid, func.count())
        .where(table.c.account_sid == account_sid, table.c.service_sid.in_(list(service_sids)))
        .group_by(table.c.service_sid)
    )
    return {sid: count for sid, count in conn.execute(query)}


def _unpooled(
    conn: Connection, table: Table, address: str, account_sid: str, limit: int
) -> list[Unpooled]:
    pooled = select(service_senders.c.sid).where(service_senders.c.sid == table.c.sid)
    query = (
        select(table.c.sid, table.c[address], table.c.friendly_name, table.c.cap_sms)
        .where(table.c.account_sid == account_sid, ~pooled.exists())
        .order_by(table.c[address], table.c.sid)
        .limit(limit)
    )
    return [
        Unpooled(sid=sid, address=value, friendly_name=name, can_send=bool(sms))
        for sid, value, name, sms in conn.execute(query)
    ]


def unpooled_numbers(conn: Connection, account_sid: str, *, limit: int) -> list[Unpooled]:
    """The account's phone numbers in no service, by number."""
    return _unpooled(conn, incoming_numbers, "phone_number", account_sid, limit)


def unpooled_short_codes(conn: Connection, account_sid: str, *, limit: int) -> list[Unpooled]:
    """The account's short codes in no service, by code."""
    return _unpooled(conn, short_codes, "short_code", account_sid, limit)
