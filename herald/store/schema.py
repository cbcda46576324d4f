"""Herald's tables in one SQLAlchemy Core `MetaData`; Alembic migrations build them.

Times are integer microseconds since the epoch (UTC): exact, portable between SQLite
and PostgreSQL, and cheap to compare in list filters.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "pk": "pk_%(table_name)s",
    }
)

Sid = String(34)
Micros = BigInteger
# SQLite makes an INTEGER PRIMARY KEY the rowid; BIGINT would not be.
RowId = BigInteger().with_variant(Integer(), "sqlite")


def _dates() -> list[Column[int]]:
    return [
        Column("date_created", Micros, nullable=False),
        Column("date_updated", Micros, nullable=False),
    ]


accounts = Table(
    "accounts",
    metadata,
    Column("sid", Sid, primary_key=True),
    Column("friendly_name", String(64), nullable=False),
    Column("auth_token", String(64), nullable=False),
    Column("status", String(16), nullable=False, server_default="active"),
    Column("is_test", Boolean, nullable=False, server_default="0"),
    *_dates(),
    Column("secondary_auth_token", String(64)),  # also valid while a rotation is under way
    Column("secondary_date_created", Micros),
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("sid", Sid, primary_key=True),
    Column("account_sid", Sid, nullable=False, index=True),
    Column("friendly_name", String(64), nullable=False),
    Column("secret_hash", String(64), nullable=False),
    *_dates(),
)

_webhook_columns = (
    ("sms_url", 1024),
    ("sms_method", 8),
    ("sms_fallback_url", 1024),
    ("sms_fallback_method", 8),
)


def _sms_webhook() -> list[Column[str]]:
    return [Column(name, String(size), nullable=False) for name, size in _webhook_columns]


incoming_numbers = Table(
    "incoming_numbers",
    metadata,
    Column("sid", Sid, primary_key=True),
    Column("account_sid", Sid, nullable=False),
    Column("phone_number", String(20), nullable=False, unique=True),
    Column("friendly_name", String(64), nullable=False),
    Column("country", String(2), nullable=False),
    Column("number_type", String(16), nullable=False),
    *_sms_webhook(),
    Column("sms_application_sid", String(34), nullable=False, server_default=""),
    Column("voice_url", String(1024), nullable=False, server_default=""),
    Column("voice_method", String(8), nullable=False, server_default="POST"),
    Column("voice_fallback_url", String(1024), nullable=False, server_default=""),
    Column("voice_fallback_method", String(8), nullable=False, server_default="POST"),
    Column("voice_caller_id_lookup", Boolean, nullable=False, server_default="0"),
    Column("status_callback", String(1024), nullable=False, server_default=""),
    Column("status_callback_method", String(8), nullable=False, server_default="POST"),
    Column("cap_voice", Boolean, nullable=False),
    Column("cap_sms", Boolean, nullable=False),
    Column("cap_mms", Boolean, nullable=False),
    Column("cap_fax", Boolean, nullable=False),
    Column("mps", Integer, nullable=True),
    *_dates(),
    Index(None, "account_sid", "phone_number"),
)

short_codes = Table(
    "short_codes",
    metadata,
    Column("sid", Sid, primary_key=True),
    Column("account_sid", Sid, nullable=False),
    Column("short_code", String(8), nullable=False),
    Column("country", String(2), nullable=False),
    Column("friendly_name", String(64), nullable=False),
    *_sms_webhook(),
    Column("cap_sms", Boolean, nullable=False),
    Column("cap_mms", Boolean, nullable=False),
    Column("mps", Integer, nullable=True),
    *_dates(),
    UniqueConstraint("short_code", "country"),
    Index(None, "account_sid", "short_code"),
)

messages = Table(
    "messages",
    metadata,
    Column("id", RowId, primary_key=True, autoincrement=True),
    Column("sid", Sid, nullable=False, unique=True),
    Column("account_sid", Sid, nullable=False),
    Column("messaging_service_sid", String(34), nullable=True),
    Column("direction", String(16), nullable=False),
    Column("from_number", String(64), nullable=True),
    Column("to_number", String(64), nullable=False),
    Column("sender_sid", String(34), nullable=True),
    Column("body", Text, nullable=False),
    Column("status", String(24), nullable=False),
    Column("encoding", String(8), nullable=False),
    Column("num_segments", Integer, nullable=False),
    Column("num_media", Integer, nullable=False),
    Column("error_code", Integer, nullable=True),
    Column("error_message", Text, nullable=True),
    Column("price", String(16), nullable=True),
    Column("price_unit", String(3), nullable=True),
    Column("status_callback", String(1024), nullable=True),
    Column("application_sid", String(34), nullable=True),
    Column("validity_period", Integer, nullable=True),
    Column("smart_encoded", Boolean, nullable=True),
    Column("provide_feedback", Boolean, nullable=False),
    Column("attempt", Integer, nullable=True),
    Column("max_price", String(16), nullable=True),
    Column("tags", Text, nullable=True),
    Column("send_at", Micros, nullable=True),
    Column("feedback_outcome", String(16), nullable=True),
    Column("feedback_date", Micros, nullable=True),
    Column("carrier", String(64), nullable=True),
    Column("callback_sequence", Integer, nullable=False, server_default="0"),
    Column("date_sent", Micros, nullable=True),
    *_dates(),
    Column("routing", Text, nullable=True),  # JSON: how a service chose the sender
    # MMS Converter: the link to the media sent instead, as SMS, to a carrier without MMS.
    Column("mms_link", String(256), nullable=True),
    Index(None, "account_sid", "id"),
    Index(None, "account_sid", "to_number", "id"),
    Index(None, "account_sid", "from_number", "id"),
    Index(None, "account_sid", "date_sent"),
    Index(None, "status", "sender_sid", "id"),
    # Partial: only scheduled and converted messages are in them, so the accept path's
    # insert maintains neither.
    Index(
        "ix_messages_scheduled_send_at", "status", "send_at",
        sqlite_where=text("status = 'scheduled'"),
        postgresql_where=text("status = 'scheduled'"),
    ),
    Index(
        "ix_messages_mms_link", "mms_link",
        sqlite_where=text("mms_link IS NOT NULL"),
        postgresql_where=text("mms_link IS NOT NULL"),
    ),
)  # fmt: skip

# Messaging Services (reference §4.1); `skip_unregistered_alpha` is Herald's extension.
services = Table(
    "services",
    metadata,
    Column("sid", Sid, primary_key=True),
    Column("account_sid", Sid, nullable=False, index=True),
    Column("friendly_name", String(64), nullable=False),
    Column("inbound_request_url", String(1024), nullable=True),
    Column("inbound_method", String(8), nullable=False),
    Column("fallback_url", String(1024), nullable=True),
    Column("fallback_method", String(8), nullable=False),
    Column("status_callback", String(1024), nullable=True),
    Column("sticky_sender", Boolean, nullable=False),
    Column("mms_converter", Boolean, nullable=False),
    Column("smart_encoding", Boolean, nullable=False),
    Column("scan_message_content", String(16), nullable=False),
    Column("fallback_to_long_code", Boolean, nullable=False),
    Column("area_code_geomatch", Boolean, nullable=False),
    Column("validity_period", Integer, nullable=False),
    Column("synchronous_validation", Boolean, nullable=False),
    Column("usecase", String(32), nullable=False),
    Column("use_inbound_webhook_on_number", Boolean, nullable=False),
    Column("skip_unregistered_alpha", Boolean, nullable=False),
    *_dates(),
)

# A service's sender pool (§4.2). The primary key is the sender's own SID (PN…, SC…) or,
# for an alphanumeric ID, an AI… SID made when it is added: a number or short code can
# be in one service only (21712).
service_senders = Table(
    "service_senders",
    metadata,
    Column("sid", Sid, primary_key=True),
    Column("account_sid", Sid, nullable=False),
    Column("service_sid", Sid, nullable=False),
    Column("kind", String(16), nullable=False),  # phone_number | short_code | alpha_sender
    Column("alpha_sender", String(11), nullable=True),
    Column("registered_in", String(1024), nullable=False, server_default=""),  # ISO-2, comma
    *_dates(),
    Index(None, "service_sid", "kind"),
    UniqueConstraint("service_sid", "alpha_sender"),
)

# Sticky Sender (§6.4): the sender a service uses for each recipient. `pinned` mappings
# were set through Herald's API and are not remapped by routing.
sticky_mappings = Table(
    "sticky_mappings",
    metadata,
    Column("service_sid", Sid, primary_key=True),
    Column("to_number", String(64), primary_key=True),
    Column("sender_sid", Sid, nullable=False),
    Column("pinned", Boolean, nullable=False, server_default="0"),
    *_dates(),
    Index(None, "service_sid", "sender_sid"),
)

# Warnings and errors raised outside a request (Twilio's Monitor Alerts), such as the
# Sender ID Pre-registration Alert (30018).
alerts = Table(
    "alerts",
    metadata,
    Column("sid", Sid, primary_key=True),
    Column("account_sid", Sid, nullable=False),
    Column("error_code", Integer, nullable=False),
    Column("log_level", String(8), nullable=False),
    Column("alert_text", Text, nullable=False),
    Column("resource_sid", String(34), nullable=True),
    Column("service_sid", String(34), nullable=True),
    *_dates(),
    Index(None, "account_sid", "date_created"),
)

media = Table(
    "media",
    metadata,
    Column("sid", Sid, primary_key=True),
    Column("account_sid", Sid, nullable=False),
    Column("message_sid", Sid, nullable=False, index=True),
    Column("content_type", String(128), nullable=False),
    Column("url", String(2048), nullable=False),
    *_dates(),
    # The copy fetched at the create (outbound MMS): its size, and the bytes themselves
    # when small; a larger copy is a file named by the SID in HERALD_MEDIA_DIR. No size:
    # no copy (inbound media, media stored before 0007).
    Column("size", Integer, nullable=True),
    Column("content", LargeBinary, nullable=True),
)

idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    Column("account_sid", Sid, primary_key=True),
    Column("key", String(255), primary_key=True),
    Column("message_sid", Sid, nullable=False),
    Column("request_hash", String(64), nullable=False),
    Column("date_created", Micros, nullable=False, index=True),
)


# Status callbacks waiting to be delivered: written in the same transaction as the status
# change they report (a transactional outbox), delivered in `sequence` order per message.
callbacks = Table(
    "callbacks",
    metadata,
    Column("id", RowId, primary_key=True, autoincrement=True),
    Column("account_sid", Sid, nullable=False),
    Column("message_sid", Sid, nullable=False),
    Column("sequence", Integer, nullable=False),
    Column("url", String(2048), nullable=False),
    Column("method", String(8), nullable=False),
    Column("params", Text, nullable=False),  # JSON list of [name, value] pairs
    Column("event_time", Micros, nullable=False),
    Column("state", String(16), nullable=False),  # pending | delivered | dead
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("next_attempt_at", Micros, nullable=False),
    Column("last_error", Text, nullable=True),
    Column("last_status_code", Integer, nullable=True),
    *_dates(),
    Column("leased_by", String(64), nullable=True),  # the node attempting it, if any
    # Every attempt, appended as it ends (domain/attempts.py): what the console shows.
    Column("history", Text, nullable=False, server_default=""),
    UniqueConstraint("message_sid", "sequence"),
    Index(None, "state", "next_attempt_at"),
    Index(None, "account_sid", "state", "id"),
)

# Which node dispatches each sender's queue (`herald.dispatch.leases`): one at a time, so
# per-sender rates hold across processes; a lease not renewed by `expires_at` is free.
sender_leases = Table(
    "sender_leases",
    metadata,
    Column("sender_key", String(80), primary_key=True),
    Column("owner", String(64), nullable=True),
    Column("expires_at", Micros, nullable=False),
)

# Dispatching nodes and when each last said it was alive: a node takes only its fair
# share of the senders (those with queued messages ÷ the nodes alive).
nodes = Table(
    "nodes",
    metadata,
    Column("node_id", String(64), primary_key=True),
    Column("started_at", Micros, nullable=False),
    Column("heartbeat_at", Micros, nullable=False),
)

# The carrier simulator's own log of every submission it received, apart from Herald's
# messages, as a carrier's records would be: tests count duplicates and rates from it.
simulator_submissions = Table(
    "simulator_submissions",
    metadata,
    Column("id", RowId, primary_key=True, autoincrement=True),
    Column("reference", String(64), nullable=False, index=True),
    Column("message_sid", Sid, nullable=False),
    Column("part", Integer, nullable=False),
    Column("parts", Integer, nullable=False),
    Column("sender", String(64), nullable=False),
    Column("recipient", String(64), nullable=False),
    Column("carrier", String(64), nullable=False),
    Column("outcome", String(16), nullable=False),
    Column("error_code", Integer, nullable=True),
    Column("duplicate", Boolean, nullable=False),
    Column("received_at", Micros, nullable=False),
)
