"""The campaign database's tables: the campaign's own record, apart from the API's.

- `campaign_contacts`: one row per recipient and campaign, the send's ledger. `state` is
  the send's (pending → sending → sent | failed | suppressed); `message_sid` is written
  the moment the API accepts, before that worker sends again; `status` is the latest
  the API reported, `is_final` once it can change no more (seed 004's Twilio_MessageIDs,
  whose rows go once processed).
- `campaign_states`: the offer-history states, one row per contact, message, state and
  event; the unique key is what makes a second sync add nothing.
- `campaign_replies`: inbound messages from the campaign's recipients, with their keyword.
- `campaign_suppression`: seed 004's TwilioSMS_Suppression, shared by every campaign in
  the database (opt-outs are the sending numbers', not one campaign's), plus the target's
  own opt-out ledger when it has one (`source = 'ledger'`, replaced on each read).
- `campaign_marks`: how far a sync has read, per campaign and sending number.

Created with `create_all`: the tool owns nothing else in a database it may share.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData()

contacts = Table(
    "campaign_contacts",
    metadata,
    Column("campaign", String(100), primary_key=True),
    Column("contact_key", String(200), primary_key=True),
    Column("phone", String(32), nullable=False),
    Column("is_seed", Boolean, nullable=False, default=False),
    Column("body", Text, nullable=False),
    Column("state", String(16), nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("attempted_us", BigInteger),
    Column("sent_us", BigInteger),  # the message's date_created, by the target's clock
    Column("message_sid", String(64)),
    Column("status", String(16)),
    Column("error_code", Integer),
    Column("error_message", Text),
    Column("is_retryable", Boolean, nullable=False, default=False),
    Column("is_final", Boolean, nullable=False, default=False),
    Column("updated_us", BigInteger, nullable=False),
    Index("campaign_contacts_phone", "campaign", "phone"),
    Index("campaign_contacts_unfinished", "campaign", "is_final", "state"),
)

states = Table(
    "campaign_states",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("campaign", String(100), nullable=False),
    Column("contact_key", String(200), nullable=False),
    Column("message_sid", String(64), nullable=False),
    Column("state", String(16), nullable=False),
    Column("event_name", String(64), nullable=False, default=""),  # error code or keyword
    Column("at_us", BigInteger, nullable=False),
    UniqueConstraint("campaign", "contact_key", "message_sid", "state", "event_name"),
)

replies = Table(
    "campaign_replies",
    metadata,
    Column("campaign", String(100), primary_key=True),
    Column("message_sid", String(64), primary_key=True),
    Column("contact_key", String(200), nullable=False),
    Column("phone", String(32), nullable=False),
    Column("to_number", String(32), nullable=False),
    Column("body", Text, nullable=False),
    Column("keyword", String(16)),
    Column("at_us", BigInteger, nullable=False),
)

suppression = Table(
    "campaign_suppression",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("account_sid", String(64), nullable=False),
    Column("phone", String(32), nullable=False),
    Column("number", String(32), nullable=False),  # the sending number; "" account-wide
    Column("messaging_service_sid", String(64), nullable=False, default=""),
    Column("activity", String(16), nullable=False),
    Column("at_us", BigInteger, nullable=False),
    Column("source", String(8), nullable=False),  # "reply" or "ledger"
    UniqueConstraint("account_sid", "phone", "number", "activity", "at_us", "source"),
)

marks = Table(
    "campaign_marks",
    metadata,
    Column("campaign", String(100), primary_key=True),
    Column("name", String(100), primary_key=True),
    Column("at_us", BigInteger, nullable=False),
)
