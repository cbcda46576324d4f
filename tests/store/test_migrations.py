"""The migrations build exactly the schema the code declares (tables, columns, indexes),
on SQLite and PostgreSQL, so a model change without its migration fails here."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from herald.runtime import Runtime
from herald.store import (
    console_schema,  # noqa: F401  (its tables join the metadata)
    health_schema,  # noqa: F401  (its tables join the metadata)
    inbound_schema,  # noqa: F401  (its tables join the metadata)
    smpp_schema,  # noqa: F401  (its tables join the metadata)
)
from herald.store.schema import metadata


def test_migrated_database_matches_the_schema(runtime: Runtime) -> None:
    with runtime.db.write_engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        differences = compare_metadata(context, metadata)
    assert differences == []
