"""The simulated carrier network: Herald's default transport, so an application can be
tested end to end without spending a cent.

The rules (carriers, landlines, test numbers, prices) live in `network.py`; this shell adds
what a carrier connection has: an acknowledgement only once the submission is in its
durable log, idempotency by reference (a resend is logged as a duplicate and answered as
before, with no second receipt), a capacity that pushes back, latency and receipts.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from typing import Final

from herald.carriers.base import InboundHandler, ReceiptHandler
from herald.carriers.network import (
    ACK_LATENCY,
    INVALID_RECIPIENT_CODE,
    RECEIPT_LATENCY,
    Fate,
    Outcome,
    SlidingWindow,
    carrier_message_id,
    decide_fate,
    lookup_carrier,
    price_of,
    refusal_code,
)
from herald.clock import Clock
from herald.domain.carrier import CarrierInfo, Receipt, Submission, SubmitResult
from herald.domain.inbound import InboundMessage
from herald.store.db import Database
from herald.store.simulator_log import (
    LoggedSubmission,
    known_references,
    load_references,
    record_submissions,
)

log = logging.getLogger("herald.carriers.simulator")

LATENCIES: Final = ("instant", "realistic")
UNKNOWN_CARRIER: Final = "unknown"


class SeenReferences:
    """References already logged, in memory so that a resend is known without a query.

    Two generations swap every `window_us`, so each is remembered at least that long:
    longer than a message may wait for a resend (its validity period, at most 10 hours).
    """

    def __init__(self, window_us: int) -> None:
        self._window_us = window_us
        self._recent: set[str] = set()
        self._older: set[str] = set()
        self._rotated_at: int | None = None

    def __contains__(self, reference: str) -> bool:
        return reference in self._recent or reference in self._older

    def add(self, reference: str) -> None:
        self._recent.add(reference)

    def forget(self, references: Sequence[str]) -> None:
        self._recent.difference_update(references)

    def rotate(self, now_us: int) -> None:
        if self._rotated_at is None:
            self._rotated_at = now_us
        elif now_us - self._rotated_at >= self._window_us:
            self._older, self._recent = self._recent, set()
            self._rotated_at = now_us


@dataclass(frozen=True, slots=True)
class _Answer:
    result: SubmitResult
    entry: LoggedSubmission | None = None  # None when throttled: the carrier did not take it
    receipt: Receipt | None = None


def _refusal(carrier: str, code: int) -> tuple[SubmitResult, Fate]:
    return SubmitResult(accepted=False, carrier=carrier, error_code=code), Fate(
        Outcome.REFUSED, code
    )


class CarrierSimulator:
    """A `Transport` onto the simulated network; see `network.py` for its test numbers."""

    name = "simulator"

    def __init__(
        self,
        db: Database,
        clock: Clock,
        *,
        seed: int = 0,
        latency: str = "realistic",
        capacity_per_s: int = 10_000,
        failure_rate: float = 0.02,
        dedup_window_s: float = 86_400.0,
    ) -> None:
        if latency not in LATENCIES:
            raise ValueError(f"latency must be one of {', '.join(LATENCIES)}, not {latency!r}")
        if not 0.0 <= failure_rate <= 1.0:
            raise ValueError(f"failure_rate must be between 0 and 1, not {failure_rate!r}")
        if capacity_per_s < 1:
            raise ValueError(f"capacity_per_s must be at least 1, not {capacity_per_s!r}")
        self._db = db
        self._clock = clock
        self._seed = seed
        self._is_instant = latency == "instant"
        self._capacity_per_s = capacity_per_s
        self._failure_rate = failure_rate
        self._dedup_window_us = round(dedup_window_s * 1_000_000)
        self._rng = random.Random(seed)
        self._windows: dict[str, SlidingWindow] = {}
        self._seen = SeenReferences(self._dedup_window_us)
        self._on_receipt: ReceiptHandler | None = None
        self._on_inbound: InboundHandler | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self, on_receipt: ReceiptHandler, on_inbound: InboundHandler) -> None:
        """Reload the references logged within the dedup window, then take submissions."""
        since_us = self._clock.now_us() - self._dedup_window_us
        for reference in await self._db.read(partial(load_references, since_us=since_us)):
            self._seen.add(reference)
        self._on_receipt = on_receipt
        self._on_inbound = on_inbound

    async def hand_over(self, message: InboundMessage) -> str:
        """A simulated handset's message reaches the carrier, which hands it to Herald (the
        test endpoint `POST /herald/v1/Simulator/Inbound`); the stored message's SID."""
        if self._on_inbound is None:
            raise RuntimeError("the simulator is not started")
        return await self._on_inbound(message)

    def lookup(self, e164: str) -> CarrierInfo | None:
        return lookup_carrier(e164)

    def price(self, e164: str, *, mms: bool) -> str | None:
        info = lookup_carrier(e164)
        return price_of(info.country, is_mms=mms) if info is not None else None

    async def reconcile(self, batch: Sequence[Submission]) -> list[SubmitResult | None]:
        """Look each reference up in the durable log (another node may have logged it):
        a known one is answered as it was (the answer is a pure function of the
        submission) and its receipt, if one is owed, is sent again; nothing is logged."""
        if self._on_receipt is None:
            raise RuntimeError("start() the simulator before reconciling with it")
        references = [submission.reference for submission in batch]
        known = await self._db.read(partial(known_references, references=references))
        now_us = self._clock.now_us()
        results: list[SubmitResult | None] = []
        receipts = []
        for submission in batch:
            if submission.reference not in known:
                results.append(None)
                continue
            self._seen.add(submission.reference)
            result, fate = self._decide(submission, lookup_carrier(submission.recipient))
            results.append(result)
            if fate.has_receipt and submission.part == submission.parts:
                receipts.append(self._receipt(submission.message_sid, fate, now_us, 0.0))
        if receipts:
            self._schedule(receipts)
        return results

    async def submit(self, batch: Sequence[Submission]) -> list[SubmitResult]:
        """Answer each submission once the batch is in the durable log (one group commit)."""
        if self._on_receipt is None:
            raise RuntimeError("start() the simulator before submitting to it")
        now_us = self._clock.now_us()
        ack_s = 0.0 if self._is_instant else ACK_LATENCY.draw(self._rng)
        self._seen.rotate(now_us)
        answers = [self._answer(submission, now_us, ack_s) for submission in batch]
        entries = [answer.entry for answer in answers if answer.entry is not None]
        if entries:
            await self._record(entries)
        receipts = [answer.receipt for answer in answers if answer.receipt is not None]
        if receipts:
            self._schedule(receipts)
        if ack_s:
            await self._clock.sleep(ack_s)
        return [answer.result for answer in answers]

    async def _record(self, entries: list[LoggedSubmission]) -> None:
        try:
            await self._db.write(partial(record_submissions, entries=entries))
        except BaseException:
            self._seen.forget([entry.reference for entry in entries if not entry.duplicate])
            raise

    def _answer(self, submission: Submission, now_us: int, ack_s: float) -> _Answer:
        info = lookup_carrier(submission.recipient)
        carrier = info.name if info is not None else UNKNOWN_CARRIER
        is_duplicate = submission.reference in self._seen
        if not is_duplicate and info is not None:
            retry_after_s = self._window(carrier).admit(now_us)
            if retry_after_s is not None:
                return _Answer(
                    SubmitResult(accepted=False, carrier=carrier, retry_after_s=retry_after_s)
                )
        result, fate = self._decide(submission, info)
        receipt = None
        if not is_duplicate:
            self._seen.add(submission.reference)
            if fate.has_receipt and submission.part == submission.parts:
                receipt = self._receipt(submission.message_sid, fate, now_us, ack_s)
        entry = LoggedSubmission(
            reference=submission.reference,
            message_sid=submission.message_sid,
            part=submission.part,
            parts=submission.parts,
            sender=submission.sender,
            recipient=submission.recipient,
            carrier=carrier,
            outcome=fate.outcome.value,
            error_code=fate.error_code,
            duplicate=is_duplicate,
            received_at=now_us,
        )
        return _Answer(result, entry, receipt)

    def _decide(
        self, submission: Submission, info: CarrierInfo | None
    ) -> tuple[SubmitResult, Fate]:
        """The carrier's answer and the message's fate: both pure, so a resend gets the same."""
        is_mms = bool(submission.media_urls)
        if info is None:
            return _refusal(UNKNOWN_CARRIER, INVALID_RECIPIENT_CODE)
        code = refusal_code(info, sender_kind=submission.sender_kind, has_media=is_mms)
        if code is not None:
            return _refusal(info.name, code)
        fate = decide_fate(
            submission.recipient,
            is_landline=info.is_landline,
            seed=self._seed,
            failure_rate=self._failure_rate,
        )
        result = SubmitResult(
            accepted=True,
            carrier=info.name,
            carrier_message_id=carrier_message_id(submission.reference),
            price_per_segment=price_of(info.country, is_mms=is_mms),
        )
        return result, fate

    def _receipt(self, message_sid: str, fate: Fate, now_us: int, ack_s: float) -> Receipt:
        delay_s = 0.0 if self._is_instant else ack_s + RECEIPT_LATENCY.draw(self._rng)
        return Receipt(
            message_sid=message_sid,
            delivered=fate.outcome is Outcome.DELIVERED,
            error_code=fate.error_code,
            done_at_us=now_us + round(delay_s * 1_000_000),
        )

    def _window(self, carrier: str) -> SlidingWindow:
        window = self._windows.get(carrier)
        if window is None:
            window = self._windows[carrier] = SlidingWindow(self._capacity_per_s)
        return window

    def _schedule(self, receipts: list[Receipt]) -> None:
        """One task per batch, not per message: receipts go out in order of their time."""
        receipts.sort(key=lambda receipt: receipt.done_at_us)
        task = asyncio.get_running_loop().create_task(self._deliver(receipts))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _deliver(self, receipts: list[Receipt]) -> None:
        """Each receipt is handed over at its time without waiting for the previous one to
        be handled, as a carrier's link delivers them (the dispatcher stores together
        those that arrive together)."""
        handing: list[asyncio.Task[None]] = []
        try:
            for receipt in receipts:
                wait_us = receipt.done_at_us - self._clock.now_us()
                if wait_us > 0:
                    await self._clock.sleep(wait_us / 1_000_000)
                handing.append(asyncio.ensure_future(self._hand_over(receipt)))
        finally:  # when closing cancels this, receipts already handed over still finish
            await asyncio.gather(*handing)

    async def _hand_over(self, receipt: Receipt) -> None:
        on_receipt = self._on_receipt
        assert on_receipt is not None
        try:
            await on_receipt(receipt)
        except Exception:
            log.exception("receipt handler failed for %s", receipt.message_sid)

    async def close(self) -> None:
        """Stop sending receipts; those not yet sent are lost, as a carrier's may be."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
