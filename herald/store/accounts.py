"""Accounts and API keys in the database."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.engine import Connection

from herald.domain.accounts import Account, ApiKey
from herald.store.schema import accounts, api_keys


def _account(row: Any) -> Account:
    return Account(
        sid=row.sid,
        friendly_name=row.friendly_name,
        auth_token=row.auth_token,
        status=row.status,
        is_test=bool(row.is_test),
        date_created=row.date_created,
        date_updated=row.date_updated,
        secondary_auth_token=row.secondary_auth_token,
        secondary_date_created=row.secondary_date_created,
    )


def _key(row: Any) -> ApiKey:
    return ApiKey(
        sid=row.sid,
        account_sid=row.account_sid,
        friendly_name=row.friendly_name,
        secret_hash=row.secret_hash,
        date_created=row.date_created,
        date_updated=row.date_updated,
    )


def insert_account(conn: Connection, account: Account) -> Account:
    conn.execute(
        insert(accounts).values(
            sid=account.sid,
            friendly_name=account.friendly_name,
            auth_token=account.auth_token,
            status=account.status,
            is_test=account.is_test,
            date_created=account.date_created,
            date_updated=account.date_updated,
        )
    )
    return account


def get_account(conn: Connection, sid: str) -> Account | None:
    row = conn.execute(select(accounts).where(accounts.c.sid == sid)).first()
    return _account(row) if row else None


def list_accounts(conn: Connection) -> list[Account]:
    rows = conn.execute(select(accounts).order_by(accounts.c.date_created, accounts.c.sid))
    return [_account(row) for row in rows]


def create_secondary_token(conn: Connection, sid: str, token: str, now: int) -> Account | None:
    """Give the account a secondary token (replacing any it had); None when no account."""
    conn.execute(
        update(accounts)
        .where(accounts.c.sid == sid)
        .values(secondary_auth_token=token, secondary_date_created=now, date_updated=now)
    )
    return get_account(conn, sid)


def delete_secondary_token(conn: Connection, sid: str, now: int) -> bool:
    """Drop the account's secondary token; False when it had none."""
    result = conn.execute(
        update(accounts)
        .where(accounts.c.sid == sid, accounts.c.secondary_auth_token.is_not(None))
        .values(secondary_auth_token=None, secondary_date_created=None, date_updated=now)
    )
    return result.rowcount > 0


def promote_secondary_token(conn: Connection, sid: str, now: int) -> Account | None:
    """The secondary token becomes the only one (the primary stops working); None when
    the account has no secondary token."""
    result = conn.execute(
        update(accounts)
        .where(accounts.c.sid == sid, accounts.c.secondary_auth_token.is_not(None))
        .values(
            auth_token=accounts.c.secondary_auth_token,
            secondary_auth_token=None,
            secondary_date_created=None,
            date_updated=now,
        )
    )
    return get_account(conn, sid) if result.rowcount else None


def replace_auth_token(conn: Connection, sid: str, token: str, now: int) -> Account | None:
    """A new primary token at once; every earlier token, secondary included, stops working."""
    conn.execute(
        update(accounts)
        .where(accounts.c.sid == sid)
        .values(
            auth_token=token,
            secondary_auth_token=None,
            secondary_date_created=None,
            date_updated=now,
        )
    )
    return get_account(conn, sid)


def count_accounts(conn: Connection) -> int:
    return len(conn.execute(select(accounts.c.sid).limit(1)).all())


def insert_key(conn: Connection, key: ApiKey) -> ApiKey:
    conn.execute(
        insert(api_keys).values(
            sid=key.sid,
            account_sid=key.account_sid,
            friendly_name=key.friendly_name,
            secret_hash=key.secret_hash,
            date_created=key.date_created,
            date_updated=key.date_updated,
        )
    )
    return key


def get_key(conn: Connection, sid: str, account_sid: str | None = None) -> ApiKey | None:
    query = select(api_keys).where(api_keys.c.sid == sid)
    if account_sid is not None:
        query = query.where(api_keys.c.account_sid == account_sid)
    row = conn.execute(query).first()
    return _key(row) if row else None


def list_keys(conn: Connection, account_sid: str, *, limit: int, offset: int) -> list[ApiKey]:
    rows = conn.execute(
        select(api_keys)
        .where(api_keys.c.account_sid == account_sid)
        .order_by(api_keys.c.date_created.desc(), api_keys.c.sid)
        .limit(limit)
        .offset(offset)
    )
    return [_key(row) for row in rows]


def rename_key(conn: Connection, key: ApiKey, friendly_name: str, now: int) -> ApiKey:
    conn.execute(
        update(api_keys)
        .where(api_keys.c.sid == key.sid)
        .values(friendly_name=friendly_name, date_updated=now)
    )
    return ApiKey(
        sid=key.sid,
        account_sid=key.account_sid,
        friendly_name=friendly_name,
        secret_hash=key.secret_hash,
        date_created=key.date_created,
        date_updated=now,
    )


def delete_key(conn: Connection, account_sid: str, sid: str) -> bool:
    result = conn.execute(
        delete(api_keys).where(api_keys.c.sid == sid, api_keys.c.account_sid == account_sid)
    )
    return result.rowcount > 0
