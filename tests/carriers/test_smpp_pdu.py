"""The SMPP 3.4 codec: a submit_sm checked octet by octet against the specification's
layout, round trips of every command, vendors' variants read, and the law that nothing
a peer sends raises anything but PduError, however it is cut into TCP reads."""

from __future__ import annotations

import contextlib
import struct
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from smpplib import command as smpplib_command
from smpplib import ptypes

from herald.carriers.smpp_pdu import (
    COMMANDS,
    ESME_RINVCMDID,
    ESME_RINVCMDLEN,
    ESME_RTHROTTLED,
    MAX_FRAME,
    Framer,
    Pdu,
    PduError,
    decode,
    encode,
    is_response,
    next_sequence,
    status_name,
)

SUBMIT: dict[str, Any] = {
    "service_type": "",
    "source_addr_ton": 1,
    "source_addr_npi": 1,
    "source_addr": "15551234567",
    "dest_addr_ton": 1,
    "dest_addr_npi": 1,
    "destination_addr": "447700900123",
    "esm_class": 0x40,
    "protocol_id": 0,
    "priority_flag": 0,
    "schedule_delivery_time": "",
    "validity_period": "000001000000000R",
    "registered_delivery": 1,
    "replace_if_present_flag": 0,
    "data_coding": 8,
    "sm_default_msg_id": 0,
    "short_message": bytes.fromhex("0500034202010048006900"),
}
RECEIPT = (
    b"id:1a2b sub:001 dlvrd:001 submit date:2401011200 done date:2401011201 stat:DELIVRD err:000"
)

# One example of every command, with its fields as `decode` gives them back.
EXAMPLES: dict[str, dict[str, Any]] = {
    "bind_transceiver": {
        "system_id": "herald",
        "password": "secret1",
        "system_type": "SMS",
        "interface_version": 0x34,
        "addr_ton": 1,
        "addr_npi": 1,
        "address_range": "",
    },
    "bind_transceiver_resp": {"system_id": "SMSC", "sc_interface_version": 0x34},
    "bind_transmitter_resp": {"system_id": "SMSC"},
    "bind_receiver_resp": {"system_id": ""},
    "submit_sm": SUBMIT,
    "submit_sm_resp": {"message_id": "0A1B2C3D"},
    "deliver_sm": {
        **SUBMIT,
        "esm_class": 0x04,
        "data_coding": 0,
        "validity_period": "",
        "short_message": RECEIPT,
        "receipted_message_id": "1a2b",
        "message_state": 2,
        "network_error_code": b"\x03\x00\x00",
    },
    "deliver_sm_resp": {"message_id": ""},
    "data_sm": {**{k: SUBMIT[k] for k in list(SUBMIT)[:8]}, "registered_delivery": 0,
                "data_coding": 0, "message_payload": b"x" * 600, "sar_msg_ref_num": 513},
    "data_sm_resp": {"message_id": "77"},
    "query_sm": {"message_id": "77", "source_addr_ton": 0, "source_addr_npi": 0, "source_addr": ""},
    "query_sm_resp": {"message_id": "77", "final_date": "", "message_state": 2, "error_code": 0},
    "alert_notification": {
        "source_addr_ton": 1, "source_addr_npi": 1, "source_addr": "1555",
        "esme_addr_ton": 0, "esme_addr_npi": 0, "esme_addr": "herald", "ms_availability_status": 0,
    },
    "generic_nack": {},
    "unbind": {},
    "unbind_resp": {},
    "enquire_link": {},
    "enquire_link_resp": {},
}  # fmt: skip


def frame_of(command_id: int, body: bytes, *, sequence: int = 9, status: int = 0) -> bytes:
    return struct.pack(">LLLL", 16 + len(body), command_id, status, sequence) + body


def c_strings(*values: str) -> bytes:
    return b"".join(v.encode() + b"\0" for v in values)


def test_submit_sm_matches_the_specifications_layout() -> None:
    """SMPP 3.4 §4.4.1: the header, then each mandatory field in order, C-strings
    NUL-terminated, sm_length before short_message; then the TLVs (§5.3)."""
    body = (
        b"\x00"  # service_type ""
        + b"\x01\x01" + b"15551234567\x00"  # source_addr_ton, _npi, source_addr
        + b"\x01\x01" + b"447700900123\x00"  # dest_addr_ton, _npi, destination_addr
        + b"\x40\x00\x00"  # esm_class (UDHI), protocol_id, priority_flag
        + b"\x00"  # schedule_delivery_time ""
        + b"000001000000000R\x00"  # validity_period, relative: one day
        + b"\x01\x00\x08\x00"  # registered_delivery, replace_if_present, data_coding, default id
        + b"\x0b" + bytes.fromhex("0500034202010048006900")  # sm_length, short_message
        + bytes.fromhex("020c0002abcd")  # TLV sar_msg_ref_num 0x020C, length 2, 0xABCD
    )  # fmt: skip
    header = bytes.fromhex("00000004000000007fffffff")  # submit_sm, ESME_ROK, sequence
    expected = struct.pack(">L", 16 + len(body)) + header + body
    assert encode("submit_sm", 0x7FFFFFFF, sar_msg_ref_num=0xABCD, **SUBMIT) == expected
    pdu = decode(expected)
    assert pdu == Pdu("submit_sm", 0, 0x7FFFFFFF, {**SUBMIT, "sar_msg_ref_num": 0xABCD})


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_command_round_trips(command: str) -> None:
    fields = EXAMPLES.get(command, {})
    frame = encode(command, 4242, status=ESME_RTHROTTLED if is_response(command) else 0, **fields)
    pdu = decode(frame)
    assert (pdu.command, pdu.sequence) == (command, 4242)
    assert pdu.status == (ESME_RTHROTTLED if is_response(command) else 0)
    assert {k: v for k, v in pdu.fields.items() if k in fields} == fields
    assert encode(command, pdu.sequence, status=pdu.status, **pdu.fields) == frame


def test_fields_left_out_are_sent_empty() -> None:
    pdu = decode(encode("submit_sm", 1, destination_addr="15550001"))
    assert pdu.fields["source_addr"] == "" and pdu.fields["data_coding"] == 0
    assert pdu.fields["short_message"] == b""
    assert "sar_msg_ref_num" not in pdu.fields


def test_typed_readers() -> None:
    pdu = decode(encode("deliver_sm", 3, **EXAMPLES["deliver_sm"]))
    assert pdu.string("receipted_message_id") == "1a2b"
    assert pdu.integer("message_state") == 2
    assert pdu.octets("short_message") == RECEIPT
    assert pdu.string("message_state") is None and pdu.integer("source_addr") is None
    assert pdu.octets("message_payload") == b""


def test_a_deliver_sm_with_vendor_tlvs_is_read() -> None:
    """Unknown TLVs and standard ones deliver_sm does not define are skipped; an integer
    TLV of a surprising length is read at its stated length."""
    base = encode("deliver_sm", 5, short_message=RECEIPT)
    extra = (
        struct.pack(">HHB", 0x1400, 1, 7)  # vendor specific
        + struct.pack(">HHB", 0x0420, 1, 1)  # dpf_result: not a deliver_sm TLV
        + struct.pack(">HHH", 0x0427, 2, 5)  # message_state in two octets
        + struct.pack(">HH", 0x001E, 5) + b"1a2b\0"  # receipted_message_id
        + struct.pack(">HH", 0x020C, 0)  # sar_msg_ref_num, empty: ignored
        + struct.pack(">HH", 0x020C, 5) + b"\0" * 5  # too long for an integer: ignored
    )  # fmt: skip
    frame = struct.pack(">L", len(base) + len(extra)) + base[4:] + extra
    pdu = decode(frame)
    assert pdu.fields["message_state"] == 5 and pdu.fields["receipted_message_id"] == "1a2b"
    assert "dpf_result" not in pdu.fields and "sar_msg_ref_num" not in pdu.fields
    assert pdu.octets("short_message") == RECEIPT


def test_a_flag_tlv_reads_as_true() -> None:
    base = encode("submit_sm", 5, destination_addr="1")
    frame = struct.pack(">L", len(base) + 4) + base[4:] + struct.pack(">HH", 0x130C, 0)
    assert decode(frame).fields["alert_on_message_delivery"] is True


def test_a_refused_submit_sm_resp_may_have_no_body() -> None:
    assert decode(frame_of(0x80000004, b"", status=0x58)) == Pdu("submit_sm_resp", 0x58, 9, {})


def test_a_message_id_without_its_nul_is_read() -> None:
    assert decode(frame_of(0x80000004, b"abc123")).string("message_id") == "abc123"


def test_a_body_may_end_between_mandatory_fields() -> None:
    pdu = decode(
        frame_of(
            0x00000005,
            c_strings(
                "",
            )
            + b"\x01\x01",
        )
    )
    assert pdu.fields == {"service_type": "", "source_addr_ton": 1, "source_addr_npi": 1}


@pytest.mark.parametrize(
    ("frame", "message"),
    [
        (b"\x00\x00\x00\x10", "at least 16"),
        (frame_of(0x15, b"")[:-1] + b"", "at least 16"),
        (struct.pack(">LLLL", 20, 0x15, 0, 1), "command_length 20"),
        (frame_of(0x0000000B, b""), "unsupported command_id 0x0000000B"),  # outbind
        (frame_of(0x12345678, b""), "unsupported command_id"),
        (frame_of(0x00000004, b"\x00\x01\x01155512"), "source_addr has no terminating NUL"),
        (frame_of(0x00000004, c_strings("") + b"\x01\x01" + c_strings("1") + b"\x01\x01"
                  + c_strings("2") + b"\0\0\0" + c_strings("", "") + b"\0\0\0\0\x05ab"),
         "short_message overruns"),
        (frame_of(0x80000004, c_strings("1") + b"\x02\x0c\x00"), "truncated TLV header"),
        (frame_of(0x80000004, c_strings("1") + b"\x02\x0c\x00\x09ab"), "TLV 0x020C of 9"),
    ],
)  # fmt: skip
def test_malformed_frames_raise_pdu_error(frame: bytes, message: str) -> None:
    with pytest.raises(PduError, match=message):
        decode(frame)


def test_a_pdu_error_says_how_to_answer() -> None:
    with pytest.raises(PduError) as unknown:
        decode(frame_of(0x00000103 + 1, b"", sequence=77))
    assert (unknown.value.sequence, unknown.value.nack_status) == (77, ESME_RINVCMDID)
    assert not unknown.value.fatal and not unknown.value.is_response
    with pytest.raises(PduError) as bad_body:
        decode(frame_of(0x80000004, c_strings("1") + b"\x00", sequence=78))
    assert (bad_body.value.sequence, bad_body.value.nack_status) == (78, ESME_RINVCMDLEN)
    assert bad_body.value.is_response
    with pytest.raises(PduError) as short:
        decode(b"\0" * 8)
    assert short.value.fatal and short.value.sequence is None and not short.value.is_response


@pytest.mark.parametrize(
    ("command", "fields", "message"),
    [
        ("outbind", {}, "unsupported command"),
        ("submit_sm", {"colour": 1}, "has no field 'colour'"),
        ("submit_sm", {"sm_length": 3}, "has no field 'sm_length'"),
        ("submit_sm", {"esm_class": "0"}, "must be int, not str"),
        ("submit_sm", {"esm_class": True}, "must be int, not bool"),
        ("submit_sm", {"esm_class": 256}, "does not fit in 1 octet"),
        ("submit_sm", {"sar_msg_ref_num": -1}, "does not fit in 2 octet"),
        ("submit_sm", {"source_addr": b"1555"}, "must be str, not bytes"),
        ("submit_sm", {"destination_addr": "1" * 21}, "21 characters, at most 20 fit"),
        ("submit_sm", {"source_addr": "Ωmega"}, "Latin-1 text without NUL"),
        ("submit_sm", {"source_addr": "a\0b"}, "Latin-1 text without NUL"),
        ("submit_sm", {"short_message": "text"}, "must be bytes, not str"),
        ("submit_sm", {"short_message": b"x" * 255}, "255 octets"),
        ("submit_sm", {"short_message": b"x", "message_payload": b"y"}, "exclusive"),
        ("submit_sm", {"message_payload": b"y" * 65536}, "65536 octets"),
        ("submit_sm", {"alert_on_message_delivery": True}, "flag TLVs"),
        ("deliver_sm", {"network_error_code": b"\x03"}, "1 octets"),
        ("bind_transmitter", {"password": "123456789"}, "at most 8 fit"),
        ("query_sm", {}, "message_id"),  # smpplib's own rule
    ],
)
def test_encode_refuses_what_would_not_be_sent_as_given(
    command: str, fields: dict[str, Any], message: str
) -> None:
    with pytest.raises(PduError, match=message):
        encode(command, 1, **fields)


@pytest.mark.parametrize(("sequence", "status"), [(-1, 0), (2**32, 0), (1, -1)])
def test_encode_refuses_header_values_out_of_range(sequence: int, status: int) -> None:
    with pytest.raises(PduError, match="32 bits"):
        encode("enquire_link", sequence, status=status)


# -- smpplib, the oracle ---------------------------------------------------------------------


def smpplib_encode(command: str, sequence: int, status: int, fields: dict[str, Any]) -> bytes:
    """What `encode` did before it packed the bytes itself."""
    pdu = smpplib_command.factory(command, sequence=sequence)
    for name, value in fields.items():
        setattr(pdu, name, value)
    pdu.sequence, pdu.status = sequence, status
    data: bytes = pdu.generate()
    return data


def _values(param: Any, *, is_tlv: bool) -> st.SearchStrategy[Any]:
    """Values that fit, by smpplib's table. smpplib writes a C-string TLV in UTF-8 under a
    length counted in characters, so it agrees only on ASCII there (see below)."""
    if param.type is int:
        return st.integers(0, (1 << (8 * param.size)) - 1)
    if param.type is str:
        alphabet = st.characters(min_codepoint=1, max_codepoint=0x7F if is_tlv else 0xFF)
        return st.text(alphabet, max_size=param.max - 1)  # longer, smpplib cuts it (see below)
    size = getattr(param, "size", 0)
    return st.binary(min_size=size, max_size=size or (300 if is_tlv else 254))


def _field_sets(command: str) -> st.SearchStrategy[dict[str, Any]]:
    oracle = smpplib_command.factory(command, sequence=1)
    values = {
        name: _values(param, is_tlv=oracle.field_is_optional(name))
        for name, param in oracle.params.items()
        if name != "sm_length" and param.type is not ptypes.flag
    }

    def one_text(fields: dict[str, Any]) -> dict[str, Any]:
        if fields.get("short_message"):
            fields.pop("message_payload", None)
        return fields

    return st.fixed_dictionaries({}, optional=values).map(one_text)


def _as_decoded(command: str, fields: dict[str, Any]) -> dict[str, Any]:
    """Every mandatory field, empty unless given or preset (a bind's interface_version),
    and the TLVs given but empty strings."""
    oracle = smpplib_command.factory(command, sequence=1)
    empty = {int: 0, str: "", ptypes.ostr: b""}
    decoded: dict[str, Any] = {}
    for name in oracle.params_order:
        if name != "sm_length" and not oracle.field_is_optional(name):
            preset = getattr(oracle, name)
            decoded[name] = empty[oracle.params[name].type] if preset is None else preset
    return decoded | {k: v for k, v in fields.items() if k in decoded or v not in ("", b"")}


FIELD_SETS = {command: _field_sets(command) for command in sorted(COMMANDS)}


@settings(max_examples=1000)
@given(
    st.sampled_from(sorted(COMMANDS)),
    st.integers(0, 0xFFFFFFFF),
    st.integers(0, 0xFFFFFFFF),
    st.data(),
)
def test_encode_gives_smpplibs_bytes_and_decode_gives_the_fields_back(
    command: str, sequence: int, status: int, data: st.DataObject
) -> None:
    fields = data.draw(FIELD_SETS[command], label="fields")
    try:
        expected = smpplib_encode(command, sequence, status, fields)
    except ValueError:  # smpplib's one rule of its own: a query_sm needs a message_id
        with pytest.raises(PduError, match="message_id"):
            encode(command, sequence, status=status, **fields)
        return
    frame = encode(command, sequence, status=status, **fields)
    assert frame == expected
    assert decode(frame) == Pdu(command, status, sequence, _as_decoded(command, fields))


def test_a_c_string_tlv_is_latin_1_where_smpplib_is_wrong() -> None:
    """Latin-1, like every other C-string. smpplib wrote "café" in UTF-8, 6 octets, under
    a length of 5, so the frame did not add up."""
    frame = encode("deliver_sm", 1, receipted_message_id="café")
    assert frame.endswith(bytes.fromhex("001e0005") + b"caf\xe9\0")
    assert decode(frame).string("receipted_message_id") == "café"
    with pytest.raises(PduError, match="truncated TLV header"):
        decode(smpplib_encode("deliver_sm", 1, 0, {"receipted_message_id": "café"}))


def test_smpplib_cuts_a_long_string_where_encode_refuses() -> None:
    address = "1" * 25
    cut = decode(smpplib_encode("submit_sm", 1, 0, {"destination_addr": address}))
    assert cut.string("destination_addr") == "1" * 20
    with pytest.raises(PduError, match="25 characters"):
        encode("submit_sm", 1, destination_addr=address)


def test_a_long_message_payload_round_trips() -> None:
    payload = bytes(range(256)) * 40
    pdu = decode(encode("submit_sm", 2, destination_addr="1", message_payload=payload))
    assert pdu.octets("message_payload") == payload and pdu.octets("short_message") == b""


def test_status_names() -> None:
    assert status_name(0) == "ESME_ROK"
    assert status_name(0x58) == "ESME_RTHROTTLED"
    assert status_name(0x0E) == "ESME_RINVPASWD"
    assert status_name(0x400) == "0x00000400"


def test_sequence_numbers_wrap() -> None:
    assert next_sequence(0) == 1
    assert next_sequence(41) == 42
    assert next_sequence(0x7FFFFFFF) == 1


# -- the stream ----------------------------------------------------------------------------

FRAMES = [
    encode(command, 100 + index, **EXAMPLES.get(command, {}))
    for index, command in enumerate(sorted(COMMANDS))
]


@settings(max_examples=200)
@given(st.lists(st.sampled_from(FRAMES), max_size=12), st.data())
def test_a_stream_split_anywhere_gives_the_same_pdus(
    frames: list[bytes], data: st.DataObject
) -> None:
    stream = b"".join(frames)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=20)))
    framer = Framer()
    pdus: list[Pdu] = []
    for start, end in zip([0, *cuts], [*cuts, len(stream)], strict=True):
        pdus += framer.feed(stream[start:end])
    assert pdus == [decode(f) for f in frames]
    assert framer.buffered == 0


@pytest.mark.parametrize("length", [0, 15, MAX_FRAME + 1])
def test_a_bad_command_length_loses_the_stream_for_good(length: int) -> None:
    framer = Framer()
    with pytest.raises(PduError, match=f"command_length {length}") as first:
        framer.feed(struct.pack(">LLLL", length, 0x15, 0, 33))
    assert first.value.fatal and first.value.sequence == 33
    with pytest.raises(PduError) as again:
        framer.feed(FRAMES[0])
    assert again.value is first.value


def test_a_bad_length_is_seen_before_the_header_is_whole() -> None:
    with pytest.raises(PduError) as lost:
        Framer().feed(b"\xff\xff\xff\xff")
    assert lost.value.fatal and lost.value.sequence is None


def test_a_bad_frame_does_not_lose_the_ones_after_it() -> None:
    framer = Framer()
    bad = frame_of(0x12345678, b"")
    framer.append(FRAMES[0] + bad + FRAMES[1])
    assert framer.next_pdu() == decode(FRAMES[0])
    with pytest.raises(PduError, match="unsupported command_id"):
        framer.next_pdu()
    assert framer.feed(b"") == [decode(FRAMES[1])]
    assert framer.next_pdu() is None


@settings(max_examples=1000)
@given(st.binary(max_size=200))
def test_decoding_random_bytes_raises_only_pdu_error(data: bytes) -> None:
    with contextlib.suppress(PduError):
        decode(struct.pack(">L", len(data) + 4) + data)
    with contextlib.suppress(PduError):
        Framer().feed(data)


@settings(max_examples=1000)
@given(st.sampled_from(FRAMES), st.data())
def test_decoding_mutated_frames_raises_only_pdu_error(frame: bytes, data: st.DataObject) -> None:
    body = bytearray(frame[8:])
    for _ in range(data.draw(st.integers(1, 4))):
        action = data.draw(st.sampled_from(["flip", "cut", "insert"]))
        at = data.draw(st.integers(0, len(body)))
        if action == "flip" and at < len(body):
            body[at] = data.draw(st.integers(0, 255))
        elif action == "cut":
            del body[at : at + data.draw(st.integers(1, 8))]
        else:
            body[at:at] = data.draw(st.binary(min_size=1, max_size=8))
    mutated = struct.pack(">L", len(body) + 8) + frame[4:8] + bytes(body)
    try:
        pdu = decode(mutated)
    except PduError:
        return
    assert pdu.command in COMMANDS
