"""The SMPP peer itself, driven by a minimal hand-packed ESME, so that the SMPP transport's
tests can trust every control they use: binds, records, receipts of each kind, refusals,
silence, inbound messages whole and in parts, and restarts.
"""

from __future__ import annotations

import re
import socket
import struct
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.carriers import smpp_peer
from tests.carriers.smpp_peer import SmppPeer, SmppPeerError
from tests.conftest import eventually

BIND_RECEIVER, BIND_TRANSMITTER, SUBMIT_SM, DELIVER_SM, UNBIND = 0x01, 0x02, 0x04, 0x05, 0x06
BIND_TRANSCEIVER, ENQUIRE_LINK, GENERIC_NACK, RESP = 0x09, 0x15, 0x80000000, 0x80000000
RECEIPTED_MESSAGE_ID, MESSAGE_STATE = 0x001E, 0x0427
SAR_REF, SAR_TOTAL, SAR_SEQ, MESSAGE_PAYLOAD = 0x020C, 0x020E, 0x020F, 0x0424
RECEIPT = re.compile(
    r"id:(?P<id>\w+) sub:001 dlvrd:(?P<dlvrd>\d{3}) submit date:\d{10} done date:\d{10} "
    r"stat:(?P<stat>[A-Z]+) err:(?P<err>\d{3}) text:(?P<text>.*)"
)
STATES = {
    "DELIVRD": 2,
    "EXPIRED": 3,
    "DELETED": 4,
    "UNDELIV": 5,
    "ACCEPTD": 6,
    "UNKNOWN": 7,
    "REJECTD": 8,
}


@dataclass(frozen=True, slots=True, kw_only=True)
class Pdu:
    command_id: int
    status: int
    sequence: int
    body: bytes


@dataclass(frozen=True, slots=True, kw_only=True)
class DeliverSm:
    source_addr: str
    source_ton: int
    source_npi: int
    destination_addr: str
    esm_class: int
    data_coding: int
    short_message: bytes
    tlvs: dict[int, bytes]


def cstring(value: str) -> bytes:
    return value.encode("ascii") + b"\0"


def tlv(tag: int, value: bytes) -> bytes:
    return struct.pack(">HH", tag, len(value)) + value


def parse_deliver_sm(body: bytes) -> DeliverSm:
    def text(at: int) -> tuple[str, int]:
        end = body.index(b"\0", at)
        return body[at:end].decode("ascii"), end + 1

    _, at = text(0)  # service_type
    source_ton, source_npi = body[at], body[at + 1]
    source, at = text(at + 2)
    destination, at = text(at + 2)
    esm_class = body[at]
    _, at = text(at + 3)  # schedule_delivery_time, after protocol_id and priority_flag
    _, at = text(at)  # validity_period
    data_coding, length = body[at + 2], body[at + 4]
    at += 5
    short_message, at = body[at : at + length], at + length
    tlvs = {}
    while at + 4 <= len(body):
        tag, size = struct.unpack_from(">HH", body, at)
        tlvs[tag] = body[at + 4 : at + 4 + size]
        at += 4 + size
    return DeliverSm(
        source_addr=source,
        source_ton=source_ton,
        source_npi=source_npi,
        destination_addr=destination,
        esm_class=esm_class,
        data_coding=data_coding,
        short_message=short_message,
        tlvs=tlvs,
    )


class Esme:
    """Just enough of an ESME to drive the peer: pack, send, read."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        self.sequence = 0
        self.buffer = b""

    def send(self, command_id: int, body: bytes = b"", *, sequence: int | None = None) -> int:
        if sequence is None:
            self.sequence += 1
            sequence = self.sequence
        self.sock.sendall(struct.pack(">IIII", 16 + len(body), command_id, 0, sequence) + body)
        return sequence

    def read(self) -> Pdu:
        while len(self.buffer) < 4 or len(self.buffer) < struct.unpack(">I", self.buffer[:4])[0]:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("the peer closed the connection")
            self.buffer += chunk
        length, command_id, status, sequence = struct.unpack(">IIII", self.buffer[:16])
        body, self.buffer = self.buffer[16:length], self.buffer[length:]
        return Pdu(command_id=command_id, status=status, sequence=sequence, body=body)

    def read_many(self, count: int) -> list[Pdu]:
        return [self.read() for _ in range(count)]

    def is_closed_by_peer(self) -> bool:
        try:
            return self.sock.recv(1) == b""
        except ConnectionResetError:
            return True

    def bind(
        self, command_id: int = BIND_TRANSCEIVER, system_id: str = "esme1", password: str = "pw123"
    ) -> Pdu:
        body = cstring(system_id) + cstring(password) + cstring("") + bytes([0x34, 1, 1, 0])
        self.send(command_id, body)
        return self.read()

    def submit(
        self,
        destination: str = "14155550100",
        short_message: bytes = b"hello",
        *,
        source: str = "14155550199",
        esm_class: int = 0,
        registered_delivery: int = 1,
        data_coding: int = 0,
        tlvs: bytes = b"",
    ) -> int:
        body = (
            cstring("")
            + bytes([1, 1])
            + cstring(source)
            + bytes([1, 1])
            + cstring(destination)
            + bytes([esm_class, 0, 0])
            + cstring("")
            + cstring("")
            + bytes([registered_delivery, 0, data_coding, 0, len(short_message)])
            + short_message
            + tlvs
        )
        return self.send(SUBMIT_SM, body)

    def answer(self, pdu: Pdu, status: int = 0) -> None:
        header = struct.pack(">IIII", 17, DELIVER_SM | RESP, status, pdu.sequence)
        self.sock.sendall(header + b"\0")

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def peer() -> Iterator[SmppPeer]:
    with SmppPeer() as running:
        yield running


@pytest.fixture
def esme(peer: SmppPeer) -> Iterator[Esme]:
    client = Esme(peer.port)
    assert client.bind().status == 0
    yield client
    client.close()


def receipt_of(pdu: Pdu) -> tuple[DeliverSm, re.Match[str]]:
    assert pdu.command_id == DELIVER_SM
    deliver = parse_deliver_sm(pdu.body)
    assert deliver.esm_class == 0x04
    match = RECEIPT.fullmatch(deliver.short_message.decode("ascii"))
    assert match is not None, deliver.short_message
    return deliver, match


def submit_and_read_receipt(esme: Esme, **submit: Any) -> tuple[str, DeliverSm, re.Match[str]]:
    esme.submit(**submit)
    resp, receipt = esme.read_many(2)
    assert (resp.command_id, resp.status) == (SUBMIT_SM | RESP, 0)
    deliver, match = receipt_of(receipt)
    esme.answer(receipt)
    return resp.body.rstrip(b"\0").decode(), deliver, match


def test_binds_of_each_kind_are_accepted_and_listed(peer: SmppPeer) -> None:
    clients = [Esme(peer.port) for _ in range(3)]
    kinds = [BIND_TRANSCEIVER, BIND_TRANSMITTER, BIND_RECEIVER]
    for client, kind in zip(clients, kinds, strict=True):
        resp = client.bind(kind)
        assert (resp.command_id, resp.status) == (kind | RESP, 0)
        assert resp.body == cstring("herald-smpp-peer")
    sessions = peer.wait_for_sessions(3)
    assert sorted(s["bind_type"] for s in sessions) == ["receiver", "transceiver", "transmitter"]
    assert {s["system_id"] for s in sessions} == {"esme1"}
    assert peer.stats()["binds"] == 3
    for client in clients:
        client.close()


def test_a_wrong_password_or_system_id_is_refused(peer: SmppPeer) -> None:
    client = Esme(peer.port)
    assert client.bind(password="nope").status == 0x0E
    assert client.bind(system_id="stranger").status == 0x0F
    assert client.bind().status == 0  # the same connection may try again
    assert client.bind().status == 0x05  # ESME_RALYBND
    stats = peer.stats()
    assert (stats["binds"], stats["bind_failures"]) == (1, 3)
    client.close()


def test_enquire_link_and_unbind_are_answered_and_counted(peer: SmppPeer, esme: Esme) -> None:
    sequence = esme.send(ENQUIRE_LINK)
    assert esme.read() == Pdu(command_id=ENQUIRE_LINK | RESP, status=0, sequence=sequence, body=b"")
    sequence = esme.send(UNBIND)
    assert esme.read() == Pdu(command_id=UNBIND | RESP, status=0, sequence=sequence, body=b"")
    assert esme.is_closed_by_peer()
    stats = peer.stats()
    assert (stats["enquire_links"], stats["unbinds"]) == (1, 1)


def test_a_submit_is_recorded_with_its_fields(peer: SmppPeer, esme: Esme) -> None:
    gsm = b"Hi \x1be5 \x1b<ok\x1b> \x00home"  # GSM-7 unpacked: "Hi €5 [ok] @home"
    sequence = esme.submit("14155550100", gsm, source="14155550199", registered_delivery=0)
    resp = esme.read()
    assert (resp.sequence, resp.status) == (sequence, 0)
    [record] = peer.wait_for_records(1)
    message_id = resp.body.rstrip(b"\0").decode()
    assert re.fullmatch(r"[0-9a-f]+", message_id)
    assert record == {
        "session": 1,
        "system_id": "esme1",
        "sequence": sequence,
        "source_addr": "14155550199",
        "source_addr_ton": 1,
        "source_addr_npi": 1,
        "destination_addr": "14155550100",
        "dest_addr_ton": 1,
        "dest_addr_npi": 1,
        "esm_class": 0,
        "registered_delivery": 0,
        "data_coding": 0,
        "short_message_hex": gsm.hex(),
        "udh": None,
        "sar": None,
        "message_payload_hex": None,
        "text": "Hi €5 [ok] @home",
        "message_id": message_id,
        "status": 0,
        "response": "submit_sm_resp",
        "receipt": None,
    }


def test_parts_are_read_from_either_udh_sar_or_a_payload(peer: SmppPeer, esme: Esme) -> None:
    ucs2 = "Grüße 😀".encode("utf-16-be")
    esme.submit(short_message=b"\x05\x00\x03\x2a\x02\x01" + ucs2, esm_class=0x40, data_coding=8)
    esme.submit(short_message=b"\x06\x08\x04\x01\x02\x03\x02" + b"tail", esm_class=0x40)
    sar = tlv(SAR_REF, b"\x00\x07") + tlv(SAR_TOTAL, b"\x02") + tlv(SAR_SEQ, b"\x01")
    esme.submit(short_message=b"sar part", tlvs=sar)
    esme.submit(short_message=b"", tlvs=tlv(MESSAGE_PAYLOAD, b"a long one"))
    esme.read_many(4)
    eight_bit, sixteen_bit, by_sar, payload = peer.wait_for_records(4)
    assert (eight_bit["udh"], eight_bit["text"]) == ({"ref": 42, "total": 2, "seq": 1}, "Grüße 😀")
    assert (sixteen_bit["udh"], sixteen_bit["text"]) == ({"ref": 258, "total": 3, "seq": 2}, "tail")
    assert (by_sar["sar"], by_sar["udh"]) == ({"ref": 7, "total": 2, "seq": 1}, None)
    assert payload["message_payload_hex"] == b"a long one".hex()
    assert (payload["short_message_hex"], payload["text"]) == ("", "a long one")


def test_each_receipt_stat_is_sent_with_its_fields(peer: SmppPeer, esme: Esme) -> None:
    for stat, state in STATES.items():
        peer.set_mode(receipt=stat)
        message_id, deliver, match = submit_and_read_receipt(
            esme, destination="14155550100", source="14155550199", short_message=b"x" * 30
        )
        assert (match["id"], match["stat"], match["text"]) == (message_id, stat, "x" * 20)
        assert match["err"] == ("000" if stat == "DELIVRD" else "001")
        assert match["dlvrd"] == ("001" if stat == "DELIVRD" else "000")
        assert (deliver.source_addr, deliver.destination_addr) == ("14155550100", "14155550199")
        assert deliver.tlvs[RECEIPTED_MESSAGE_ID] == cstring(message_id)
        assert deliver.tlvs[MESSAGE_STATE] == bytes([state])
    eventually(lambda: peer.stats()["deliver_resps"] == len(STATES))
    receipts = peer.receipts()
    assert [r["stat"] for r in receipts] == list(STATES)
    assert [r["resp_status"] for r in receipts] == [0] * len(STATES)


def test_no_receipt_unless_asked_for_and_wanted(peer: SmppPeer, esme: Esme) -> None:
    peer.set_mode(receipt="none")
    esme.submit(short_message=b"mode none")
    esme.read()  # answered under that mode before it changes
    peer.set_mode(receipt="DELIVRD")
    esme.submit(short_message=b"not asked", registered_delivery=0)
    esme.submit(short_message=b"failures only", registered_delivery=2)
    esme.read_many(2)
    _, _, match = submit_and_read_receipt(esme, short_message=b"the one")
    assert match["text"] == "the one"
    assert peer.stats()["receipts_sent"] == 1


def test_receipt_ids_can_take_the_other_format(peer: SmppPeer, esme: Esme) -> None:
    peer.set_mode(receipt_id_format="decimal")
    message_id, deliver, match = submit_and_read_receipt(esme)
    assert re.fullmatch(r"[0-9a-f]+", message_id) and match["id"] == str(int(message_id, 16))
    assert deliver.tlvs[RECEIPTED_MESSAGE_ID] == cstring(message_id)
    peer.set_mode(id_format="decimal", receipt_id_format="hex", receipt_tlv_id_format="hex")
    message_id, deliver, match = submit_and_read_receipt(esme)
    assert message_id.isdigit() and match["id"] == format(int(message_id), "x")
    assert deliver.tlvs[RECEIPTED_MESSAGE_ID] == cstring(match["id"])


def test_err_and_per_destination_rules(peer: SmppPeer, esme: Esme) -> None:
    rules = [
        {"destination": "+14155550100", "receipt": "UNDELIV", "err": "034"},
        {"destination": "14155550102", "status": 0x0B},
    ]
    peer.set_mode(err="007", rules=rules)
    _, _, match = submit_and_read_receipt(esme, destination="14155550100")
    assert (match["stat"], match["err"]) == ("UNDELIV", "034")
    _, _, match = submit_and_read_receipt(esme, destination="14155550101")
    assert (match["stat"], match["err"]) == ("DELIVRD", "007")
    esme.submit(destination="14155550102")
    assert esme.read().status == 0x0B


def test_receipt_tlvs_can_be_left_out(peer: SmppPeer, esme: Esme) -> None:
    peer.set_mode(receipt_tlvs=False)
    _, deliver, _ = submit_and_read_receipt(esme)
    assert deliver.tlvs == {}


@pytest.mark.parametrize(("parts", "expected"), [("all", [1, 2, 3]), ("first", [1]), ("last", [3])])
def test_receipts_for_some_parts_only(
    peer: SmppPeer, esme: Esme, parts: str, expected: list[int]
) -> None:
    peer.set_mode(receipt_parts=parts)
    for seq in (1, 2, 3):
        esme.submit(short_message=bytes([5, 0, 3, 9, 3, seq]) + b"part", esm_class=0x40)
    esme.read_many(3 + len(expected))
    records = peer.wait_for_records(3)
    receipts = peer.wait_for_receipts(len(expected))
    ids = {r["message_id"]: r["udh"]["seq"] for r in records}
    assert [ids[r["message_id"]] for r in receipts] == expected


def test_a_receipt_can_come_before_its_resp(peer: SmppPeer, esme: Esme) -> None:
    peer.set_mode(receipt_before_resp=True)
    sequence = esme.submit()
    receipt, resp = esme.read_many(2)
    _, match = receipt_of(receipt)
    assert (resp.command_id, resp.sequence) == (SUBMIT_SM | RESP, sequence)
    assert match["id"] == resp.body.rstrip(b"\0").decode()


def test_a_receipt_can_be_delayed(peer: SmppPeer, esme: Esme) -> None:
    peer.set_mode(receipt_delay_ms=300)
    esme.submit()
    assert esme.read().command_id == SUBMIT_SM | RESP
    started = time.monotonic()
    receipt_of(esme.read())
    assert time.monotonic() - started > 0.25


def test_a_refusal_status_answers_without_a_message_id(peer: SmppPeer, esme: Esme) -> None:
    peer.set_mode(refuse_status=0x0B)
    esme.submit()
    assert esme.read().status == 0x0B
    [record] = peer.wait_for_records(1)
    assert (record["status"], record["message_id"]) == (0x0B, None)


def test_one_shot_throttle_queue_full_nack_and_silence(peer: SmppPeer, esme: Esme) -> None:
    peer.set_mode(drop_resp_next=1, nack_next=1, throttle_next=2, queue_full_next=1)
    sequences = [esme.submit(registered_delivery=0) for _ in range(6)]
    answers = esme.read_many(5)
    assert [(a.command_id, a.status, a.sequence) for a in answers] == [
        (GENERIC_NACK, 0x08, sequences[1]),
        (SUBMIT_SM | RESP, 0x58, sequences[2]),
        (SUBMIT_SM | RESP, 0x58, sequences[3]),
        (SUBMIT_SM | RESP, 0x14, sequences[4]),
        (SUBMIT_SM | RESP, 0x00, sequences[5]),
    ]
    records = peer.wait_for_records(6)
    assert [r["status"] for r in records] == [None, 0x08, 0x58, 0x58, 0x14, 0]
    assert records[0]["response"] == "none"
    mode = peer.mode()
    assert [mode[k] for k in ("drop_resp_next", "nack_next", "throttle_next")] == [0, 0, 0]


def test_a_receiver_session_or_a_bad_submit_is_refused(peer: SmppPeer, esme: Esme) -> None:
    esme.submit(destination="")
    assert esme.read().status == 0x0B  # ESME_RINVDSTADR
    esme.send(SUBMIT_SM, cstring("") + bytes([1, 1]) + cstring("1415"))
    assert esme.read().status == 0x02  # ESME_RINVCMDLEN
    receiver = Esme(peer.port)
    receiver.bind(BIND_RECEIVER)
    receiver.submit()
    assert receiver.read().status == 0x04  # ESME_RINVBNDSTS
    receiver.close()


def test_inbound_single_messages_in_gsm_and_ucs2(peer: SmppPeer, esme: Esme) -> None:
    with ThreadPoolExecutor(1) as pool:
        sent = pool.submit(peer.send_inbound, "+14155550100", "+15005550006", "Hi €5 @home")
        pdu = esme.read()
        esme.answer(pdu)
        assert sent.result() == {"sent": 1, "statuses": [0], "session": 1}
        deliver = parse_deliver_sm(pdu.body)
        assert (deliver.source_addr, deliver.source_ton, deliver.source_npi) == (
            "14155550100",
            1,
            1,
        )
        assert (deliver.destination_addr, deliver.esm_class) == ("15005550006", 0)
        assert (deliver.data_coding, deliver.short_message) == (0, b"Hi \x1be5 \x00home")

        sent = pool.submit(peer.send_inbound, "Alerts", "15005550006", "Привет", encoding="ucs2")
        pdu = esme.read()
        esme.answer(pdu, status=0x08)
        assert sent.result()["statuses"] == [0x08]
        deliver = parse_deliver_sm(pdu.body)
        assert (deliver.source_addr, deliver.source_ton, deliver.data_coding) == ("Alerts", 5, 8)
        assert deliver.short_message.decode("utf-16-be") == "Привет"
    stats = peer.stats()
    assert (stats["inbound_sent"], stats["deliver_resps"]) == (2, 2)


def test_inbound_concatenated_parts_with_one_left_out(peer: SmppPeer, esme: Esme) -> None:
    text = "Three parts 😀 with an emoji that must not be cut in half"
    with ThreadPoolExecutor(1) as pool:
        sent = pool.submit(
            peer.send_inbound, "14155550100", "15005550006", text, encoding="ucs2", parts=3, ref=7
        )
        whole = esme.read_many(3)
        for pdu in whole:
            esme.answer(pdu)
        assert sent.result()["statuses"] == [0, 0, 0]
        sent = pool.submit(
            peer.send_inbound, "14155550100", "15005550006", "a b c", parts=3, omit_part=2, ref=8
        )
        gapped = esme.read_many(2)
        for pdu in gapped:
            esme.answer(pdu)
        assert sent.result() == {"sent": 2, "statuses": [0, 0], "session": 1}
    parts = [parse_deliver_sm(pdu.body) for pdu in whole]
    assert [p.short_message[:6] for p in parts] == [bytes([5, 0, 3, 7, 3, n]) for n in (1, 2, 3)]
    assert all(p.esm_class == 0x40 for p in parts)
    assert "".join(p.short_message[6:].decode("utf-16-be") for p in parts) == text
    headers = [parse_deliver_sm(pdu.body).short_message[:6] for pdu in gapped]
    assert headers == [bytes([5, 0, 3, 8, 3, 1]), bytes([5, 0, 3, 8, 3, 3])]


def test_inbound_in_a_message_payload(peer: SmppPeer, esme: Esme) -> None:
    text = "long " * 60
    with ThreadPoolExecutor(1) as pool:
        sent = pool.submit(
            peer.send_inbound, "14155550100", "15005550006", text, message_payload=True
        )
        pdu = esme.read()
        esme.answer(pdu)
        assert sent.result()["sent"] == 1
    deliver = parse_deliver_sm(pdu.body)
    assert (deliver.short_message, deliver.tlvs[MESSAGE_PAYLOAD]) == (b"", text.encode())


def test_inbound_needs_a_bound_receiver(peer: SmppPeer) -> None:
    with pytest.raises(SmppPeerError, match="409"):
        peer.send_inbound("14155550100", "15005550006", "hi")
    transmitter = Esme(peer.port)
    transmitter.bind(BIND_TRANSMITTER)
    with pytest.raises(SmppPeerError, match="409"):
        peer.send_inbound("14155550100", "15005550006", "hi")
    transmitter.close()


def test_receipts_go_to_a_receiver_and_wait_for_one(peer: SmppPeer) -> None:
    transmitter = Esme(peer.port)
    transmitter.bind(BIND_TRANSMITTER)
    transmitter.submit()
    assert transmitter.read().status == 0
    eventually(lambda: peer.stats()["receipts_held"] == 1)
    receiver = Esme(peer.port)
    receiver.bind(BIND_RECEIVER)
    receipt_of(receiver.read())
    assert peer.stats()["receipts_held"] == 0
    transmitter.close()
    receiver.close()


def test_restart_drops_every_connection_and_listens_again(peer: SmppPeer, esme: Esme) -> None:
    port = peer.port
    assert peer.restart(down_ms=300)["closed"] is True
    assert esme.is_closed_by_peer()
    with pytest.raises(ConnectionRefusedError):
        Esme(port)
    deadline = time.monotonic() + 5
    while True:
        try:
            again = Esme(port)
            break
        except ConnectionRefusedError:
            assert time.monotonic() < deadline, "the peer did not listen again"
            time.sleep(0.02)
    assert again.bind().status == 0
    assert peer.stats()["unbinds"] == 0
    again.close()


def test_the_smsc_can_unbind_its_sessions(peer: SmppPeer, esme: Esme) -> None:
    assert peer.unbind_all() == 1
    unbind = esme.read()
    assert unbind.command_id == UNBIND
    esme.send(UNBIND | RESP, sequence=unbind.sequence)
    assert esme.is_closed_by_peer()
    assert peer.stats()["unbinds_sent"] == 1


def test_records_since_and_clear_and_a_bad_mode(peer: SmppPeer, esme: Esme) -> None:
    for n in range(3):
        esme.submit(short_message=f"m{n}".encode(), registered_delivery=0)
    esme.read_many(3)
    assert [r["text"] for r in peer.records(since=1)] == ["m1", "m2"]
    peer.clear_records()
    assert peer.records() == []
    with pytest.raises(SmppPeerError, match="400"):
        peer.set_mode(receipt="BOGUS")
    with pytest.raises(SmppPeerError, match="unknown mode field"):
        peer.set_mode(recipt="DELIVRD")
    assert peer.reset_mode()["receipt"] == "DELIVRD"


def test_missing_node_modules_are_named(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(smpp_peer, "PEER_DIR", tmp_path)
    with pytest.raises(SmppPeerError, match="npm ci --prefix tests/smpp_peer"):
        SmppPeer().start()
