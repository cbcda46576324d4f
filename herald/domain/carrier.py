"""What Herald and a carrier say to each other, as values: a submission (one SMS segment,
with a stable reference so that a carrier which deduplicates recognises a resend), the
carrier's answer to it, a delivery receipt, and what routing knows of a recipient's
carrier. The `Transport` seam (`herald/carriers/base.py`) carries them.
"""

from __future__ import annotations

from dataclasses import dataclass

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
