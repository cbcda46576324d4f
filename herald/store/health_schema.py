"""The tables of sender health (`domain/health.py`), in `schema.metadata` beside the rest:
import this module wherever the whole schema counts (migrations, their test)."""

from __future__ import annotations

from sqlalchemy import Column, Index, Integer, String, Table, Text

from herald.store.schema import Micros, Sid, _dates, metadata

# Each subject's state (a sender by its queue key, or a connection by its name), shared by
# every node: routing reads the impaired ones, and a change is a guarded update.
health_states = Table(
    "health_states",
    metadata,
    Column("key", String(100), primary_key=True),
    Column("sid", Sid, nullable=False, unique=True),  # HS…, for the API's pages
    Column("kind", String(16), nullable=False),  # sender | connection
    Column("account_sid", String(34), nullable=True),
    Column("address", String(64), nullable=False),
    Column("resource_sid", String(34), nullable=True),
    Column("state", String(16), nullable=False),  # healthy | impaired
    Column("changed_at", Micros, nullable=False),  # 0: never changed
    *_dates(),
    Index(None, "account_sid", "address"),
)

# Outcomes per subject, time slice and node: each node rewrites its own rows (its whole
# tally of the slice), and the window is their sum. Rows older than the window are deleted.
health_tallies = Table(
    "health_tallies",
    metadata,
    Column("key", String(100), primary_key=True),
    Column("slice_start", Micros, primary_key=True),
    Column("node", String(64), primary_key=True),
    Column("delivered", Integer, nullable=False),
    Column("failed", Integer, nullable=False),
    Column("not_judged", Integer, nullable=False),
    Column("errors", Text, nullable=False),  # JSON: [[error code, count], …]
    Column("latency", Text, nullable=False),  # JSON: receipts per latency bucket
    Index(None, "slice_start"),
)
