"""The one narrow seam between Herald and a carrier: the `Transport` protocol.

A transport takes submissions (one per SMS segment, each with a stable reference so
that a carrier which deduplicates can recognise a resend), answers each with a
`SubmitResult`, and later reports delivery receipts through the callback given to
`start`. In the other direction, it hands each inbound message (an MO) to the handler
given to `start`, which stores it durably and answers with its SID before the transport
acknowledges it to the carrier. The simulator and SMPP both implement it; the dispatcher
knows nothing else.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol

from herald.domain.carrier import CarrierInfo, Receipt, Submission, SubmitResult
from herald.domain.inbound import InboundMessage

ReceiptHandler = Callable[[Receipt], Awaitable[None]]
InboundHandler = Callable[[InboundMessage], Awaitable[str]]  # the stored message's SID


class Transport(Protocol):
    name: str

    async def start(self, on_receipt: ReceiptHandler, on_inbound: InboundHandler) -> None:
        """Connect; report every receipt from now on to `on_receipt`, and hand every
        inbound message to `on_inbound` (acknowledging it to the carrier only once that
        returned: the message is stored)."""
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

    def price(self, e164: str, *, mms: bool) -> str | None:
        """What the carrier charges to this recipient per SMS segment (or per MMS), as a
        decimal string in USD, if known: Preview's estimate."""
        ...

    async def close(self) -> None: ...
