"""Sender leases: which node dispatches each sender's queue. A lease is taken when it is
free, ours or expired, locking its row with `FOR UPDATE SKIP LOCKED` so that two nodes
never both take one (a row another node is taking is simply skipped); it is renewed by its
owner and, if the owner dies, taken over once `expires_at` has passed.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import and_, delete, func, or_, select, update
from sqlalchemy.engine import Connection

from herald.store.portable import in_chunks, insert_for
from herald.store.schema import messages, nodes
from herald.store.schema import sender_leases as table

ALIVE_US = 10_000_000  # a node not heard from for this long no longer counts
FORGET_US = 3_600_000_000


def _ensure_rows(conn: Connection, keys: Sequence[str]) -> None:
    rows = [{"sender_key": key, "owner": None, "expires_at": 0} for key in keys]
    conn.execute(insert_for(conn, table).values(rows).on_conflict_do_nothing())


def heartbeat(conn: Connection, node: str, now: int) -> int:
    """Say this node is alive; the number of nodes alive (heard from within `ALIVE_US`),
    this one included."""
    statement = insert_for(conn, nodes).values(node_id=node, started_at=now, heartbeat_at=now)
    conn.execute(
        statement.on_conflict_do_update(index_elements=["node_id"], set_={"heartbeat_at": now})
    )
    conn.execute(delete(nodes).where(nodes.c.heartbeat_at < now - FORGET_US))
    alive = select(func.count()).select_from(nodes).where(nodes.c.heartbeat_at >= now - ALIVE_US)
    return int(conn.execute(alive).scalar_one())


def leave(conn: Connection, node: str) -> None:
    conn.execute(delete(nodes).where(nodes.c.node_id == node))


def acquire(
    conn: Connection,
    keys: Sequence[str],
    node: str,
    now: int,
    until: int,
    limit: int | None = None,
) -> list[tuple[str, str | None]]:
    """Take (at most `limit` of) the leases on `keys` that are free, expired or already
    ours, until `until`: each taken key with its previous owner (None if it had none or
    it was ours)."""
    if not keys or limit == 0:
        return []
    _ensure_rows(conn, keys)
    free = or_(table.c.owner.is_(None), table.c.owner == node, table.c.expires_at < now)
    query = (
        select(table.c.sender_key, table.c.owner)
        .where(table.c.sender_key.in_(list(keys)), free)
        .order_by(table.c.sender_key)
        .with_for_update(skip_locked=True)
    )
    rows = conn.execute(query if limit is None else query.limit(limit)).all()
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
    """Give up all our leases now (graceful shutdown): free for the next node at once,
    which sees they were ours (receipts we were owed may have died with us)."""
    result = conn.execute(update(table).where(table.c.owner == node).values(expires_at=now))
    return int(result.rowcount)


def hand_back(conn: Connection, keys: Sequence[str], node: str) -> None:
    """Give up leases on idle senders (nothing queued or in flight) to rebalance."""
    if keys:
        mine = and_(table.c.sender_key.in_(list(keys)), table.c.owner == node)
        conn.execute(update(table).where(mine).values(owner=None, expires_at=0))


def held_count(conn: Connection, now: int) -> int:
    """Leases held by some node and not expired."""
    held = and_(table.c.owner.is_not(None), table.c.expires_at >= now)
    return int(conn.execute(select(func.count()).select_from(table).where(held)).scalar_one())


def orphaned_keys(conn: Connection, now: int, sent_since: int) -> list[str]:
    """Senders whose work nobody is doing: messages left `sending` under a lease that is
    free or expired, or `sent` (a receipt owed) under a lease whose owner let it expire
    (it died). Taking them over reconciles those messages. The leases are read first, so
    the messages table is only searched (by its status index) for those few senders."""
    rows = conn.execute(
        select(table.c.sender_key, table.c.owner).where(
            or_(table.c.owner.is_(None), table.c.expires_at < now)
        )
    ).all()
    free = [row[0] for row in rows]
    dead = [row[0] for row in rows if row[1] is not None]
    found: set[str] = set()
    for keys, status, extra in (
        (free, "sending", None),
        (dead, "sent", messages.c.date_sent >= sent_since),
    ):
        for chunk in in_chunks(keys):
            query = (
                select(messages.c.sender_sid)
                .distinct()
                .where(messages.c.status == status, messages.c.sender_sid.in_(chunk))
            )
            if extra is not None:
                query = query.where(extra)
            found.update(row[0] for row in conn.execute(query))
    return sorted(found)
