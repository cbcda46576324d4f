"""Message status: Twilio's wire strings and the legal transitions between them.

Like h11's state tables, the transitions are data: the store applies a change with
`UPDATE … WHERE status IN (allowed_from(new))`, so a lost race updates zero rows.
Lifecycle per reference §2.2: accepted/scheduled → queued → sending → sent →
delivered/undelivered; failed from any pre-sent step; canceled from scheduled.
"""

from __future__ import annotations

from enum import StrEnum


class MessageStatus(StrEnum):
    ACCEPTED = "accepted"
    SCHEDULED = "scheduled"
    QUEUED = "queued"
    SENDING = "sending"
    SENT = "sent"
    DELIVERED = "delivered"
    UNDELIVERED = "undelivered"
    FAILED = "failed"
    READ = "read"
    CANCELED = "canceled"
    PARTIALLY_DELIVERED = "partially_delivered"
    RECEIVING = "receiving"
    RECEIVED = "received"


class Direction(StrEnum):
    INBOUND = "inbound"
    OUTBOUND_API = "outbound-api"
    OUTBOUND_CALL = "outbound-call"
    OUTBOUND_REPLY = "outbound-reply"


S = MessageStatus

TRANSITIONS: dict[MessageStatus, frozenset[MessageStatus]] = {
    S.ACCEPTED: frozenset({S.QUEUED, S.FAILED, S.CANCELED}),
    S.SCHEDULED: frozenset({S.ACCEPTED, S.QUEUED, S.FAILED, S.CANCELED}),
    S.QUEUED: frozenset({S.SENDING, S.SENT, S.FAILED}),
    S.SENDING: frozenset({S.SENT, S.FAILED, S.DELIVERED, S.UNDELIVERED}),
    S.SENT: frozenset({S.DELIVERED, S.UNDELIVERED}),
    S.DELIVERED: frozenset({S.READ}),
    S.UNDELIVERED: frozenset(),
    S.FAILED: frozenset(),
    S.READ: frozenset(),
    S.CANCELED: frozenset(),
    S.PARTIALLY_DELIVERED: frozenset(),
    S.RECEIVING: frozenset({S.RECEIVED}),
    S.RECEIVED: frozenset(),
}

# Final as Twilio's guide states it; `sent` is final in practice only when no receipt comes.
TERMINAL: frozenset[MessageStatus] = frozenset(
    {S.DELIVERED, S.UNDELIVERED, S.FAILED, S.READ, S.CANCELED, S.RECEIVED, S.PARTIALLY_DELIVERED}
)

# Twilio lets a message be redacted or deleted once nothing more will happen to it;
# `sent` counts, as the reference's redaction example shows.
COMPLETE: frozenset[MessageStatus] = TERMINAL | {S.SENT}


def can_transition(old: MessageStatus, new: MessageStatus) -> bool:
    return new in TRANSITIONS[old]


def allowed_from(new: MessageStatus) -> frozenset[MessageStatus]:
    """The statuses from which a message may move to `new`."""
    return frozenset(old for old, targets in TRANSITIONS.items() if new in targets)


def is_terminal(status: MessageStatus) -> bool:
    return status in TERMINAL


def is_complete(status: MessageStatus) -> bool:
    """Whether the message may be redacted or deleted (Twilio's 20009 otherwise)."""
    return status in COMPLETE
