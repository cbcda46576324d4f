"""What the multi-process durability tests share: an empty PostgreSQL database for their
nodes to start on together."""

from __future__ import annotations

import pytest

from tests.conftest import _Postgres


@pytest.fixture
def empty_postgres(postgres: _Postgres | None) -> str:
    """The URL of a new database without a schema (the nodes migrate it at start)."""
    if postgres is None:
        pytest.skip("PostgreSQL is not available (HERALD_TEST_DATABASE_URL)")
    return postgres.empty()
