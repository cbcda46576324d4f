"""The alerts the console lists, filtered as Twilio's console filters them (log level,
error code, resource, dates): the REST list (`/v1/Alerts`) takes no filters, so the
console reads the table here, always within one account, newest first."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.engine import Connection

from herald.domain.alerts import Alert
from herald.store.schema import alerts

a = alerts.c


@dataclass(frozen=True, slots=True, kw_only=True)
class AlertFilter:
    log_level: str | None = None
    codes: tuple[int, int] | None = None  # the first and last error code, inclusive
    resource_sid: str | None = None
    created_from: int | None = None  # inclusive, microseconds
    created_before: int | None = None  # exclusive


def find_alerts(
    conn: Connection, account_sid: str, where: AlertFilter, *, limit: int, offset: int
) -> list[Alert]:
    query = select(alerts).where(a.account_sid == account_sid)
    if where.log_level is not None:
        query = query.where(a.log_level == where.log_level)
    if where.codes is not None:
        query = query.where(a.error_code.between(*where.codes))
    if where.resource_sid is not None:
        query = query.where(a.resource_sid == where.resource_sid)
    if where.created_from is not None:
        query = query.where(a.date_created >= where.created_from)
    if where.created_before is not None:
        query = query.where(a.date_created < where.created_before)
    query = query.order_by(a.date_created.desc(), a.sid).limit(limit).offset(offset)
    return [Alert(**row._mapping) for row in conn.execute(query)]
