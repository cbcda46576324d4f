"""Inbound messages (MO) from one SMPP connection, into Herald's inbound path.

A deliver_sm is acknowledged only once the message it completes is stored, so a crash
before that leaves the SMSC to deliver it again. The parts of a concatenated message
(UDH, or the SAR TLVs) are held, unacknowledged, until the last arrives, and decoded
joined (`domain/smpp.py:Reassembly`: an escape or emoji cut between parts is whole
again); when one is still missing after `reassembly_timeout_s`, what came is stored as
the message with error 30009 (reference §3.2) and the parts held are acknowledged.

SMPP gives an MO no id of its own, so each stored message gets a fresh carrier id: an
SMSC that delivers a part again because Herald's answer was lost (a crash between the
commit and the deliver_sm_resp) stores it twice. That window is one write long.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable

from herald.carriers.base import InboundHandler
from herald.carriers.smpp_link import Link
from herald.carriers.smpp_pdu import Pdu
from herald.clock import Clock
from herald.domain import errors
from herald.domain.inbound import InboundMessage
from herald.domain.smpp import Concat, PartKey, Reassembled, Reassembly, decode_text, parse_udh
from herald.domain.smpp_addresses import inbound_address

log = logging.getLogger("herald.carriers.smpp")

ESM_UDH = 0x40
MISSING_SEGMENT = 30009
ESME_RINVDSTADR = 0x0B  # not one of Herald's numbers: the SMSC should not try again
ESME_RX_T_APPN = 0x64  # Herald could not store it now: the SMSC delivers it again


class InboundAssembler:
    def __init__(
        self,
        name: str,
        clock: Clock,
        *,
        timeout_s: float,
        new_id: Callable[[], str],
        counters: Counter[str],
    ) -> None:
        self._name, self._clock, self._timeout_s = name, clock, timeout_s
        self._new_id = new_id
        self._counters = counters
        self._parts = Reassembly()
        self._acks: dict[PartKey, list[tuple[Link, int]]] = {}
        self._on_inbound: InboundHandler | None = None

    def start(self, on_inbound: InboundHandler) -> None:
        self._on_inbound = on_inbound

    async def handle(self, link: Link, pdu: Pdu) -> None:
        from_number = inbound_address(
            pdu.string("source_addr") or "", pdu.integer("source_addr_ton") or 0
        )
        to_number = inbound_address(
            pdu.string("destination_addr") or "", pdu.integer("dest_addr_ton") or 0
        )
        coding = pdu.integer("data_coding") or 0
        payload = pdu.octets("message_payload")
        data = payload or pdu.octets("short_message")
        concat = None
        if (pdu.integer("esm_class") or 0) & ESM_UDH and not payload:
            concat, data = parse_udh(data)
        elif pdu.integer("sar_total_segments"):
            concat = Concat(
                ref=pdu.integer("sar_msg_ref_num") or 0,
                total=pdu.integer("sar_total_segments") or 1,
                seq=pdu.integer("sar_segment_seqnum") or 0,
            )
        if concat is None or concat.total <= 1 or not 1 <= concat.seq <= concat.total:
            text = decode_text(data, coding)
            await self._store(from_number, to_number, text, 1, None, [(link, pdu.sequence)])
            return
        key = PartKey(from_number, to_number, concat.ref)
        self._acks.setdefault(key, []).append((link, pdu.sequence))
        whole = self._parts.add(
            source=from_number,
            destination=to_number,
            concat=concat,
            payload=data,
            data_coding=coding,
            now_s=self._now(),
        )
        if whole is not None:
            await self._deliver(whole)

    async def expire(self) -> None:
        """Store what came of messages whose missing parts are past the timeout."""
        for whole in self._parts.expired(self._now(), self._timeout_s):
            log.warning(
                "smpp %s: inbound message from %s missing part(s) %s of %d: stored with 30009",
                self._name, whole.key.source, list(whole.missing), whole.total,
            )  # fmt: skip
            self._counters["inbound_incomplete"] += 1
            await self._deliver(whole)

    async def _deliver(self, whole: Reassembled) -> None:
        acks = self._acks.pop(whole.key, [])
        code = MISSING_SEGMENT if whole.missing else None
        await self._store(
            whole.key.source, whole.key.destination, whole.text, whole.total, code, acks
        )

    async def _store(
        self,
        from_number: str,
        to_number: str,
        body: str,
        segments: int,
        error_code: int | None,
        acks: list[tuple[Link, int]],
    ) -> None:
        on_inbound = self._on_inbound
        assert on_inbound is not None
        message = InboundMessage(
            carrier=self._name,
            carrier_id=self._new_id(),
            from_number=from_number,
            to_number=to_number,
            body=body,
            num_segments=segments,
            error_code=error_code,
        )
        status = 0
        try:
            await on_inbound(message)
            self._counters["inbound"] += 1
        except errors.TwilioError as exc:  # not one of Herald's numbers
            log.warning("smpp %s: inbound message to %s refused: %s", self._name, to_number, exc)
            status = ESME_RINVDSTADR
        except Exception:
            log.exception("smpp %s: inbound message to %s not stored", self._name, to_number)
            status = ESME_RX_T_APPN
        for link, sequence in acks:
            link.acknowledge(sequence, status)

    def _now(self) -> float:
        return self._clock.now_us() / 1_000_000
