"""The SMPP tables, in `schema.metadata` beside the rest: import this module wherever the
whole schema counts (migrations, their test)."""

from __future__ import annotations

from sqlalchemy import Column, Index, Integer, String, Table

from herald.store.schema import Micros, Sid, metadata

# The SMSC's id of each segment it accepted (its submit_sm_resp), so that a receipt finds
# its message on any node and after a restart, and so that after a crash the segments the
# SMSC has are known (not resent). `message_id` is stored canonical (domain/smpp.py).
smpp_submits = Table(
    "smpp_submits",
    metadata,
    Column("connection", String(32), primary_key=True),
    Column("message_id", String(65), primary_key=True),
    Column("message_sid", Sid, nullable=False),
    Column("part", Integer, nullable=False),
    Column("parts", Integer, nullable=False),
    Column("submitted_at", Micros, nullable=False),
    Index("ix_smpp_submits_message_sid", "message_sid"),
    Index("ix_smpp_submits_submitted_at", "submitted_at"),
)
