"""The campaign database: SQLAlchemy Core over the tables in `schema.py`, synchronous
(callers in the event loop go through `asyncio.to_thread`). SQLite or PostgreSQL.

SQLite runs in WAL mode with `synchronous=NORMAL`: a commit survives the process being
killed (the case a resumable send is built for), at a fraction of a full sync's cost.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, bindparam, create_engine, event, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.sql.dml import Update
from sqlalchemy.sql.schema import Table

from herald.campaign import schema
from herald.campaign.schema import contacts, marks, replies, states, suppression

CHUNK = 500  # rows per statement when loading a plan
UNTRIED = ("pending", "invalid", "suppressed")


class CampaignDatabaseError(Exception):
    """The campaign database cannot be opened or used."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Contact:
    key: str
    phone: str
    body: str
    is_seed: bool
    state: str
    attempts: int
    attempted_us: int | None
    sent_us: int | None
    message_sid: str | None
    status: str | None
    error_code: int | None
    error_message: str | None
    is_retryable: bool
    is_final: bool
    updated_us: int


class CampaignStore:
    def __init__(self, url: str) -> None:
        try:
            self.engine: Engine = create_engine(url)
            if self.engine.dialect.name not in ("sqlite", "postgresql"):
                raise CampaignDatabaseError(
                    "sync.database_url: the campaign database is SQLite or PostgreSQL"
                )
            if self.engine.dialect.name == "sqlite":
                event.listen(self.engine, "connect", _sqlite_pragmas)
            schema.metadata.create_all(self.engine)
        except (SQLAlchemyError, ValueError) as exc:
            raise CampaignDatabaseError(f"sync.database_url: {type(exc).__name__}: {exc}") from None

    def close(self) -> None:
        self.engine.dispose()

    # ---- contacts -----------------------------------------------------------------------

    def plan(self, campaign: str, rows: Iterable[Mapping[str, Any]], now_us: int) -> int:
        """Each row (`contact_key`, `phone`, `body`, `is_seed`, `state`: `pending` or
        `invalid`) into the campaign: added if new, taken over by a contact nothing was
        sent to yet (the audience file was corrected); a contact already tried keeps what
        it has. Returns how many were added."""
        with self.engine.begin() as conn:
            query = select(contacts.c.contact_key, contacts.c.state, contacts.c.phone,
                           contacts.c.body).where(contacts.c.campaign == campaign)  # fmt: skip
            known = {row[0]: row[1:] for row in conn.execute(query)}
            fresh, changed = [], []
            for row in rows:
                found = known.get(row["contact_key"])
                if found is None:
                    fresh.append({**row, "campaign": campaign, "attempts": 0,
                                  "updated_us": now_us, "is_retryable": False,
                                  "is_final": False})  # fmt: skip
                elif found[0] in UNTRIED and tuple(found) != (
                    row["state"],
                    row["phone"],
                    row["body"],
                ):
                    changed.append(row)
            for start in range(0, len(fresh), CHUNK):
                conn.execute(contacts.insert(), fresh[start : start + CHUNK])
            for row in changed:
                conn.execute(
                    update(contacts)
                    .where(contacts.c.campaign == campaign,
                           contacts.c.contact_key == row["contact_key"])
                    .values(state=row["state"], phone=row["phone"], body=row["body"],
                            updated_us=now_us)
                )  # fmt: skip
        return len(fresh)

    def contacts(self, campaign: str) -> dict[str, Contact]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(contacts).where(contacts.c.campaign == campaign))
            return {row.contact_key: _contact(row) for row in rows}

    def set_state(self, campaign: str, keys: Sequence[str], state: str, now_us: int) -> None:
        values = {"state": state, "updated_us": now_us}
        with self.engine.begin() as conn:
            for start in range(0, len(keys), CHUNK):
                chunk = keys[start : start + CHUNK]
                conn.execute(
                    update(contacts)
                    .where(contacts.c.campaign == campaign, contacts.c.contact_key.in_(chunk))
                    .values(**values)
                )

    def apply(
        self, campaign: str, intents: Sequence[str], outcomes: Sequence[Mapping[str, Any]],
        first_states: Sequence[Mapping[str, Any]], now_us: int,
    ) -> None:  # fmt: skip
        """The send's group commit: intents (`sending`, one more attempt), outcomes onto
        their contacts, and each accepted message's first state, in one transaction."""
        with self.engine.begin() as conn:
            if intents:
                conn.execute(
                    update(contacts)
                    .where(contacts.c.campaign == campaign, contacts.c.contact_key.in_(intents))
                    .values(
                        state="sending",
                        attempts=contacts.c.attempts + 1,
                        attempted_us=now_us,
                        updated_us=now_us,
                    )
                )
            by_shape: dict[tuple[str, ...], list[dict[str, Any]]] = {}
            for outcome in outcomes:
                shape = tuple(sorted(k for k in outcome if k != "contact_key"))
                row = {**outcome, "b_campaign": campaign, "b_key": outcome["contact_key"]}
                by_shape.setdefault(shape, []).append(row)
            for shape, rows in by_shape.items():  # one statement, executed many times
                conn.execute(_update_of(shape), rows)
            if first_states:
                insert = (
                    sqlite.insert if self.engine.dialect.name == "sqlite" else postgresql.insert
                )
                conn.execute(insert(states).on_conflict_do_nothing(), list(first_states))

    def unfinished_summary(self, campaign: str) -> tuple[int, int | None]:
        """How many sent messages are unfinished, and the oldest one's creation time."""
        query = select(func.count(), func.min(contacts.c.sent_us)).where(
            contacts.c.campaign == campaign,
            contacts.c.message_sid.is_not(None),
            contacts.c.is_final.is_(False),
        )
        with self.engine.connect() as conn:
            count, oldest = conn.execute(query).one()
        return int(count), oldest

    def unfinished(self, campaign: str, after_key: str, limit: int) -> list[Contact]:
        """Sent messages whose status can still change, in key order after `after_key`."""
        query = (
            select(contacts)
            .where(
                contacts.c.campaign == campaign,
                contacts.c.message_sid.is_not(None),
                contacts.c.is_final.is_(False),
                contacts.c.contact_key > after_key,
            )
            .order_by(contacts.c.contact_key)
            .limit(limit)
        )
        with self.engine.connect() as conn:
            return [_contact(row) for row in conn.execute(query)]

    # ---- states, replies, suppression ---------------------------------------------------

    def add_states(self, rows: Sequence[Mapping[str, Any]]) -> int:
        """Insert the states not already there; returns how many were new."""
        return self._insert_new(states, rows)

    def add_replies(self, rows: Sequence[Mapping[str, Any]]) -> int:
        return self._insert_new(replies, rows)

    def add_suppression(self, rows: Sequence[Mapping[str, Any]]) -> int:
        return self._insert_new(suppression, rows)

    def replace_ledger(self, account_sid: str, rows: Sequence[Mapping[str, Any]]) -> None:
        """The target's opt-out ledger as it is now: what left it is sendable again."""
        where = and_(suppression.c.account_sid == account_sid, suppression.c.source == "ledger")
        with self.engine.begin() as conn:
            conn.execute(suppression.delete().where(where))
            for start in range(0, len(rows), CHUNK):
                conn.execute(suppression.insert(), list(rows[start : start + CHUNK]))

    def suppression_rows(self, account_sid: str) -> list[Any]:
        with self.engine.connect() as conn:
            query = select(suppression).where(suppression.c.account_sid == account_sid)
            return list(conn.execute(query))

    def _insert_new(self, table: Table, rows: Sequence[Mapping[str, Any]]) -> int:
        if not rows:
            return 0
        dialect = self.engine.dialect.name
        with self.engine.begin() as conn:
            before = conn.scalar(select(func.count()).select_from(table)) or 0
            for start in range(0, len(rows), CHUNK):
                chunk = list(rows[start : start + CHUNK])
                insert = sqlite.insert if dialect == "sqlite" else postgresql.insert
                conn.execute(insert(table).on_conflict_do_nothing(), chunk)
            after = conn.scalar(select(func.count()).select_from(table)) or 0
        return after - before

    # ---- marks and counts ---------------------------------------------------------------

    def mark(self, campaign: str, name: str) -> int | None:
        with self.engine.connect() as conn:
            where = and_(marks.c.campaign == campaign, marks.c.name == name)
            found: int | None = conn.scalar(select(marks.c.at_us).where(where))
            return found

    def set_mark(self, campaign: str, name: str, at_us: int) -> None:
        where = and_(marks.c.campaign == campaign, marks.c.name == name)
        with self.engine.begin() as conn:
            if conn.execute(update(marks).where(where).values(at_us=at_us)).rowcount == 0:
                conn.execute(marks.insert().values(campaign=campaign, name=name, at_us=at_us))

    def count_states(self, campaign: str) -> int:
        with self.engine.connect() as conn:
            query = select(func.count()).select_from(states).where(states.c.campaign == campaign)
            return int(conn.scalar(query) or 0)

    def status_counts(self, campaign: str) -> list[tuple[str, str | None, bool, int]]:
        """(send state, API status, has a message SID, contacts) for the campaign."""
        has_sid = contacts.c.message_sid.is_not(None)
        query = (
            select(contacts.c.state, contacts.c.status, has_sid, func.count())
            .where(contacts.c.campaign == campaign)
            .group_by(contacts.c.state, contacts.c.status, has_sid)
        )
        with self.engine.connect() as conn:
            return [(r[0], r[1], bool(r[2]), int(r[3])) for r in conn.execute(query)]

    def replies_of(self, campaign: str) -> list[Any]:
        with self.engine.connect() as conn:
            return list(conn.execute(select(replies).where(replies.c.campaign == campaign)))


@functools.lru_cache(maxsize=16)
def _update_of(columns: tuple[str, ...]) -> Update:
    """The update of these columns of one contact, built once: building a statement per
    row was most of a sync's CPU (bench/campaign.py)."""
    return (
        update(contacts)
        .where(contacts.c.campaign == bindparam("b_campaign"))
        .where(contacts.c.contact_key == bindparam("b_key"))
        .values({name: bindparam(name) for name in columns})
    )


def _contact(row: Any) -> Contact:
    return Contact(
        key=row.contact_key,
        phone=row.phone,
        body=row.body,
        is_seed=bool(row.is_seed),
        state=row.state,
        attempts=row.attempts,
        attempted_us=row.attempted_us,
        sent_us=row.sent_us,
        message_sid=row.message_sid,
        status=row.status,
        error_code=row.error_code,
        error_message=row.error_message,
        updated_us=row.updated_us,
        is_retryable=bool(row.is_retryable),
        is_final=bool(row.is_final),
    )


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()
