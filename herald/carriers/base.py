"""The one narrow seam between Herald and a carrier: the `Transport` protocol.

A transport takes submissions (one per SMS segment, each with a stable reference so
that a carrier which deduplicates can recognise a resend), answers each with a
`SubmitResult`, and later reports delivery receipts through the callback given to
`start`. The simulator and SMPP both implement it; the dispatcher knows nothing else.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from herald.domain.senders import SenderKind


@dataclass(frozen=True, slots=True, kw_only=True)
class Submission:
    reference: str  # stable across resends: f"{message_sid}/{part}"
    message_sid: str
    account_sid: str
    sender: str  # E.164, short code or alphanumeric ID
    sender_kind: SenderKind
    recipient: str  # E.164
    part: int  # 1-based
    parts: int
    text: str  # this segment's text
    encoding: str  # "GSM-7" | "UCS-2"
    media_urls: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class SubmitResult:
    """The carrier's answer to one submission.

    `accepted`: the carrier took it (a receipt may follow). Otherwise either
    `retry_after_s` is set (throttled: submit it again later, it is not an error) or
    `error_code` says why it was refused (the message fails with that code).
    """

    accepted: bool
    carrier: str | None = None
    carrier_message_id: str | None = None
    price_per_segment: str | None = None  # decimal string in `price_unit`, e.g. "0.00790"
    price_unit: str = "USD"
    error_code: int | None = None
    retry_after_s: float | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Receipt:
    """A delivery receipt (DLR) for a whole message."""

    message_sid: str
    delivered: bool
    error_code: int | None  # set when not delivered: 30003, 30005, 30006, 30007, 30008 …
    done_at_us: int  # when the carrier says it finished: RawDlrDoneDate


@dataclass(frozen=True, slots=True, kw_only=True)
class CarrierInfo:
    """What routing needs to know of a recipient's carrier."""

    name: str
    country: str
    supports_short_codes: bool
    supports_mms: bool
    is_landline: bool


ReceiptHandler = Callable[[Receipt], Awaitable[None]]


class Transport(Protocol):
    name: str

    async def start(self, on_receipt: ReceiptHandler) -> None:
        """Connect, and report every receipt from now on to `on_receipt`."""
        ...

    async def submit(self, batch: Sequence[Submission]) -> list[SubmitResult]:
        """Submit segments (of one or more messages); one result each, in order."""
        ...

    async def reconcile(self, batch: Sequence[Submission]) -> list[SubmitResult | None]:
        """For segments whose submit outcome is unknown (a crash came between the intent
        and the answer, or the submitting node is gone): the answer the carrier gave each
        one it has, or None for one it never got (safe to submit). A carrier that has a
        message again owes its receipt, and sends it. A transport that cannot ask answers
        None for all, and a resend is then the documented risk."""
        ...

    def lookup(self, e164: str) -> CarrierInfo | None:
        """The recipient's carrier and what it supports, if known."""
        ...

    async def close(self) -> None: ...
