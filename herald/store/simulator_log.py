"""The carrier simulator's own durable log of the submissions it took or refused.

It is the carrier's record, apart from Herald's messages: tests read it to count resends
the simulator caught (`duplicate`) and to check that no sender exceeded its rate, and the
simulator reloads recent references from it so that a resend after a restart is known.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, bindparam, func, insert, select
from sqlalchemy.engine import Connection

from herald.store.portable import in_chunks
from herald.store.raw import RawStatement
from herald.store.schema import simulator_submissions as table

_COLUMNS = [c for c in table.c if c.name != "id"]
_INSERT = RawStatement(insert(table).values({c.name: bindparam(c.name) for c in _COLUMNS}))


@dataclass(frozen=True, slots=True, kw_only=True)
class LoggedSubmission:
    reference: str
    message_sid: str
    part: int
    parts: int
    sender: str
    recipient: str
    carrier: str
    outcome: str  # network.Outcome value
    error_code: int | None
    duplicate: bool
    received_at: int  # microseconds


def _row(entry: LoggedSubmission) -> dict[str, Any]:
    return {
        "reference": entry.reference,
        "message_sid": entry.message_sid,
        "part": entry.part,
        "parts": entry.parts,
        "sender": entry.sender,
        "recipient": entry.recipient,
        "carrier": entry.carrier,
        "outcome": entry.outcome,
        "error_code": entry.error_code,
        "duplicate": entry.duplicate,
        "received_at": entry.received_at,
    }


def record_submissions(conn: Connection, entries: Sequence[LoggedSubmission]) -> None:
    """Insert a batch in one statement execution (the hot path: raw driver cursor)."""
    _INSERT.run_many(conn, [_row(entry) for entry in entries])


def known_references(conn: Connection, references: Sequence[str]) -> set[str]:
    """Which of these references the simulator has logged (taken or refused)."""
    found: set[str] = set()
    for chunk in in_chunks(references):
        rows = conn.execute(select(table.c.reference).where(table.c.reference.in_(chunk)))
        found.update(row.reference for row in rows)
    return found


def load_references(conn: Connection, *, since_us: int) -> list[str]:
    rows = conn.execute(select(table.c.reference).where(table.c.received_at >= since_us))
    return [row.reference for row in rows]


def _filtered(
    query: Select[Any], sender: str | None, message_sid: str | None, duplicate: bool | None
) -> Select[Any]:
    if sender is not None:
        query = query.where(table.c.sender == sender)
    if message_sid is not None:
        query = query.where(table.c.message_sid == message_sid)
    if duplicate is not None:
        query = query.where(table.c.duplicate == duplicate)
    return query


def count_submissions(
    conn: Connection,
    *,
    sender: str | None = None,
    message_sid: str | None = None,
    duplicate: bool | None = None,
) -> int:
    query = _filtered(select(func.count()).select_from(table), sender, message_sid, duplicate)
    return int(conn.execute(query).scalar_one())


def count_duplicates(conn: Connection) -> int:
    """Resends the simulator recognised by their reference: each one a handset spared."""
    return count_submissions(conn, duplicate=True)


def list_submissions(
    conn: Connection,
    *,
    sender: str | None = None,
    message_sid: str | None = None,
    duplicate: bool | None = None,
) -> list[LoggedSubmission]:
    """Submissions in the order received."""
    query = _filtered(select(*_COLUMNS), sender, message_sid, duplicate).order_by(table.c.id)
    return [
        LoggedSubmission(**{**row._asdict(), "duplicate": bool(row.duplicate)})
        for row in conn.execute(query)
    ]


def busiest_second(conn: Connection, *, sender: str) -> int:
    """The most submissions (resends included) from `sender` in any one-second window."""
    query = (
        select(table.c.received_at).where(table.c.sender == sender).order_by(table.c.received_at)
    )
    window: deque[int] = deque()
    busiest = 0
    for (received_at,) in conn.execute(query):
        window.append(received_at)
        while window[0] <= received_at - 1_000_000:
            window.popleft()
        busiest = max(busiest, len(window))
    return busiest
