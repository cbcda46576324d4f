"""A message's timeline of status changes, derived from what Herald stores: it keeps no
status history table, so each step says where its time comes from.

- `date_created`: the first status (`scheduled` with a SendAt, `accepted` when a service
  chose the sender, `queued` for a send with its own From or a reply, `received` inbound);
- each status callback owed: the status it reports at its `event_time`, the exact time
  of that change (only when the message has a StatusCallback);
- `date_sent`: `sent`, when the carrier took it;
- `date_updated`: the status now, if no step above shows it (the last change; a
  redaction or feedback also moves it).

Steps in between with no callback (`queued` after `accepted`, `sending`) have no stored
time and are not made up."""

from __future__ import annotations

from dataclasses import dataclass

from herald.domain.status import Direction, MessageStatus
from herald.domain.timestamps import to_datetime
from herald.store.console_messages import MessageRecord

# The order of a message's life, so steps recorded in one instant read in order.
_LIFE = [
    "scheduled", "accepted", "queued", "sending", "sent", "receiving", "received",
    "delivered", "undelivered", "failed", "read", "canceled", "partially_delivered",
]  # fmt: skip


@dataclass(frozen=True, slots=True, kw_only=True)
class Step:
    status: str
    at: int  # microseconds
    source: str  # where the time comes from

    @property
    def when(self) -> str:
        return when(self.at)


def when(us: int | None) -> str:
    """UTC with milliseconds, as the console shows every time."""
    if us is None:
        return ""
    return to_datetime(us).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3] + " UTC"


def first_status(record: MessageRecord) -> str:
    message = record.message
    if message.direction is Direction.INBOUND:
        return MessageStatus.RECEIVED.value
    if message.send_at is not None:
        return MessageStatus.SCHEDULED.value
    if record.routed or (message.messaging_service_sid and message.from_number is None):
        return MessageStatus.ACCEPTED.value
    return MessageStatus.QUEUED.value


def timeline(record: MessageRecord) -> list[Step]:
    message = record.message
    first = first_status(record)
    steps = {first: Step(status=first, at=message.date_created, source="created (date_created)")}
    for callback in record.callbacks:
        if callback.status and callback.status not in steps:
            steps[callback.status] = Step(
                status=callback.status,
                at=callback.event_time,
                source="its status callback's event time",
            )
    sent = MessageStatus.SENT.value
    if message.date_sent is not None and message.direction is not Direction.INBOUND:
        steps.setdefault(sent, Step(status=sent, at=message.date_sent, source="date_sent"))
    now = message.status.value
    if now not in steps:
        steps[now] = Step(status=now, at=message.date_updated, source="last change (date_updated)")
    return sorted(steps.values(), key=_order)


def _order(step: Step) -> tuple[int, int]:
    rank = _LIFE.index(step.status) if step.status in _LIFE else len(_LIFE)
    return step.at, rank
