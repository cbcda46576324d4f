"""Statements compiled once per dialect and run on the driver's own cursor.

SQLAlchemy Core costs 50–150 µs per execution in parameter processing and result
set-up, which is most of the work on the accept hot path; these statements keep
Core's portable SQL (and its transaction) but skip that per-call work. Values go to
the driver as they are, so they must already be what the driver takes (str, int, bool).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, cast

from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.compiler import SQLCompiler


class RawStatement:
    def __init__(self, statement: ClauseElement) -> None:
        self._statement = statement
        self._compiled: dict[str, tuple[str, tuple[str, ...] | None]] = {}

    def _for(self, dialect: Dialect) -> tuple[str, tuple[str, ...] | None]:
        found = self._compiled.get(dialect.name)
        if found is None:
            compiled = cast(SQLCompiler, self._statement.compile(dialect=dialect))
            order = tuple(compiled.positiontup or ()) if compiled.positional else None
            found = (compiled.string, order)
            self._compiled[dialect.name] = found
        return found

    def _args(self, order: tuple[str, ...] | None, params: Mapping[str, Any]) -> Any:
        return tuple(params[name] for name in order) if order is not None else params

    def fetch(self, conn: Connection, params: Mapping[str, Any]) -> list[tuple[Any, ...]]:
        sql, order = self._for(conn.dialect)
        cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        try:
            cursor.execute(sql, self._args(order, params))
            return list(cursor.fetchall())
        finally:
            cursor.close()

    def run_many(self, conn: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
        sql, order = self._for(conn.dialect)
        cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        try:
            cursor.executemany(sql, [self._args(order, row) for row in rows])
        finally:
            cursor.close()
