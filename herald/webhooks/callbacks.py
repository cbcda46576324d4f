"""Status callbacks as values: the form Twilio posts when a message changes status
(reference §9.2), and a callback as the outbox keeps it.

The parameters are built once, when the status changes, and stored with the callback,
so every retry posts exactly what was signed the first time.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from herald.domain.status import MessageStatus
from herald.domain.timestamps import to_datetime

API_VERSION = "2010-04-01"
UNKNOWN_ERROR = 30008  # Twilio's "Unknown error", when a failure carries no code

Params = tuple[tuple[str, str], ...]

_FAILURES = frozenset({MessageStatus.FAILED, MessageStatus.UNDELIVERED})
_RECEIPTS = frozenset({MessageStatus.DELIVERED, MessageStatus.UNDELIVERED})


class MessageFacts(Protocol):
    """What a callback reports of its message: a `Message`, or any row that has these."""

    @property
    def sid(self) -> str: ...
    @property
    def account_sid(self) -> str: ...
    @property
    def messaging_service_sid(self) -> str | None: ...
    @property
    def from_number(self) -> str | None: ...
    @property
    def to_number(self) -> str: ...


class CallbackState(StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    DEAD = "dead"


@dataclass(frozen=True, slots=True, kw_only=True)
class Callback:
    """One status callback in the outbox; `sequence` orders a message's callbacks."""

    id: int
    account_sid: str
    message_sid: str
    sequence: int
    url: str
    method: str
    params: Params
    event_time: int
    state: CallbackState
    attempts: int
    next_attempt_at: int
    last_error: str | None
    last_status_code: int | None
    date_created: int
    date_updated: int


def status_params(
    message: MessageFacts,
    status: MessageStatus,
    *,
    error_code: int | None = None,
    done_at_us: int | None = None,
) -> list[tuple[str, str]]:
    """The form fields of the callback reporting that `message` is now `status`.

    `From` is left out while no sender is chosen (a service message that failed before
    routing); Twilio's `ErrorCode` is always present on failed and undelivered, 30008
    (Unknown error) when the caller has no code.
    """
    params = [
        ("SmsSid", message.sid),
        ("SmsStatus", status.value),
        ("MessageStatus", status.value),
        ("To", message.to_number),
        ("MessageSid", message.sid),
        ("AccountSid", message.account_sid),
    ]
    if message.from_number is not None:
        params.append(("From", message.from_number))
    if message.messaging_service_sid is not None:
        params.append(("MessagingServiceSid", message.messaging_service_sid))
    params.append(("ApiVersion", API_VERSION))
    if status in _FAILURES:
        code = error_code if error_code is not None else UNKNOWN_ERROR
        params.append(("ErrorCode", str(code)))
    if status in _RECEIPTS and done_at_us is not None:
        params.append(("RawDlrDoneDate", raw_dlr_done_date(done_at_us)))
    return params


def raw_dlr_done_date(us: int) -> str:
    """`YYMMDDhhmm` in UTC: the carrier receipt's done date at minute precision."""
    return to_datetime(us).strftime("%y%m%d%H%M")


def event_time(us: int) -> str:
    """ISO 8601 UTC with milliseconds, for the `X-Herald-Event-Time` header."""
    moment = to_datetime(us)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def origin_of(url: str) -> str:
    """`scheme://host[:port]` exactly as written at the front of `url`: the unit for the
    per-host cap on concurrent requests."""
    start = url.find("://")
    start = 0 if start < 0 else start + 3
    ends = [i for i in (url.find(c, start) for c in "/?#") if i >= 0]
    return url[: min(ends)] if ends else url
