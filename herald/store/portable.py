"""What the stores need to say differently, or carefully, for SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, TypeVar

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

T = TypeVar("T")
IN_CHUNK = 500  # values per `IN (…)`: well under SQLite's limit on bound parameters


def insert_for(conn: Connection, table: Table) -> Any:
    """An INSERT with the dialect's `on_conflict_do_nothing` / `on_conflict_do_update`."""
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    return dialect.insert(table)


def in_chunks(values: Sequence[T], size: int = IN_CHUNK) -> Iterator[list[T]]:
    """`values` in lists of at most `size`, for `column.in_(…)` one list at a time."""
    for start in range(0, len(values), size):
        yield list(values[start : start + size])
