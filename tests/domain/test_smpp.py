"""SMPP's values: receipts and their Twilio codes, message id forms, concatenation
headers and reassembly, and the GSM 03.38 / UCS-2 codecs, with the laws that hold for
any input (Hypothesis): nothing read from the wire raises, and text round-trips."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from herald.domain.encoding import GSM7_BASIC, GSM7_EXTENSION
from herald.domain.smpp import (
    _STANDARD_RECEIPT,
    Concat,
    DeliveryReport,
    PartKey,
    Reassembled,
    Reassembly,
    ReceiptOutcome,
    ReceiptState,
    canonical_message_id,
    concat_reference,
    concat_udh,
    decode_text,
    gsm7_decode,
    gsm7_encode,
    message_id_candidates,
    parse_receipt,
    parse_udh,
    receipt_outcome,
    ucs2_decode,
    ucs2_encode,
)
from herald.domain.smpp import _receipt_fields as receipt_fields  # the fast path, then the scan
from herald.domain.smpp import _scan_receipt as scan_receipt

APPENDIX_B = (
    b"id:0123456789 sub:001 dlvrd:001 submit date:2401011200 done date:2401011201"
    b" stat:DELIVRD err:000 text:Hello"
)


def receipt(
    text: bytes, *, tlv_id: str | None = None, tlv_state: int | None = None
) -> DeliveryReport:
    report = parse_receipt(text, receipted_message_id=tlv_id, message_state=tlv_state)
    assert report is not None
    return report


def report(state: ReceiptState, err: str | None = None) -> DeliveryReport:
    return DeliveryReport(message_id="1", state=state, err=err, done_at=None)


# -- receipts ------------------------------------------------------------------------------


def test_the_appendix_b_receipt_is_read() -> None:
    assert receipt(APPENDIX_B) == DeliveryReport(
        message_id="0123456789", state=ReceiptState.DELIVRD, err="000", done_at="2401011201"
    )


def test_keys_are_case_insensitive_and_vendors_spell_them_differently() -> None:
    text = (
        b"ID:ab12 Sub:1 Dlvrd:0 Submit_Date:240101120000 Done_date:240101120105"
        b" Status:UNDELIVERABLE Error:27"
    )
    assert receipt(text) == DeliveryReport(
        message_id="ab12", state=ReceiptState.UNDELIV, err="27", done_at="240101120105"
    )


def test_the_text_field_cannot_forge_the_state_or_the_id() -> None:
    text = b"id:5 stat:UNDELIV text:stat:DELIVRD id:6"
    assert receipt(text) == DeliveryReport(
        message_id="5", state=ReceiptState.UNDELIV, err=None, done_at=None
    )


def test_a_key_inside_a_word_is_not_a_key() -> None:
    assert receipt(b"msgid:9 id:7 stat:ENROUTE").message_id == "7"


def test_missing_fields_are_tolerated() -> None:
    assert receipt(b"id:42 stat:EXPIRED") == DeliveryReport(
        message_id="42", state=ReceiptState.EXPIRED, err=None, done_at=None
    )


def test_an_empty_value_is_absent() -> None:
    assert receipt(b"id:42 err: stat:DELIVRD").err is None


def test_a_done_date_that_is_not_digits_is_dropped() -> None:
    assert receipt(b"id:1 done date:2024-01-01 stat:DELIVRD").done_at is None


@pytest.mark.parametrize(
    ("stat", "state"),
    [
        ("DELIVRD", ReceiptState.DELIVRD),
        ("delivered", ReceiptState.DELIVRD),
        ("UNDELIV", ReceiptState.UNDELIV),
        ("FAILED", ReceiptState.UNDELIV),
        ("REJECTED", ReceiptState.REJECTD),
        ("ACCEPTD", ReceiptState.ACCEPTD),
        ("ENROUTE", ReceiptState.ENROUTE),
        ("DELETED", ReceiptState.DELETED),
        ("EXPIRED", ReceiptState.EXPIRED),
        ("UNKNOWN", ReceiptState.UNKNOWN),
        ("GARBLED", ReceiptState.UNKNOWN),
    ],
)
def test_stat_words(stat: str, state: ReceiptState) -> None:
    assert receipt(f"id:1 stat:{stat}".encode()).state is state


def test_the_tlvs_win_over_the_text() -> None:
    found = receipt(APPENDIX_B, tlv_id=" 1A2B ", tlv_state=5)
    assert (found.message_id, found.state) == ("1A2B", ReceiptState.UNDELIV)


@pytest.mark.parametrize(("value", "state"), list(enumerate(ReceiptState, start=1)))
def test_message_state_tlv_values(value: int, state: ReceiptState) -> None:
    assert receipt(b"", tlv_id="x", tlv_state=value).state is state


def test_an_out_of_range_message_state_falls_back_to_the_text() -> None:
    assert receipt(b"stat:DELIVRD", tlv_id="x", tlv_state=9).state is ReceiptState.DELIVRD
    assert receipt(b"stat:REJECTD", tlv_id="x", tlv_state=0).state is ReceiptState.REJECTD


@pytest.mark.parametrize(
    ("text", "tlv_id", "tlv_state"),
    [
        (b"Hello, how are you?", None, None),  # an inbound message
        (b"stat:DELIVRD", None, None),  # no id
        (b"id:12", None, None),  # no state
        (b"", "12", None),
        (b"", None, 2),
        (b"", "  ", 2),
    ],
)
def test_not_a_receipt(text: bytes, tlv_id: str | None, tlv_state: int | None) -> None:
    assert parse_receipt(text, receipted_message_id=tlv_id, message_state=tlv_state) is None


@settings(max_examples=300)
@given(st.binary(max_size=300), st.none() | st.text(max_size=70), st.none() | st.integers(0, 255))
def test_parse_receipt_never_raises(text: bytes, tlv_id: str | None, state: int | None) -> None:
    found = parse_receipt(text, receipted_message_id=tlv_id, message_state=state)
    assert found is None or (found.message_id and found.state in ReceiptState)


# The fast path (one strict Appendix B match) must read every receipt as the scan does.
# Values and tails are drawn from pieces that could fool it: key words, colons, Latin-1's
# other whitespace (\x1c, \x85, \xa0), and what makes a key of err's value's end.
SPACES = "".join(c for c in map(chr, range(256)) if c.isspace())
WORD = st.text(st.characters(max_codepoint=0xFF, exclude_characters=SPACES + ":"), min_size=1)
PIECES = ["stat", "ID", "err", "text", "done date", "-", ":", " ", "\xa0", "\x85", "\x1c", "_"]
VALUE = st.one_of(
    WORD,
    st.sampled_from([s.value for s in ReceiptState] + ["DELIVERED", "failed", "000", "0x0D"]),
    st.lists(st.sampled_from(PIECES) | WORD, max_size=4).map("".join),
)
DIGITS = st.text("0123456789", min_size=1, max_size=12)
KEYS = ("id", "sub", "dlvrd", "submit date", "done date", "stat", "err")


def cased(word: str) -> st.SearchStrategy[str]:
    flips = st.lists(st.booleans(), min_size=len(word), max_size=len(word))
    return flips.map(
        lambda up: "".join(c.upper() if u else c for c, u in zip(word, up, strict=True))
    )


TEXT = st.builds(
    " {}:{}".format, cased("text"), st.sampled_from(["Hello", "stat:UNDELIV id:6", ""]) | VALUE
)


@st.composite
def receipts(draw: st.DrawFn, *, clean: bool) -> str:
    """Appendix B receipts: with `clean`, as written but for the keys' case; else with any
    separators, values and tail, drawn to break the fast path's assumptions."""
    parts = []
    for key in KEYS:
        if clean:
            parts.append(f"{draw(cased(key))}:{draw(DIGITS if 'date' in key else WORD)}")
            continue
        separator = draw(st.sampled_from([" ", " ", " ", "  ", "\xa0", "_", ""]))
        name = draw(cased(key.replace(" ", separator)))
        colon = draw(st.sampled_from([":", ":", " :"]))
        parts.append(f"{name}{colon}{draw(DIGITS | VALUE if 'date' in key else VALUE)}")
    tail = st.just("") | TEXT
    if not clean:
        tail |= st.lists(st.sampled_from(PIECES) | VALUE, max_size=3).map("".join)
    return " ".join(parts) + draw(tail)


@settings(max_examples=500)
@given(receipts(clean=True))
def test_a_standard_receipt_takes_the_fast_path_and_reads_as_the_scan_does(text: str) -> None:
    assert _STANDARD_RECEIPT.match(text) is not None
    assert receipt_fields(text) == scan_receipt(text)


@settings(max_examples=1000)
@given(receipts(clean=False) | receipts(clean=True))
def test_any_receipt_reads_the_same_by_either_path(text: str) -> None:
    assert receipt_fields(text) == scan_receipt(text)
    data = text.encode("latin-1")
    # A leading space is not Appendix B, so parse_receipt scans it; the scan reads it alike.
    fast = parse_receipt(data, receipted_message_id=None, message_state=None)
    assert fast == parse_receipt(b" " + data, receipted_message_id=None, message_state=None)


# -- receipt outcomes ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("state", "err", "outcome"),
    [
        (ReceiptState.DELIVRD, "001", (True, True, None)),
        (ReceiptState.ENROUTE, None, (False, False, None)),
        (ReceiptState.ACCEPTD, None, (False, False, None)),
        (ReceiptState.UNDELIV, None, (True, False, 30003)),
        (ReceiptState.UNDELIV, "000", (True, False, 30003)),
        (ReceiptState.UNDELIV, "001", (True, False, 30005)),
        (ReceiptState.UNDELIV, "5", (True, False, 30005)),
        (ReceiptState.UNDELIV, "011", (True, False, 30006)),
        (ReceiptState.UNDELIV, "021", (True, False, 30006)),
        (ReceiptState.UNDELIV, "013", (True, False, 30004)),
        (ReceiptState.UNDELIV, "0x0D", (True, False, 30004)),
        (ReceiptState.UNDELIV, "027", (True, False, 30003)),
        (ReceiptState.UNDELIV, "034", (True, False, 30008)),
        (ReceiptState.UNDELIV, "E42", (True, False, 30003)),
        (ReceiptState.EXPIRED, None, (True, False, 30003)),
        (ReceiptState.EXPIRED, "001", (True, False, 30005)),
        (ReceiptState.REJECTD, "000", (True, False, 30007)),
        (ReceiptState.DELETED, None, (True, False, 30008)),
        (ReceiptState.UNKNOWN, None, (True, False, 30008)),
    ],
)
def test_receipt_outcomes(
    state: ReceiptState, err: str | None, outcome: tuple[bool, bool, int | None]
) -> None:
    assert receipt_outcome(report(state, err)) == outcome
    final, delivered, code = receipt_outcome(report(state, err))
    assert ReceiptOutcome(final=final, delivered=delivered, error_code=code) == outcome


# -- message ids ---------------------------------------------------------------------------


def test_canonical_message_id() -> None:
    assert canonical_message_id("  000ABC12 ") == "abc12"
    assert canonical_message_id("000") == "0"


def test_candidates_cover_decimal_and_hex_forms() -> None:
    assert message_id_candidates("00123") == ("123", "7b", "291")
    assert message_id_candidates("7B") == ("7b", "123")
    assert message_id_candidates("msg-1") == ("msg-1",)
    assert message_id_candidates("0") == ("0",)


@given(st.integers(0, 2**64))
def test_a_receipt_finds_its_message_in_either_base(number: int) -> None:
    decimal, hexadecimal = str(number), format(number, "X").zfill(10)
    assert canonical_message_id(decimal) in message_id_candidates(hexadecimal)
    assert canonical_message_id(hexadecimal) in message_id_candidates(decimal)


@given(st.text(max_size=80))
def test_candidates_never_raise_and_start_canonical(raw: str) -> None:
    assert message_id_candidates(raw)[0] == canonical_message_id(raw)


# -- concatenation -------------------------------------------------------------------------


def test_concat_udh_bytes() -> None:
    assert concat_udh(0x42, 3, 1) == bytes.fromhex("050003420301")
    assert concat_udh(0x1234, 3, 2, wide=True) == bytes.fromhex("06080412340302")


@pytest.mark.parametrize(
    ("ref", "total", "seq", "wide"),
    [
        (256, 2, 1, False),
        (-1, 2, 1, False),
        (65536, 2, 1, True),
        (1, 2, 0, False),
        (1, 2, 3, False),
        (1, 256, 1, False),
    ],
)
def test_concat_udh_refuses_what_does_not_fit(ref: int, total: int, seq: int, wide: bool) -> None:
    with pytest.raises(ValueError, match="bad concatenation"):
        concat_udh(ref, total, seq, wide=wide)


def test_concat_reference_is_stable_and_8_bit() -> None:
    refs = {concat_reference(f"SM{i:032x}") for i in range(1000)}
    assert refs <= set(range(256)) and len(refs) > 200
    assert concat_reference("SMabc") == concat_reference("SMabc")


@given(st.integers(0, 255), st.integers(1, 255), st.data(), st.binary(max_size=20))
def test_parse_udh_reads_what_concat_udh_writes(
    ref: int, total: int, data: st.DataObject, text: bytes
) -> None:
    seq = data.draw(st.integers(1, total))
    assert parse_udh(concat_udh(ref, total, seq) + text) == (
        Concat(ref=ref, total=total, seq=seq),
        text,
    )
    wide = data.draw(st.integers(0, 65535))
    assert parse_udh(concat_udh(wide, total, seq, wide=True) + text) == (
        Concat(ref=wide, total=total, seq=seq),
        text,
    )


def test_other_information_elements_are_skipped() -> None:
    port = bytes.fromhex("0504" + "0b840000")  # application port addressing
    udh = bytes([len(port) + 5]) + port + bytes.fromhex("00030a0201")
    assert parse_udh(udh + b"hi") == (Concat(ref=10, total=2, seq=1), b"hi")
    assert parse_udh(bytes([len(port)]) + port + b"hi") == (None, b"hi")


@pytest.mark.parametrize(
    "data",
    [
        b"",
        bytes.fromhex("0a0003010201"),  # UDHL past the end
        bytes.fromhex("0500040102"),  # UDHL past the end
        bytes.fromhex("0400030102"),  # the IE overruns the header
        bytes.fromhex("0300030102ff"),  # the same, with text after
        bytes.fromhex("01ff"),  # an IE without its length
    ],
)
def test_malformed_udh_is_no_udh(data: bytes) -> None:
    assert parse_udh(data) == (None, data)


@pytest.mark.parametrize("udh", ["050003010200", "050003010203", "050003010000"])
def test_a_part_numbered_zero_or_past_its_total_is_ignored(udh: str) -> None:
    assert parse_udh(bytes.fromhex(udh) + b"x") == (None, b"x")


def test_an_empty_udh() -> None:
    assert parse_udh(b"\x00hi") == (None, b"hi")


@settings(max_examples=500)
@given(st.binary(max_size=200))
def test_parse_udh_never_raises(data: bytes) -> None:
    concat, payload = parse_udh(data)
    assert data.endswith(payload)
    assert concat is None or 1 <= concat.seq <= concat.total


# -- text ----------------------------------------------------------------------------------

GSM_TEXT = st.text(alphabet=sorted(GSM7_BASIC | GSM7_EXTENSION), max_size=200)


def test_gsm7_encode_known_codes() -> None:
    assert gsm7_encode("@£$ aZ{€}") == bytes.fromhex("00010220615a1b281b651b29")
    assert gsm7_encode("\f^\\[~]|") == bytes.fromhex("1b0a1b141b2f1b3c1b3d1b3e1b40")


def test_gsm7_encode_refuses_other_characters() -> None:
    with pytest.raises(ValueError, match=r"GSM 03\.38"):
        gsm7_encode("naïve")


@given(GSM_TEXT)
def test_gsm7_round_trips(text: str) -> None:
    assert gsm7_decode(gsm7_encode(text)) == text


def test_gsm7_decode_tolerates_what_is_not_gsm() -> None:
    assert gsm7_decode(b"a\x80\xffb") == "a??b"
    assert gsm7_decode(b"a\x1b") == "a "  # ESC at the end
    assert gsm7_decode(b"a\x1b\x1bb") == "a b"  # ESC ESC: a space
    assert gsm7_decode(b"\x1bA") == "A"  # no extension character: the basic one
    assert gsm7_decode(b"\x1b\xff") == "?"


@settings(max_examples=300)
@given(st.binary(max_size=300))
def test_gsm7_decode_never_raises(data: bytes) -> None:
    assert isinstance(gsm7_decode(data), str)


@given(st.text(max_size=100))
def test_ucs2_round_trips_including_surrogate_pairs(text: str) -> None:
    assert ucs2_decode(ucs2_encode(text)) == text


def test_ucs2_is_big_endian_utf16() -> None:
    assert ucs2_encode("A😀") == bytes.fromhex("0041d83dde00")
    assert ucs2_decode(bytes.fromhex("0041d83dde0000")) == "A😀"  # odd last octet dropped
    assert ucs2_decode(bytes.fromhex("d83d0041")) == "\ufffdA"  # lone surrogate


@settings(max_examples=300)
@given(st.binary(max_size=300))
def test_ucs2_decode_never_raises(data: bytes) -> None:
    assert isinstance(ucs2_decode(data), str)


@pytest.mark.parametrize(
    ("coding", "data", "text"),
    [
        (0, b"\x00\x1b\x65", "@€"),
        (8, "é😀".encode("utf-16-be"), "é😀"),
        (1, b"plain", "plain"),
        (3, "café".encode("latin-1"), "café"),
        (4, b"\xff", "\xff"),
    ],
)
def test_decode_text_by_data_coding(coding: int, data: bytes, text: str) -> None:
    assert decode_text(data, coding) == text


# -- reassembly ----------------------------------------------------------------------------


def add(
    parts: Reassembly,
    seq: int,
    payload: bytes,
    *,
    total: int = 3,
    coding: int = 0,
    now: float = 0.0,
    ref: int = 7,
) -> Reassembled | None:
    return parts.add(
        source="+15550001",
        destination="+15550002",
        concat=Concat(ref=ref, total=total, seq=seq),
        payload=payload,
        data_coding=coding,
        now_s=now,
    )


def test_parts_in_any_order_make_the_message() -> None:
    parts = Reassembly()
    assert add(parts, 3, b"!") is None
    assert add(parts, 1, b"Hello ") is None
    assert len(parts) == 1
    whole = add(parts, 2, b"world", now=5.0)
    assert whole is not None
    assert (whole.text, whole.missing, whole.total, whole.first_at) == ("Hello world!", (), 3, 0.0)
    assert whole.key == PartKey("+15550001", "+15550002", 7)
    assert len(parts) == 0


def test_a_duplicate_part_or_one_past_the_total_counts_once() -> None:
    parts = Reassembly()
    assert add(parts, 1, b"a", total=2) is None
    assert add(parts, 1, b"b", total=2) is None
    assert add(parts, 3, b"c", total=3) is None  # the first part said 2
    whole = add(parts, 2, b"d", total=2)
    assert whole is not None and whole.text == "ad"


def test_a_single_part_is_whole_at_once() -> None:
    whole = add(Reassembly(), 1, b"hi", total=1)
    assert whole is not None and whole.text == "hi"


def test_a_surrogate_pair_or_escape_cut_between_parts_is_joined() -> None:
    emoji = "😀".encode("utf-16-be")
    parts = Reassembly()
    add(parts, 1, emoji[:2], total=2, coding=8)
    whole = add(parts, 2, emoji[2:], total=2, coding=8)
    assert whole is not None and whole.text == "😀"
    add(parts, 1, b"a\x1b", total=2, ref=8)
    whole = add(parts, 2, b"\x65", total=2, ref=8)
    assert whole is not None and whole.text == "a€"


def test_parts_of_different_codings_are_decoded_each() -> None:
    parts = Reassembly()
    add(parts, 1, b"\x1b\x65", total=2, coding=0)
    whole = add(parts, 2, "é".encode("utf-16-be"), total=2, coding=8)
    assert whole is not None and whole.text == "€é"


def test_expired_messages_come_out_with_what_they_have() -> None:
    parts = Reassembly()
    add(parts, 1, b"first", total=3, now=10.0)
    add(parts, 3, b" last", total=3, now=12.0)
    add(parts, 1, b"young", total=2, now=50.0, ref=9)
    assert parts.expired(now_s=69.9, timeout_s=60.0) == []
    (old,) = parts.expired(now_s=70.0, timeout_s=60.0)
    assert (old.text, old.missing, old.first_at, old.key.ref) == ("first last", (2,), 10.0, 7)
    assert len(parts) == 1
    assert [m.key.ref for m in parts.expired(now_s=110.0, timeout_s=60.0)] == [9]
    assert len(parts) == 0
