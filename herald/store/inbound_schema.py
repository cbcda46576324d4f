"""The tables of two-way messaging (inbound messages, their webhooks, the opt-out ledger),
in `schema.metadata` beside the rest: import this module wherever the whole schema counts
(migrations, their test)."""

from __future__ import annotations

from sqlalchemy import Column, Index, Integer, String, Table, Text, UniqueConstraint

from herald.store.schema import Micros, RowId, Sid, _dates, metadata

# Inbound messages as their carrier identified them: a carrier that hands a message over
# again (its acknowledgement was lost) finds the message stored the first time.
carrier_inbound = Table(
    "carrier_inbound",
    metadata,
    Column("carrier", String(64), primary_key=True),
    Column("carrier_id", String(200), primary_key=True),
    Column("message_sid", Sid, nullable=False),
    Column("date_created", Micros, nullable=False),
)

# Inbound webhooks owed (reference §10.1): written with the inbound message, called at
# least once, a repeat carrying the same `token` (the I-Twilio-Idempotency-Token header).
inbound_webhooks = Table(
    "inbound_webhooks",
    metadata,
    Column("id", RowId, primary_key=True, autoincrement=True),
    Column("account_sid", Sid, nullable=False),
    Column("message_sid", Sid, nullable=False, unique=True),
    Column("token", String(64), nullable=False),
    Column("url", String(1024), nullable=False),
    Column("method", String(8), nullable=False),
    Column("fallback_url", String(1024), nullable=False),
    Column("fallback_method", String(8), nullable=False),
    Column("params", Text, nullable=False),  # JSON list of [name, value] pairs
    Column("state", String(16), nullable=False),  # pending | done | dead
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("next_attempt_at", Micros, nullable=False),
    Column("leased_by", String(64), nullable=True),
    Column("lease_expires_at", Micros, nullable=True),
    Column("status_code", Integer, nullable=True),  # the last answer's HTTP status
    Column("error_code", Integer, nullable=True),  # 11200, 12100, … when it went wrong
    Column("answered_by", String(1024), nullable=True),  # the URL whose TwiML was used
    Column("twiml", Text, nullable=True),  # the reply as received
    Column("history", Text, nullable=False, server_default=""),  # every attempt (attempts.py)
    *_dates(),
    Index(None, "state", "next_attempt_at"),
)

# The opt-out ledger (reference §11): who may not be sent to, from what. `scope` is a
# service SID, a sender's address, or '' for the whole account (an import without one).
opt_outs = Table(
    "opt_outs",
    metadata,
    Column("sid", Sid, primary_key=True),
    Column("account_sid", Sid, nullable=False),
    Column("recipient", String(64), nullable=False),
    Column("scope_kind", String(8), nullable=False),  # service | sender | account
    Column("scope", String(64), nullable=False),
    Column("source", String(8), nullable=False),  # keyword | import
    Column("keyword", String(32), nullable=True),
    Column("sender", String(64), nullable=True),  # the number the keyword was sent to
    Column("messaging_service_sid", String(34), nullable=True),
    Column("message_sid", String(34), nullable=True),  # the inbound message
    Column("confirmation_sid", String(34), nullable=True),  # the reply that may still go
    *_dates(),
    UniqueConstraint("account_sid", "recipient", "scope_kind", "scope"),
    Index(None, "account_sid", "date_created"),
)

# A Messaging Service's Advanced Opt-Out settings (§11.3): JSON, `domain/optout.py`.
opt_out_settings = Table(
    "opt_out_settings",
    metadata,
    Column("service_sid", Sid, primary_key=True),
    Column("account_sid", Sid, nullable=False),
    Column("config", Text, nullable=False),
    *_dates(),
)
