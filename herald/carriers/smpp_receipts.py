"""Delivery receipts from one SMPP connection, matched to their messages.

A receipt names the SMSC's id of one segment. The id is looked for in every form the SMSC
may write it (hex in the submit_sm_resp, decimal in the receipt, or the reverse), first
among the ids this process was given, then in `smpp_submits` (another node's submit, or
before a restart). A receipt that arrives before its submit_sm_resp is held until the id
is known, for `EARLY_WAIT_S`.

A message of several segments is final once every part has reported, or as soon as one
part failed, or `multipart_receipt_wait_s` after its first report: an SMSC may report on
every part, only the first or only the last.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from functools import partial

from herald.carriers.base import ReceiptHandler
from herald.clock import Clock
from herald.domain.carrier import Receipt
from herald.domain.health import Outcome
from herald.domain.smpp import DeliveryReport, message_id_candidates, receipt_outcome
from herald.store import smpp as store
from herald.store.db import Database

log = logging.getLogger("herald.carriers.smpp")

EARLY_WAIT_S = 30.0
REMEMBER_S = 3_600.0  # ids kept in memory; older ones are found in the database
FINISHED_KEEP = 65_536  # messages finished here, so a late part's receipt is not counted twice


@dataclass(frozen=True, slots=True)
class PartRef:
    message_sid: str
    part: int
    parts: int


@dataclass(slots=True)
class _Parts:
    parts: int
    outcomes: dict[int, tuple[bool, int | None]] = field(default_factory=dict)
    timer: asyncio.TimerHandle | None = None
    submitted: bool = False  # the last part was accepted: no more receipts are caused
    since: float = 0.0

    def decided(self) -> bool:
        if not self.submitted:
            return False
        failed = any(not delivered for delivered, _ in self.outcomes.values())
        return failed or len(self.outcomes) >= self.parts


class ReceiptMatcher:
    def __init__(
        self,
        name: str,
        db: Database,
        clock: Clock,
        *,
        wait_s: float,
        counters: Counter[str],
        settled: Callable[[str], Awaitable[None]],
    ) -> None:
        self._name, self._db, self._clock, self._wait_s = name, db, clock, wait_s
        self._settled = settled
        self._counters = counters
        self._ids: dict[str, tuple[PartRef, float]] = {}
        self._early: dict[str, asyncio.Future[PartRef]] = {}
        self._open: dict[str, _Parts] = {}
        self._finished: dict[str, None] = {}
        self._on_receipt: ReceiptHandler | None = None
        self._swept_at = 0.0
        self._closing: set[asyncio.Task[None]] = set()
        self._sent_at: dict[str, int] = {}  # message SID → when its first part was accepted
        self.on_outcome: Callable[[Outcome], None] | None = None  # the connection's health

    def start(self, on_receipt: ReceiptHandler) -> None:
        self._on_receipt = on_receipt

    def remember(self, message_id: str, ref: PartRef) -> None:
        """The SMSC took a segment under `message_id` (canonical)."""
        now = self._now()
        self._ids[message_id] = (ref, now)
        self._sent_at.setdefault(ref.message_sid, self._clock.now_us())
        if ref.parts > 1 and ref.part == ref.parts:
            state = self._open.get(ref.message_sid)
            if state is None:
                state = self._open[ref.message_sid] = _Parts(ref.parts, since=now)
            self._submitted(ref.message_sid, state)
        early = self._early.pop(message_id, None)
        if early is not None and not early.done():
            early.set_result(ref)
        if now - self._swept_at > REMEMBER_S / 4:
            self._sweep(now)

    async def handle(self, report: DeliveryReport) -> None:
        """Match the receipt and, when its message is final, hand it over (returns once
        stored, so the deliver_sm is acknowledged only then)."""
        final, delivered, code = receipt_outcome(report)
        self._counters[f"receipts_{report.state.lower()}"] += 1
        if not final:
            return
        ref, from_store = await self._find(report.message_id)
        if ref is None:
            log.warning("smpp %s: receipt for unknown message id %r", self._name, report.message_id)
            self._counters["receipts_unmatched"] += 1
            return
        await self._settled(ref.message_sid)
        if ref.message_sid in self._finished:
            return
        if ref.parts == 1:
            await self._finish(ref.message_sid, {1: (delivered, code)})
            return
        state = self._open.get(ref.message_sid)
        if state is None:
            state = self._open[ref.message_sid] = _Parts(
                ref.parts, submitted=from_store, since=self._now()
            )
        state.outcomes[ref.part] = (delivered, code)
        if state.decided():
            await self._close(ref.message_sid)
        elif state.submitted:
            self._submitted(ref.message_sid, state)

    def _submitted(self, message_sid: str, state: _Parts) -> None:
        """Every part is with the SMSC: wait `wait_s` from the first receipt for the others
        (the SMSC may report on one part only), and no longer."""
        state.submitted = True
        if state.outcomes and state.timer is None:
            if state.decided():
                self._close_soon(message_sid)
                return
            loop = asyncio.get_running_loop()
            state.timer = loop.call_later(self._wait_s, self._close_soon, message_sid)

    def _close_soon(self, message_sid: str) -> None:
        task = asyncio.ensure_future(self._close(message_sid))
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    async def _close(self, message_sid: str) -> None:
        state = self._open.pop(message_sid, None)
        if state is None:
            return
        if state.timer is not None:
            state.timer.cancel()
        await self._finish(message_sid, state.outcomes)

    async def _finish(self, message_sid: str, outcomes: dict[int, tuple[bool, int | None]]) -> None:
        failed = [code for delivered, code in outcomes.values() if not delivered]
        now_us = self._clock.now_us()
        sent_at = self._sent_at.pop(message_sid, None)
        if self.on_outcome is not None:
            self.on_outcome(
                Outcome(
                    delivered=not failed,
                    error_code=failed[0] if failed else None,
                    latency_us=now_us - sent_at if sent_at is not None else None,
                )
            )
        self._finished[message_sid] = None
        if len(self._finished) > FINISHED_KEEP:
            del self._finished[next(iter(self._finished))]
        on_receipt = self._on_receipt
        assert on_receipt is not None
        await on_receipt(
            Receipt(
                message_sid=message_sid,
                delivered=not failed,
                error_code=failed[0] if failed else None,
                done_at_us=now_us,
            )
        )

    async def _find(self, raw_id: str) -> tuple[PartRef | None, bool]:
        """The segment, and whether it was found only in the database (submitted by
        another node or before a restart: all its parts are with the SMSC by now)."""
        candidates = message_id_candidates(raw_id)
        remembered = self._remembered(candidates)
        if remembered is not None:
            return remembered, False
        row = await self._db.read(
            partial(store.find, connection=self._name, candidates=list(candidates))
        )
        if row is not None:
            self._sent_at.setdefault(row.message_sid, row.submitted_at)
            return PartRef(row.message_sid, row.part, row.parts), True
        remembered = self._remembered(candidates)  # its submit_sm_resp came during the read
        if remembered is not None:
            return remembered, False
        return await self._wait_early(candidates), False

    def _remembered(self, candidates: tuple[str, ...]) -> PartRef | None:
        """The segment this process was given under one of these ids (forgotten here)."""
        for candidate in candidates:
            known = self._ids.pop(candidate, None)
            if known is not None:
                return known[0]
        return None

    async def _wait_early(self, candidates: tuple[str, ...]) -> PartRef | None:
        """The receipt came before its submit_sm_resp: wait for the id to be known."""
        future: asyncio.Future[PartRef] = asyncio.get_running_loop().create_future()
        for candidate in candidates:
            self._early[candidate] = future
        try:
            return await asyncio.wait_for(future, EARLY_WAIT_S)
        except TimeoutError:
            return None
        finally:
            for candidate in candidates:
                if self._early.get(candidate) is future:
                    del self._early[candidate]

    def _sweep(self, now: float) -> None:
        self._swept_at = now
        stale = [k for k, (_, at) in self._ids.items() if now - at > REMEMBER_S]
        for key in stale:
            del self._ids[key]
        unanswered = [  # every part sent, no receipt came (the SMSC was asked for none)
            sid for sid, state in self._open.items()
            if not state.outcomes and now - state.since > REMEMBER_S
        ]  # fmt: skip
        for sid in unanswered:
            del self._open[sid]
        horizon_us = self._clock.now_us() - int(REMEMBER_S * 1_000_000)
        for sid in [sid for sid, at in self._sent_at.items() if at < horizon_us]:
            del self._sent_at[sid]

    async def close(self) -> None:
        """Messages waiting for their other parts' receipts are decided from what came."""
        for message_sid in list(self._open):
            await self._close(message_sid)
        await asyncio.gather(*self._closing, return_exceptions=True)

    def _now(self) -> float:
        return self._clock.now_us() / 1_000_000
