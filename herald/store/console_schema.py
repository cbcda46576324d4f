"""The web console's table, in `schema.metadata` beside the rest: import this module
wherever the whole schema counts (migrations, their test)."""

from __future__ import annotations

from sqlalchemy import Column, Index, String, Table

from herald.store.schema import Micros, Sid, metadata

# One row per signed-in browser, found by the SHA-256 of its cookie (the cookie itself is
# never stored). `secret_hash` is the hash of the secret it signed in with, so a rotated
# token or a deleted key ends the session; shared by every API node.
console_sessions = Table(
    "console_sessions",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("account_sid", Sid, nullable=False),
    Column("username", String(34), nullable=False),  # the AC… or SK… signed in with
    Column("secret_hash", String(64), nullable=False),
    Column("csrf", String(64), nullable=False),
    Column("created_at", Micros, nullable=False),
    Column("seen_at", Micros, nullable=False),
    Column("expires_at", Micros, nullable=False),
    Index("ix_console_sessions_expires_at", "expires_at"),
)
