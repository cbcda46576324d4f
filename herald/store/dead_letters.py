"""Dead letters: status callbacks that failed every attempt, kept in the outbox (state
`dead`) so that nothing a receiver should have heard is lost silently; listed per account
and made pending again by hand once the receiver is fixed."""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.engine import Connection

from herald.domain.callbacks import Callback, CallbackState, callback_moves_from
from herald.store.callbacks import DEAD, PENDING, callback_of
from herald.store.schema import callbacks

# Retry.json moves a callback to pending from these states, and only these.
_RETRIED_FROM = sorted(
    s.value for s in callback_moves_from(CallbackState.PENDING, excluding=CallbackState.PENDING)
)


def get_callback(conn: Connection, account_sid: str, callback_id: int) -> Callback | None:
    row = conn.execute(
        select(callbacks).where(
            callbacks.c.id == callback_id, callbacks.c.account_sid == account_sid
        )
    ).first()
    return callback_of(row) if row else None


def list_dead(conn: Connection, account_sid: str, limit: int, offset: int) -> list[Callback]:
    """The account's dead letters, newest first."""
    rows = conn.execute(
        select(callbacks)
        .where(callbacks.c.account_sid == account_sid, callbacks.c.state == DEAD)
        .order_by(callbacks.c.id.desc())
        .limit(limit)
        .offset(offset)
    )
    return [callback_of(row) for row in rows]


def requeue(conn: Connection, account_sid: str, callback_id: int, now: int) -> bool:
    """Make a dead letter pending again, due now, with its attempts reset."""
    result = conn.execute(
        update(callbacks)
        .where(
            callbacks.c.id == callback_id,
            callbacks.c.account_sid == account_sid,
            callbacks.c.state.in_(_RETRIED_FROM),
        )
        .values(state=PENDING, attempts=0, next_attempt_at=now, date_updated=now)
    )
    return result.rowcount > 0
