"""The status-callback outbox: callbacks are written in the same transaction as the
status change they report, then claimed, attempted and marked by the delivery loop.

A message's callbacks go out in `sequence` order: only a message's lowest pending
callback is ever claimed, so callback n+1 waits until n is delivered or dead. A claimed
callback comes with its account's auth token as it is now, so a changed token signs the
next callback claimed (nothing caches it). Claiming
leases a callback (moves `next_attempt_at` past the request's time limit); on PostgreSQL
the claim locks with SKIP LOCKED, so two processes never both take one, and a crashed
process's lease simply runs out.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import orjson
from sqlalchemy import (
    ColumnElement,
    FromClause,
    Select,
    bindparam,
    delete,
    func,
    insert,
    literal_column,
    null,
    or_,
    select,
    update,
)
from sqlalchemy.engine import Connection
from sqlalchemy.orm import aliased

from herald.domain.attempts import entry as attempt_entry
from herald.domain.callbacks import Attempt, Callback, CallbackState, origin_of
from herald.store.raw import RawStatement
from herald.store.schema import accounts, callbacks, messages

PENDING = CallbackState.PENDING.value
DEAD = CallbackState.DEAD.value
DELIVERED = CallbackState.DELIVERED.value
_PENDING_SQL: ColumnElement[str] = literal_column(f"'{PENDING}'")
# An attempt is recorded only on a pending callback: the one state an attempt leaves
# (domain/callbacks.py: CALLBACK_TRANSITIONS).
_IS_PENDING = callbacks.c.state == _PENDING_SQL


def _still_pending(table: FromClause) -> ColumnElement[bool]:
    """`state || '' = 'pending'`: a filter on rows found by another index. Written so that
    PostgreSQL, before it has statistics, never intersects the whole state index instead."""
    return table.c.state.concat(literal_column("''")) == _PENDING_SQL


# Positions in a claimed row: all the columns, then the message's head, then the token.
_SEQUENCE, _URL = 3, 4
_HEAD = len(callbacks.c)
_TOKEN = _HEAD + 1

_UNSET = ("id", "last_error", "last_status_code", "leased_by", "history")
_RECORD = RawStatement(
    update(callbacks)
    .where(callbacks.c.id == bindparam("cid"), _IS_PENDING)
    .values(
        state=bindparam("state"),
        attempts=callbacks.c.attempts + literal_column("1"),
        next_attempt_at=bindparam("next_attempt_at"),
        last_error=bindparam("error"),
        last_status_code=bindparam("status_code"),
        history=callbacks.c.history.concat(bindparam("entry")),
        date_updated=bindparam("now"),
        leased_by=null(),
    )
)
# A message's later callbacks are never attempted before this one is done, so their
# `next_attempt_at` only says when to look at them again: when this one is retried
# (not before), or now that it is delivered or dead.
_MOVE_SUCCESSORS = RawStatement(
    update(callbacks)
    .where(
        callbacks.c.message_sid == bindparam("message_sid"),
        callbacks.c.sequence > bindparam("sequence"),
        _still_pending(callbacks),
    )
    .values(next_attempt_at=bindparam("next_attempt_at"))
)


def callback_of(row: Sequence[Any], auth_token: str | None = None) -> Callback:
    """A callback from a row of all its columns, in table order."""
    (id_, account_sid, message_sid, sequence, url, method, params, *rest) = row
    (event_time, state, attempts, next_attempt_at, error, status_code, created, updated) = rest[:8]
    return Callback(
        id=int(id_),
        account_sid=account_sid,
        message_sid=message_sid,
        sequence=sequence,
        url=url,
        method=method,
        params=tuple((name, value) for name, value in orjson.loads(params)),
        event_time=event_time,
        state=CallbackState(state),
        attempts=attempts,
        next_attempt_at=next_attempt_at,
        last_error=error,
        last_status_code=status_code,
        date_created=created,
        date_updated=updated,
        auth_token=auth_token,
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class NewCallback:
    """A callback owed by a status change, before it has an id and a sequence."""

    account_sid: str
    message_sid: str
    url: str
    method: str
    params: Sequence[tuple[str, str]]
    event_time: int


# Sequences come from the message's counter: each message's counter moves by its number
# of new callbacks, then each callback takes its place below the new value.
_BUMP = RawStatement(
    update(messages)
    .where(messages.c.sid == bindparam("sid"))
    .values(callback_sequence=messages.c.callback_sequence + bindparam("n"))
)
_NUMBERED = (
    select(messages.c.callback_sequence - bindparam("back"))
    .where(messages.c.sid == bindparam("message_sid"))
    .scalar_subquery()
)
_INSERT_NEXT = RawStatement(
    insert(callbacks).values(
        {
            c.name: _NUMBERED if c.name == "sequence" else bindparam(c.name)
            for c in callbacks.c
            if c.name not in _UNSET
        }
    )
)


def enqueue_many(conn: Connection, owed: Sequence[NewCallback], now: int) -> None:
    """Add pending callbacks, due at once, numbered in the order given per message; call
    inside the status changes' transaction. Two statements however many there are."""
    if not owed:
        return
    counts = Counter(c.message_sid for c in owed)
    bumped = _BUMP.run_many(conn, [{"sid": sid, "n": n} for sid, n in counts.items()])
    if bumped != len(counts):
        raise LookupError("a callback is owed for a message that does not exist")
    rows = []
    for c in owed:
        counts[c.message_sid] -= 1
        rows.append(
            {
                "account_sid": c.account_sid,
                "message_sid": c.message_sid,
                "back": counts[c.message_sid],
                "url": c.url,
                "method": c.method,
                "params": orjson.dumps(c.params).decode(),
                "event_time": c.event_time,
                "state": PENDING,
                "attempts": 0,
                "next_attempt_at": now,
                "date_created": now,
                "date_updated": now,
            }
        )
    _INSERT_NEXT.run_many(conn, rows)


def _at_origin(origin: str) -> ColumnElement[bool]:
    prefix = func.substr(callbacks.c.url, 1, len(origin) + 1)
    return or_(callbacks.c.url == origin, prefix.in_([origin + c for c in "/?#"]))


def _due(full: Iterable[str] = ()) -> Select[Any]:
    """Due callbacks, oldest due first, not at `full` origins, each with its message's
    lowest pending sequence and its account's auth token (computed only for the rows
    returned). PostgreSQL locks them, skipping rows another process is claiming."""
    earlier = aliased(callbacks)
    head = (
        select(earlier.c.sequence)
        .where(earlier.c.message_sid == callbacks.c.message_sid, _still_pending(earlier))
        .order_by(earlier.c.sequence)
        .limit(1)
        .scalar_subquery()
    )
    token = (
        select(accounts.c.auth_token)
        .where(accounts.c.sid == callbacks.c.account_sid)
        .scalar_subquery()
    )
    query = select(*callbacks.c, head, token).where(
        _IS_PENDING, callbacks.c.next_attempt_at <= bindparam("now")
    )
    for origin in full:
        query = query.where(~_at_origin(origin))
    # Ordered by the index alone: ties (one group commit's callbacks share a time) in
    # any order, so PostgreSQL need not sort a backlog that shares one `next_attempt_at`.
    return (
        query.order_by(callbacks.c.next_attempt_at)
        .limit(bindparam("limit"))
        .with_for_update(skip_locked=True, of=callbacks)
    )


_DUE = RawStatement(_due())
_EARLIER = aliased(callbacks)
# Parked only while an earlier one is still pending: on PostgreSQL another node may have
# finished it (and made this one due) since the claim read them.
_DEFER = RawStatement(
    update(callbacks)
    .where(
        callbacks.c.id == bindparam("cid"),
        _IS_PENDING,
        select(_EARLIER.c.id)
        .where(
            _EARLIER.c.message_sid == callbacks.c.message_sid,
            _EARLIER.c.sequence < callbacks.c.sequence,
            _still_pending(_EARLIER),
        )
        .exists(),
    )
    .values(next_attempt_at=bindparam("until"))
)
_LEASE = RawStatement(
    update(callbacks)
    .where(callbacks.c.id == bindparam("cid"), _IS_PENDING)
    .values(next_attempt_at=bindparam("until"), leased_by=bindparam("node"))
)


def _pick(
    rows: Sequence[Sequence[Any]], limit: int, busy: Mapping[str, int], per_origin: int | None
) -> list[Sequence[Any]]:
    if per_origin is None:
        return list(rows[:limit])
    taken = dict(busy)
    chosen: list[Sequence[Any]] = []
    for row in rows:
        origin = origin_of(row[_URL])
        if len(chosen) < limit and taken.get(origin, 0) < per_origin:
            taken[origin] = taken.get(origin, 0) + 1
            chosen.append(row)
    return chosen


def claim_due(
    conn: Connection,
    now: int,
    limit: int,
    *,
    lease_until: int | None = None,
    lease_owner: str | None = None,
    busy: Mapping[str, int] | None = None,
    per_origin: int | None = None,
) -> list[Callback]:
    """Up to `limit` due callbacks, each its message's lowest pending one, oldest due
    first; with `per_origin`, at most that many per origin counting `busy` (requests
    already in flight there).

    With `lease_until`, the callbacks returned are leased until then, and due ones found
    waiting behind an earlier callback are parked until then too (`record` makes them
    due again when the earlier one is done), so they never crowd the front of the queue.
    An origin with some room left may fill fewer slots than are free; once full it is
    excluded in SQL, so other origins are never starved."""
    busy = busy or {}
    full = [o for o, n in busy.items() if per_origin is not None and n >= per_origin]
    params = {"now": now, "limit": limit}
    if full:
        rows = [tuple(r) for r in conn.execute(_due(full), params)]
    else:
        rows = _DUE.fetch(conn, params)
    heads = [row for row in rows if row[_SEQUENCE] == row[_HEAD]]
    chosen = _pick(heads, limit, busy, per_origin)
    if lease_until is not None:
        parked = [{"cid": r[0], "until": lease_until} for r in rows if r[_SEQUENCE] != r[_HEAD]]
        if parked:
            _DEFER.run_many(conn, parked)
        if chosen:
            leased = [{"cid": r[0], "until": lease_until, "node": lease_owner} for r in chosen]
            _LEASE.run_many(conn, leased)
    return [callback_of(row[:_HEAD], row[_TOKEN]) for row in chosen]


def record(conn: Connection, attempts: Sequence[Attempt], now: int) -> None:
    """Store the outcomes of attempts, and when each message's next callback is due."""
    if not attempts:
        return
    _RECORD.run_many(
        conn,
        [
            {
                "cid": a.callback.id,
                "state": a.state.value,
                "next_attempt_at": a.next_attempt_at,
                "error": a.error,
                "status_code": a.status_code,
                "entry": attempt_entry(now, a.status_code, a.error),
                "now": now,
            }
            for a in attempts
        ],
    )
    _MOVE_SUCCESSORS.run_many(
        conn,
        [
            {
                "message_sid": a.callback.message_sid,
                "sequence": a.callback.sequence,
                "next_attempt_at": a.next_attempt_at,
            }
            for a in attempts
        ],
    )


def release(conn: Connection, ids: Sequence[int], now: int) -> None:
    """Give back leased callbacks unattempted (shutdown): due now, attempts unchanged."""
    if ids:
        conn.execute(
            update(callbacks)
            .where(callbacks.c.id.in_(list(ids)), callbacks.c.state == PENDING)
            .values(next_attempt_at=now, leased_by=None)
        )


def release_leases_of_others(conn: Connection, node: str, now: int) -> int:
    """Make every callback leased by another node due now: for a database only this
    process uses (SQLite), where any such lease is a crashed run's."""
    result = conn.execute(
        update(callbacks)
        .where(
            callbacks.c.leased_by.is_not(None),
            callbacks.c.leased_by != node,
            callbacks.c.state == PENDING,
        )
        .values(next_attempt_at=now, leased_by=None)
    )
    return int(result.rowcount)


def mark_delivered(conn: Connection, callback: Callback, now: int, status_code: int) -> None:
    done = CallbackState.DELIVERED
    attempt = Attempt(callback=callback, state=done, next_attempt_at=now, status_code=status_code)
    record(conn, [attempt], now)


def mark_retry(
    conn: Connection,
    callback: Callback,
    next_attempt_at: int,
    error: str | None,
    status_code: int | None,
    now: int,
) -> None:
    retry = Attempt(callback=callback, state=CallbackState.PENDING, next_attempt_at=next_attempt_at)
    record(conn, [replace(retry, error=error, status_code=status_code)], now)


def mark_dead(
    conn: Connection, callback: Callback, error: str | None, status_code: int | None, now: int
) -> None:
    state = CallbackState.DEAD
    attempt = Attempt(
        callback=callback, state=state, next_attempt_at=now, error=error, status_code=status_code
    )
    record(conn, [attempt], now)


def count_by_state(conn: Connection) -> dict[str, int]:
    """How many callbacks are pending, delivered and dead (every state present)."""
    rows = conn.execute(select(callbacks.c.state, func.count()).group_by(callbacks.c.state)).all()
    counts = {state.value: 0 for state in CallbackState}
    counts.update({row[0]: int(row[1]) for row in rows})
    return counts


def purge_delivered(conn: Connection, before: int, limit: int = 10_000) -> int:
    """Delete up to `limit` callbacks delivered before `before`; the outbox stays small.
    (A delivered callback's `next_attempt_at` is when it was delivered: it is indexed.)"""
    doomed = (
        select(callbacks.c.id)
        .where(callbacks.c.state == DELIVERED, callbacks.c.next_attempt_at < before)
        .limit(limit)
        .scalar_subquery()
    )
    result = conn.execute(delete(callbacks).where(callbacks.c.id.in_(doomed)))
    return int(result.rowcount)
