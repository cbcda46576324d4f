"""One configured SMPP connection (`[[connections]]` in the carriers file): its bind or
binds, what it submits, and what the SMSC reports back.

Exactly-once as far as SMPP allows. The intent is recorded (`sending`) before a submit_sm
goes out; each segment the SMSC accepts is recorded with its id (`smpp_submits`) before
the message is `sent`. A submit_sm whose submit_sm_resp never came (the link dropped,
the answer timed out, or the node crashed in between) is the one ambiguity SMPP leaves:
it is counted (`herald_smpp_ambiguous_submits_total`), logged with the message SID, and
submitted again only if the connection says so (`resend_ambiguous`, the default, as
every gateway does); otherwise it is taken as accepted, with no receipt to expect.

Pushback (ESME_RTHROTTLED, ESME_RMSGQFUL, a generic_nack) is answered with a backoff
that doubles while it lasts; the segment is submitted again after it, nothing is lost.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Sequence
from functools import partial
from typing import Any

from herald.carriers.base import InboundHandler, ReceiptHandler
from herald.carriers.smpp_inbound import InboundAssembler
from herald.carriers.smpp_link import Answer, Link, NotBound
from herald.carriers.smpp_pdu import Pdu
from herald.carriers.smpp_receipts import PartRef, ReceiptMatcher
from herald.clock import Clock
from herald.domain import delivery_errors
from herald.domain.carrier import Submission, SubmitResult
from herald.domain.carrier_config import Connection
from herald.domain.health import Outcome
from herald.domain.smpp import (
    canonical_message_id,
    concat_reference,
    concat_udh,
    gsm7_encode,
    parse_receipt,
    ucs2_encode,
)
from herald.domain.smpp_addresses import (
    ESME_RX_T_APPN,
    RETRY_STATUSES,
    destination_address,
    refusal_code,
    source_address,
)
from herald.store import smpp as store
from herald.store.db import Database

log = logging.getLogger("herald.carriers.smpp")

DATA_CODING = {"GSM-7": 0, "UCS-2": 8}
ESM_UDH = 0x40
ESM_RECEIPT_MASK = 0x3C  # SMSC delivery receipt (0x04) and the other acknowledgements
BACKOFF_MIN_S = 0.05
BACKOFF_MAX_S = 5.0
AMBIGUOUS_RETRY_S = 0.5
NOT_BOUND_RETRY_S = 1.0
PURGE_AFTER_S = 7 * 86_400  # receipts come within the SMSC's validity period, days at most


class SmppConnection:
    def __init__(self, config: Connection, db: Database, clock: Clock, *, new_id: Any) -> None:
        self.config = config
        self.name = config.name
        self._db, self._clock = db, clock
        self.counters: Counter[str] = Counter()
        binds = ["transceiver"] if config.bind == "transceiver" else ["transmitter", "receiver"]
        self.links = [
            Link(config, b, clock, on_deliver=self._on_deliver, on_state=self._state_changed)
            for b in binds
        ]
        self.receipts = ReceiptMatcher(
            self.name,
            db,
            clock,
            wait_s=config.multipart_receipt_wait_s,
            counters=self.counters,
            settled=self._settled,
        )
        self.inbound = InboundAssembler(
            self.name, clock, timeout_s=config.reassembly_timeout_s, new_id=new_id,
            counters=self.counters,
        )  # fmt: skip
        self._tasks: list[asyncio.Task[None]] = []
        self._backoff_s = 0.0
        self._paused_until = 0.0
        self._payloads: dict[str, dict[int, str]] = {}  # long_messages = "payload"
        self._next_slot = 0.0  # the connection's own mps
        self._submitting: dict[str, asyncio.Future[None]] = {}

    # -- state ---------------------------------------------------------------------------

    @property
    def is_up(self) -> bool:
        """Bound for submitting, and not failing binds past its limit."""
        return any(link.can_submit for link in self.links)

    @property
    def is_down(self) -> bool:
        """Marked down: its binds keep failing; its routes fail over."""
        return not self.is_up and any(
            link.failures >= self.config.down_after_failures for link in self.links
        )

    @property
    def in_flight(self) -> int:
        return sum(link.in_flight for link in self.links)

    def _count(self, key: str, n: int = 1) -> None:
        self.counters[key] += n

    def _state_changed(self) -> None:
        self._count("state_changes")

    # -- Transport -------------------------------------------------------------------------

    async def start(self, on_receipt: ReceiptHandler, on_inbound: InboundHandler) -> None:
        self.receipts.start(on_receipt)
        self.inbound.start(on_inbound)
        self._tasks = [asyncio.ensure_future(link.run()) for link in self.links]
        self._tasks.append(asyncio.ensure_future(self._housekeeping()))

    async def wait_bound(self, timeout_s: float) -> bool:
        results = await asyncio.gather(*(link.wait_bound(timeout_s) for link in self.links))
        return all(results)

    async def submit(self, batch: Sequence[Submission]) -> list[SubmitResult]:
        loop = asyncio.get_running_loop()
        sids = {sub.message_sid for sub in batch}
        for sid in sids:
            if sid not in self._submitting:
                self._submitting[sid] = loop.create_future()
        try:
            return await self._submit(batch)
        finally:  # two hops: past the caller's recording of `sent` (and a gather's wake-up)
            loop.call_soon(loop.call_soon, self._release, sids)

    def _release(self, sids: set[str]) -> None:
        for sid in sids:
            future = self._submitting.pop(sid, None)
            if future is not None and not future.done():
                future.set_result(None)

    async def _settled(self, message_sid: str) -> None:
        """A receipt that overtook its submit's answer waits until `sent` is recorded, so
        the message goes sent, then delivered, with both callbacks, as it does usually."""
        future = self._submitting.get(message_sid)
        if future is not None:
            await asyncio.shield(future)

    async def _submit(self, batch: Sequence[Submission]) -> list[SubmitResult]:
        results: list[SubmitResult | None] = [None] * len(batch)
        waiting: list[tuple[int, Submission, asyncio.Future[Answer]]] = []
        link = next((link for link in self.links if link.can_submit), None)
        now = self._now()
        for i, sub in enumerate(batch):
            if sub.media_urls:
                results[i] = self._refused(delivery_errors.MmsNotSupported.code)
                continue
            if link is None or not link.can_submit or now < self._paused_until:
                results[i] = self._retry(max(self._paused_until - now, NOT_BOUND_RETRY_S))
                continue
            fields = self._fields(sub)
            if fields is None:  # a payload message's earlier part: it goes with the last
                results[i] = self._accepted("")
                continue
            await self._pace()
            try:
                waiting.append((i, sub, await link.submit(fields)))
            except NotBound:
                results[i] = self._retry(NOT_BOUND_RETRY_S)
        if link is not None:
            link.flush()
        taken: list[store.SubmittedPart] = []
        for i, sub, future in waiting:
            results[i] = self._result(sub, await future, taken)
        if taken:
            await self._db.write(partial(store.record, parts=taken))
        self._count("submits", len(waiting))
        return [r if r is not None else self._retry(NOT_BOUND_RETRY_S) for r in results]

    async def reconcile(self, batch: Sequence[Submission]) -> list[SubmitResult | None]:
        """After a crash: a segment the SMSC answered is known by its recorded id; one of a
        message still `sending` with no id recorded may or may not have reached it (its
        answer was lost with the node): the ambiguous case."""
        sids = sorted({sub.message_sid for sub in batch})
        known = await self._db.read(partial(store.parts_of, message_sids=sids))
        sending = await self._db.read(partial(store.still_sending, message_sids=sids))
        payload = self.config.long_messages == "payload"
        results: list[SubmitResult | None] = []
        for sub in batch:
            part = known.get((sub.message_sid, 1 if payload else sub.part))
            if part is not None:
                ref = PartRef(sub.message_sid, part.part, part.parts)
                self.receipts.remember(part.message_id, ref)
                results.append(self._accepted(part.message_id))
            elif sub.message_sid not in sending:
                results.append(None)  # sent in full before: nothing to ask the SMSC
            else:
                self._ambiguous(sub, "the node stopped before its submit_sm_resp was recorded")
                results.append(None if self.config.resend_ambiguous else self._accepted(""))
        return results

    async def close(self) -> None:
        """Unbind every link (SIGTERM's path) and stop."""
        for task in self._tasks[len(self.links) :]:
            task.cancel()
        await asyncio.gather(*(link.close() for link in self.links))
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.receipts.close()

    # -- submits ---------------------------------------------------------------------------

    def _fields(self, sub: Submission) -> dict[str, Any] | None:
        c = self.config
        source = source_address(sub.sender, sub.sender_kind, ton=c.source_ton, npi=c.source_npi)
        destination = destination_address(sub.recipient)
        coding = DATA_CODING.get(sub.encoding, 0)
        fields: dict[str, Any] = {
            "source_addr_ton": source.ton,
            "source_addr_npi": source.npi,
            "source_addr": source.addr,
            "dest_addr_ton": destination.ton,
            "dest_addr_npi": destination.npi,
            "destination_addr": destination.addr,
            "registered_delivery": 1,
            "data_coding": coding,
        }
        payload = _encode(sub.text, coding)
        if sub.parts == 1:
            fields["short_message"] = payload
        elif c.long_messages == "udh":
            udh = concat_udh(concat_reference(sub.message_sid), sub.parts, sub.part)
            fields["esm_class"] = ESM_UDH
            fields["short_message"] = udh + payload
        elif c.long_messages == "sar":
            fields["sar_msg_ref_num"] = concat_reference(sub.message_sid)
            fields["sar_total_segments"] = sub.parts
            fields["sar_segment_seqnum"] = sub.part
            fields["short_message"] = payload
        else:  # "payload": the whole text at once, in message_payload, with the last part
            held = self._payloads.setdefault(sub.message_sid, {})
            held[sub.part] = sub.text
            if sub.part < sub.parts:
                return None
            text = "".join(held[p] for p in sorted(held))
            fields["message_payload"] = _encode(text, coding)
            fields["short_message"] = b""
        return fields

    def _result(
        self, sub: Submission, answer: Answer, taken: list[store.SubmittedPart]
    ) -> SubmitResult:
        if answer.ambiguous:
            self._ambiguous(sub, "no submit_sm_resp")
            if self.config.resend_ambiguous:
                return self._retry(AMBIGUOUS_RETRY_S)
            return self._accepted("")
        if answer.nacked or answer.status in RETRY_STATUSES:
            self._count("pushback")
            self._backoff_s = min(max(self._backoff_s * 2, BACKOFF_MIN_S), BACKOFF_MAX_S)
            self._paused_until = self._now() + self._backoff_s
            return self._retry(self._backoff_s)
        self._backoff_s = 0.0
        if answer.status != 0:
            self._count("refused")
            if self.receipts.on_outcome is not None:
                code = refusal_code(answer.status)
                self.receipts.on_outcome(Outcome(delivered=False, error_code=code, refused=True))
            log.info(
                "smpp %s refused message sid=%s part %d: status 0x%02X",
                self.name, sub.message_sid, sub.part, answer.status,
            )  # fmt: skip
            return self._refused(refusal_code(answer.status))
        self._payloads.pop(sub.message_sid, None)
        message_id = canonical_message_id(answer.message_id)
        if message_id:
            parts = 1 if self.config.long_messages == "payload" else sub.parts
            part = 1 if parts == 1 else sub.part
            self.receipts.remember(message_id, PartRef(sub.message_sid, part, parts))
            taken.append(
                store.SubmittedPart(
                    connection=self.name,
                    message_id=message_id,
                    message_sid=sub.message_sid,
                    part=part,
                    parts=parts,
                    submitted_at=self._clock.now_us(),
                )
            )
        self._count("accepted")
        return self._accepted(message_id)

    def _ambiguous(self, sub: Submission, why: str) -> None:
        self._count("ambiguous")
        log.warning(
            "smpp %s: ambiguous submit of message sid=%s part %d/%d (%s); %s",
            self.name, sub.message_sid, sub.part, sub.parts, why,
            "submitting again" if self.config.resend_ambiguous else "taken as accepted",
        )  # fmt: skip

    def _accepted(self, message_id: str) -> SubmitResult:
        return SubmitResult(
            accepted=True,
            carrier=self.name,
            carrier_message_id=message_id or None,
            price_per_segment=self.config.price,
        )

    def _retry(self, after_s: float) -> SubmitResult:
        return SubmitResult(accepted=False, carrier=self.name, retry_after_s=after_s)

    def _refused(self, code: int) -> SubmitResult:
        return SubmitResult(accepted=False, carrier=self.name, error_code=code)

    async def _pace(self) -> None:
        """The connection's own cap (`mps`), across every sender using it."""
        mps = self.config.mps
        if mps is None:
            return
        now = self._now()
        slot = max(self._next_slot, now)
        self._next_slot = slot + 1.0 / mps
        if slot > now:
            for link in self.links:
                link.flush()
            await self._clock.sleep(slot - now)

    # -- from the SMSC ---------------------------------------------------------------------

    async def _on_deliver(self, link: Link, pdu: Pdu) -> None:
        if not (pdu.integer("esm_class") or 0) & ESM_RECEIPT_MASK:
            await self.inbound.handle(link, pdu)
            return
        report = parse_receipt(
            pdu.octets("short_message"),
            receipted_message_id=pdu.string("receipted_message_id"),
            message_state=pdu.integer("message_state"),
        )
        if report is None:
            log.warning("smpp %s: a receipt that could not be read", self.name)
            link.acknowledge(pdu.sequence)
            return
        try:
            await self.receipts.handle(report)
        except Exception:
            log.exception("smpp %s: receipt for %s not stored", self.name, report.message_id)
            link.acknowledge(pdu.sequence, ESME_RX_T_APPN)  # the SMSC delivers it again
            return
        link.acknowledge(pdu.sequence)

    async def _housekeeping(self) -> None:
        """Inbound parts past their timeout (30009), and old ids forgotten."""
        purged_at = 0.0
        while True:
            await self._clock.sleep(1.0)
            await self.inbound.expire()
            now = self._now()
            if now - purged_at > 3_600:
                purged_at = now
                before = self._clock.now_us() - int(PURGE_AFTER_S * 1_000_000)
                await self._db.write(partial(store.purge, before_us=before))

    def _now(self) -> float:
        return self._clock.now_us() / 1_000_000


def _encode(text: str, coding: int) -> bytes:
    return ucs2_encode(text) if coding == 8 else gsm7_encode(text)
