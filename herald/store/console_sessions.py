"""The console's sessions: created at sign-in, found by their cookie's hash, kept alive
by use up to their absolute end, and deleted at sign-out or when found expired."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import delete, select, update
from sqlalchemy.engine import Connection

from herald.store.console_schema import console_sessions as table


@dataclass(frozen=True, slots=True, kw_only=True)
class ConsoleSession:
    token_hash: str
    account_sid: str
    username: str
    secret_hash: str
    csrf: str
    created_at: int
    seen_at: int
    expires_at: int


def create(conn: Connection, session: ConsoleSession) -> None:
    conn.execute(table.insert().values(**_row(session)))


def find(conn: Connection, token_hash: str) -> ConsoleSession | None:
    row = conn.execute(select(table).where(table.c.token_hash == token_hash)).first()
    return None if row is None else ConsoleSession(**row._mapping)


def touch(conn: Connection, token_hash: str, seen_at: int) -> None:
    conn.execute(update(table).where(table.c.token_hash == token_hash).values(seen_at=seen_at))


def remove(conn: Connection, token_hash: str) -> None:
    conn.execute(delete(table).where(table.c.token_hash == token_hash))


def remove_expired(conn: Connection, now: int) -> int:
    return conn.execute(delete(table).where(table.c.expires_at <= now)).rowcount or 0


def _row(session: ConsoleSession) -> dict[str, object]:
    return {
        "token_hash": session.token_hash, "account_sid": session.account_sid,
        "username": session.username, "secret_hash": session.secret_hash,
        "csrf": session.csrf, "created_at": session.created_at, "seen_at": session.seen_at,
        "expires_at": session.expires_at,
    }  # fmt: skip
