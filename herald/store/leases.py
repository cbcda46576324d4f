"""Sender leases: which node dispatches each sender's queue. A lease is taken when it is
free, ours or expired, locking its row with `FOR UPDATE SKIP LOCKED` so that two nodes
never both take one (a row another node is taking is simply skipped); it is renewed by its
owner and, if the owner dies, taken over once `expires_at` has passed.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import and_, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from herald.store.schema import sender_leases as table


def _ensure_rows(conn: Connection, keys: Sequence[str]) -> None:
    rows = [{"sender_key": key, "owner": None, "expires_at": 0} for key in keys]
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    conn.execute(dialect.insert(table).values(rows).on_conflict_do_nothing())


def acquire(
    conn: Connection, keys: Sequence[str], node: str, now: int, until: int
) -> list[tuple[str, str | None]]:
    """Take the leases on `keys` that are free, expired or already ours, until `until`:
    each taken key with its previous owner (None if it had none or it was ours)."""
    if not keys:
        return []
    _ensure_rows(conn, keys)
    free = or_(table.c.owner.is_(None), table.c.owner == node, table.c.expires_at < now)
    rows = conn.execute(
        select(table.c.sender_key, table.c.owner)
        .where(table.c.sender_key.in_(list(keys)), free)
        .with_for_update(skip_locked=True)
    ).all()
    taken = [row[0] for row in rows]
    if taken:
        conn.execute(
            update(table).where(table.c.sender_key.in_(taken)).values(owner=node, expires_at=until)
        )
    return [(row[0], row[1] if row[1] != node else None) for row in rows]


def renew(conn: Connection, keys: Sequence[str], node: str, until: int) -> set[str]:
    """Extend our leases on `keys`; the keys still ours (a lease we let expire may have been
    taken over meanwhile)."""
    if not keys:
        return set()
    mine = and_(table.c.sender_key.in_(list(keys)), table.c.owner == node)
    conn.execute(update(table).where(mine).values(expires_at=until))
    return {row[0] for row in conn.execute(select(table.c.sender_key).where(mine))}


def release(conn: Connection, node: str, now: int) -> int:
    """Give up all our leases now (graceful shutdown): free for the next node at once."""
    result = conn.execute(
        update(table).where(table.c.owner == node).values(owner=None, expires_at=now)
    )
    return int(result.rowcount)
