"""Statements compiled once per dialect and run on the driver's own cursor.

SQLAlchemy Core costs 50–150 µs per execution in parameter processing and result
set-up, which is most of the work on the accept hot path; these statements keep
Core's portable SQL (and its transaction) but skip that per-call work. Values go to
the driver as they are, so they must already be what the driver takes (str, int, bool).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from operator import itemgetter
from typing import Any, cast

from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.compiler import SQLCompiler


class RawStatement:
    def __init__(self, statement: ClauseElement) -> None:
        self._statement = statement
        self._compiled: dict[str, _Compiled] = {}

    def _for(self, dialect: Dialect) -> _Compiled:
        found = self._compiled.get(dialect.name)
        if found is None:
            compiled = cast(SQLCompiler, self._statement.compile(dialect=dialect))
            order = tuple(compiled.positiontup or ()) if compiled.positional else None
            # Values written into the statement (`status == "queued"`) are binds too.
            defaults = {k: v for k, v in compiled.params.items() if v is not None}
            found = _Compiled(compiled.string, order, defaults)
            self._compiled[dialect.name] = found
        return found

    def fetch(self, conn: Connection, params: Mapping[str, Any]) -> list[tuple[Any, ...]]:
        compiled = self._for(conn.dialect)
        cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        try:
            cursor.execute(compiled.sql, compiled.args(params))
            return list(cursor.fetchall())
        finally:
            cursor.close()

    def run_many(self, conn: Connection, rows: Sequence[Mapping[str, Any]]) -> int:
        """Run once per row; the number of rows changed in all."""
        compiled = self._for(conn.dialect)
        cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        try:
            cursor.executemany(compiled.sql, [compiled.args(row) for row in rows])
            return int(cursor.rowcount)
        finally:
            cursor.close()

    def run_each(self, conn: Connection, rows: Sequence[Mapping[str, Any]]) -> list[int]:
        """Run once per row on one cursor; the number of rows each run changed."""
        compiled = self._for(conn.dialect)
        cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        counts = []
        try:
            for row in rows:
                cursor.execute(compiled.sql, compiled.args(row))
                counts.append(int(cursor.rowcount))
            return counts
        finally:
            cursor.close()


class _Compiled:
    """The SQL and how to turn a mapping of values into the driver's parameters: a tuple
    in `order` for positional drivers (constants filled in), else the mapping itself."""

    __slots__ = ("args", "sql")

    def __init__(self, sql: str, order: tuple[str, ...] | None, defaults: dict[str, Any]) -> None:
        self.sql = sql
        self.args = _arguments(order, defaults)


def _arguments(
    order: tuple[str, ...] | None, defaults: dict[str, Any]
) -> Callable[[Mapping[str, Any]], Any]:
    if order is None:
        if not defaults:
            return lambda params: params
        return lambda params: {**defaults, **params}
    if not order:
        return lambda params: ()
    if not defaults:
        if len(order) == 1:
            (name,) = order
            return lambda params: (params[name],)
        return itemgetter(*order)
    slots = tuple((name in defaults, defaults.get(name), name) for name in order)
    return lambda params: tuple(value if fixed else params[name] for fixed, value, name in slots)
