"""The SMSC's ids of submitted segments (`smpp_submits`): written when its submit_sm_resp
arrives, read when a receipt names one, and when a crash left a message's segments in
doubt."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from herald.store.portable import in_chunks
from herald.store.schema import messages
from herald.store.smpp_schema import smpp_submits as table


@dataclass(frozen=True, slots=True, kw_only=True)
class SubmittedPart:
    connection: str
    message_id: str  # canonical
    message_sid: str
    part: int
    parts: int
    submitted_at: int


def record(conn: Connection, parts: Sequence[SubmittedPart]) -> None:
    """Insert, ignoring an id already recorded (a reconnect's resend the SMSC took again
    under the same id keeps the first row)."""
    if not parts:
        return
    rows = [
        {
            "connection": p.connection,
            "message_id": p.message_id,
            "message_sid": p.message_sid,
            "part": p.part,
            "parts": p.parts,
            "submitted_at": p.submitted_at,
        }
        for p in parts
    ]
    insert = (postgresql if conn.dialect.name == "postgresql" else sqlite).insert(table)
    conn.execute(insert.on_conflict_do_nothing(), rows)


def find(conn: Connection, connection: str, candidates: Sequence[str]) -> SubmittedPart | None:
    """The segment the SMSC knows by any of these forms of one id."""
    row = conn.execute(
        select(table)
        .where(table.c.connection == connection, table.c.message_id.in_(candidates))
        .limit(1)
    ).first()
    return SubmittedPart(**row._asdict()) if row is not None else None


def parts_of(conn: Connection, message_sids: Sequence[str]) -> dict[tuple[str, int], SubmittedPart]:
    """The segments of these messages the SMSC accepted, by (message SID, part)."""
    found: dict[tuple[str, int], SubmittedPart] = {}
    for chunk in in_chunks(message_sids):
        for row in conn.execute(select(table).where(table.c.message_sid.in_(chunk))):
            found[(row.message_sid, row.part)] = SubmittedPart(**row._asdict())
    return found


def purge(conn: Connection, *, before_us: int) -> int:
    """Forget ids older than any receipt still worth waiting for."""
    return conn.execute(delete(table).where(table.c.submitted_at < before_us)).rowcount or 0


def still_sending(conn: Connection, message_sids: Sequence[str]) -> set[str]:
    """Which of these messages are `sending`: their submit's outcome is what is in doubt
    (a `sent` one was answered in full before the node stopped)."""
    found: set[str] = set()
    for chunk in in_chunks(message_sids):
        rows = conn.execute(
            select(messages.c.sid).where(messages.c.sid.in_(chunk), messages.c.status == "sending")
        )
        found.update(row.sid for row in rows)
    return found
