"""Alembic environment: runs on the connection Herald hands it (or the URL in alembic.ini)."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine
from sqlalchemy.engine import Connection

from herald.store import (
    console_schema,  # noqa: F401  (its tables join the metadata)
    health_schema,  # noqa: F401  (its tables join the metadata)
    inbound_schema,  # noqa: F401  (its tables join the metadata)
    smpp_schema,  # noqa: F401  (its tables join the metadata)
)
from herald.store.db import normalize_url
from herald.store.schema import metadata

config = context.config


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=True,
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


connection = config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:
    engine = create_engine(normalize_url(config.get_main_option("sqlalchemy.url") or ""))
    with engine.begin() as conn:
        _run(conn)
