"""Status callbacks as values: the form Twilio posts when a message changes status
(reference §9.2), a callback as the outbox keeps it, and the retry decision after each
attempt.

The parameters are built once, when the status changes, and stored with the callback,
so every retry posts exactly what was signed the first time.

An attempt's outcome is stored as a status code and Twilio's generic 11200 wording, never
why no answer came (refused by the target policy, no such host, connection refused,
reset, timeout, TLS, not HTTP): told apart, those would make dead letters a port scanner.
The precise cause goes only to the operator's log.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol

from herald.domain import delivery_errors
from herald.domain.status import MessageStatus
from herald.domain.timestamps import to_datetime

API_VERSION = "2010-04-01"
MAX_BACKOFF_S = 3600.0
UNKNOWN_ERROR = delivery_errors.UnknownError.code  # when a failure carries no code
RETRIEVAL_FAILURE = "HTTP retrieval failure"  # Twilio's 11200, for every failed attempt

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


# Where a callback may go from each state: an attempt leaves a pending callback pending
# (to retry), delivered or dead; a dead letter is made pending again by hand (Retry.json).
CALLBACK_TRANSITIONS: dict[CallbackState, frozenset[CallbackState]] = {
    CallbackState.PENDING: frozenset(
        {CallbackState.PENDING, CallbackState.DELIVERED, CallbackState.DEAD}
    ),
    CallbackState.DEAD: frozenset({CallbackState.PENDING}),
    CallbackState.DELIVERED: frozenset(),
}


def callback_moves_from(
    new: CallbackState, *, excluding: CallbackState | None = None
) -> frozenset[CallbackState]:
    """The states a callback may move to `new` from (`excluding` one): the guard of
    the store's update."""
    return frozenset(
        state
        for state, nexts in CALLBACK_TRANSITIONS.items()
        if new in nexts and state is not excluding
    )


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
    # The account's auth token when the callback was claimed: what it is signed with.
    auth_token: str | None = field(default=None, repr=False, compare=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class Attempt:
    """The outcome of one delivery attempt: delivered, retry at `next_attempt_at`, or dead."""

    callback: Callback
    state: CallbackState
    next_attempt_at: int
    error: str | None = None
    status_code: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class RetryPolicy:
    max_attempts: int = 8
    backoff_s: float = 1.0
    max_backoff_s: float = MAX_BACKOFF_S
    jitter: float = 0.1  # up to this fraction is added to each delay

    def delay_s(self, attempt: int, draw: float) -> float:
        """The wait after failed attempt number `attempt` (1-based); `draw` is in [0, 1)."""
        doublings = min(attempt - 1, 64)  # far past any cap, and no float overflow
        base = min(self.backoff_s * 2.0**doublings, self.max_backoff_s)
        return base * (1 + self.jitter * draw)


def judge(
    callback: Callback, status_code: int | None, now: int, policy: RetryPolicy, draw: float
) -> Attempt:
    """Delivered on a 2xx; anything else (another status, or `None`: no HTTP answer) is
    retried after a backoff, or dead-lettered when it was the last attempt allowed."""
    if status_code is not None and 200 <= status_code < 300:
        return Attempt(
            callback=callback,
            state=CallbackState.DELIVERED,
            next_attempt_at=now,
            status_code=status_code,
        )
    attempt = callback.attempts + 1
    if attempt >= policy.max_attempts:
        state, due = CallbackState.DEAD, now
    else:
        state, due = CallbackState.PENDING, now + round(policy.delay_s(attempt, draw) * 1e6)
    return Attempt(
        callback=callback,
        state=state,
        next_attempt_at=due,
        error=RETRIEVAL_FAILURE,
        status_code=status_code,
    )


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
    if message.from_number:  # none, or "" in a queued row, while no sender is chosen
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
    m = to_datetime(us)
    return (
        f"{m.year:04d}-{m.month:02d}-{m.day:02d}T{m.hour:02d}:{m.minute:02d}:{m.second:02d}"
        f".{m.microsecond // 1000:03d}Z"
    )


@functools.lru_cache(maxsize=1024)
def origin_of(url: str) -> str:
    """`scheme://host[:port]` exactly as written at the front of `url`: the unit for the
    per-host cap on concurrent requests."""
    start = url.find("://")
    start = 0 if start < 0 else start + 3
    ends = [i for i in (url.find(c, start) for c in "/?#") if i >= 0]
    return url[: min(ends)] if ends else url
