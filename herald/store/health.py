"""What sender health reads and writes: each subject's state (a guarded change, so that of
two nodes judging at once one changes it), each node's tallies by time slice, and the
reports the API lists."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

import orjson
from sqlalchemy import delete, exists, select, update
from sqlalchemy.engine import Connection

from herald.domain.health import (
    Change,
    Health,
    Report,
    Slice,
    State,
    Subject,
    Tally,
    health_sid,
    merge,
)
from herald.store.health_schema import health_states, health_tallies
from herald.store.portable import in_chunks, insert_for

hs, ht = health_states.c, health_tallies.c


def save_tallies(
    conn: Connection,
    node: str,
    subjects: Sequence[Subject],
    tallies: Sequence[tuple[str, int, Tally]],
    now: int,
) -> None:
    """This node's whole tally of each (key, slice start), and a state row for every
    subject that has none yet (healthy)."""
    if subjects:
        rows = [
            {
                "key": s.key, "sid": health_sid(s.key), "kind": s.kind,
                "account_sid": s.account_sid, "address": s.address[:64],
                "resource_sid": s.resource_sid, "state": Health.HEALTHY.value, "changed_at": 0,
                "date_created": now, "date_updated": now,
            }
            for s in subjects
        ]  # fmt: skip
        for chunk in in_chunks(rows):
            conn.execute(insert_for(conn, health_states).on_conflict_do_nothing(), chunk)
    if tallies:
        stmt = insert_for(conn, health_tallies)
        stmt = stmt.on_conflict_do_update(
            index_elements=["key", "slice_start", "node"],
            set_={
                name: stmt.excluded[name]
                for name in ("delivered", "failed", "not_judged", "errors", "latency")
            },
        )
        rows = [
            {
                "key": key, "slice_start": start, "node": node, "delivered": t.delivered,
                "failed": t.failed, "not_judged": t.not_judged,
                "errors": orjson.dumps(t.errors).decode(),
                "latency": orjson.dumps(t.latency).decode(),
            }
            for key, start, t in tallies
        ]  # fmt: skip
        for chunk in in_chunks(rows):
            conn.execute(stmt, chunk)


def _tally(row: Any) -> Tally:
    return Tally(
        delivered=row.delivered,
        failed=row.failed,
        not_judged=row.not_judged,
        errors=tuple((int(code), int(n)) for code, n in orjson.loads(row.errors)),
        latency=tuple(int(n) for n in orjson.loads(row.latency)),
    )


def slices_of(conn: Connection, keys: Iterable[str], since: int) -> dict[str, list[Slice]]:
    """Every node's tallies of these keys from the slice starting at `since` on."""
    found: dict[str, list[Slice]] = defaultdict(list)
    for chunk in in_chunks(sorted(set(keys))):
        rows = conn.execute(
            select(health_tallies).where(ht.key.in_(chunk), ht.slice_start >= since)
        )
        for row in rows:
            found[row.key].append(Slice(row.slice_start, _tally(row)))
    return found


def _state(row: Any) -> State:
    return State(health=Health(row.state), changed_at=row.changed_at)


def states_of(conn: Connection, keys: Iterable[str]) -> dict[str, State]:
    found: dict[str, State] = {}
    for chunk in in_chunks(sorted(set(keys))):
        for row in conn.execute(select(hs.key, hs.state, hs.changed_at).where(hs.key.in_(chunk))):
            found[row.key] = _state(row)
    return found


def change_state(conn: Connection, key: str, old: State, change: Change, now: int) -> bool:
    """Move `key` from `old` to the changed state; False when another node moved it first."""
    new = change.state
    result = conn.execute(
        update(health_states)
        .where(hs.key == key, hs.state == old.health.value, hs.changed_at == old.changed_at)
        .values(state=new.health.value, changed_at=new.changed_at, date_updated=now)
    )
    return result.rowcount == 1


def impaired(conn: Connection) -> dict[str, tuple[str, str]]:
    """Every impaired subject's key, with its kind and address."""
    rows = conn.execute(
        select(hs.key, hs.kind, hs.address).where(hs.state == Health.IMPAIRED.value)
    ).all()
    return {row.key: (row.kind, row.address) for row in rows}


def forget(conn: Connection, before: int) -> None:
    """Tallies of slices that started before `before` (out of every window), and the
    healthy subjects left with none."""
    conn.execute(delete(health_tallies).where(ht.slice_start < before))
    conn.execute(
        delete(health_states).where(
            hs.state == Health.HEALTHY.value,
            ~exists().where(ht.key == hs.key),
        )
    )


# ---- reports (the API) ----------------------------------------------------------------


def _reports(conn: Connection, rows: Sequence[Any], since: int) -> list[Report]:
    window = slices_of(conn, [row.key for row in rows], since)
    return [
        Report(
            sid=row.sid,
            subject=Subject(
                key=row.key, kind=row.kind, address=row.address, account_sid=row.account_sid,
                resource_sid=row.resource_sid,
            ),
            state=_state(row),
            window=merge(s.tally for s in window.get(row.key, [])),
        )
        for row in rows
    ]  # fmt: skip


def list_reports(
    conn: Connection, account_sid: str, *, since: int, limit: int, offset: int
) -> list[Report]:
    """The account's senders with outcomes in the window, or impaired, by address."""
    rows = conn.execute(
        select(health_states)
        .where(hs.account_sid == account_sid)
        .order_by(hs.address, hs.key)
        .limit(limit)
        .offset(offset)
    ).all()
    return _reports(conn, rows, since)


def get_report(conn: Connection, account_sid: str, ident: str, *, since: int) -> Report | None:
    """One of the account's senders, by its health SID, its own SID or its address."""
    rows = conn.execute(
        select(health_states)
        .where(
            hs.account_sid == account_sid,
            (hs.sid == ident) | (hs.resource_sid == ident) | (hs.address == ident),
        )
        .order_by(hs.key)
        .limit(1)
    ).all()
    found = _reports(conn, rows, since)
    return found[0] if found else None
