"""GSM-7/UCS-2 detection, Smart Encoding and segmenting: the shared vectors, the edges
of each segment size, and the laws every split must keep (Hypothesis)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest
import regex
from hypothesis import given, settings
from hypothesis import strategies as st

from herald.domain.encoding import (
    GSM7_BASIC,
    GSM7_EXTENSION,
    SMART_ENCODING,
    EncodedBody,
    Encoding,
    count_segments,
    encode_body,
    is_gsm7,
    smart_encode,
    utf16_length,
)

VECTORS_FILE = Path(__file__).resolve().parent.parent / "vectors" / "segments.jsonl"
VECTOR_KEYS = {"body", "smart", "expected_encoding", "expected_segments", "body_after_smart"}

FAMILY = "👨\u200d👩\u200d👧\u200d👦"  # 7 code points, 11 UTF-16 units, one cluster
FLAG = "🇺🇸"  # two regional indicators, 4 units
THUMBS = "👍🏽"  # emoji + skin-tone modifier, 4 units


def _load_vectors() -> list[dict[str, Any]]:
    lines = VECTORS_FILE.read_text(encoding="utf-8").split("\n")  # not splitlines: U+2028
    return [json.loads(line) for line in lines if line.strip()]


VECTORS = _load_vectors()


def _vector_id(number: int, vector: dict[str, Any]) -> str:
    mode = "smart" if vector["smart"] else "plain"
    shown = ascii(vector["body"][:24])
    return f"L{number}-{mode}-{vector['expected_encoding']}x{vector['expected_segments']}-{shown}"


def test_vectors_have_only_known_keys() -> None:
    """A key this test does not check would be silently ignored; fail instead."""
    assert VECTORS, "no vectors loaded"
    for vector in VECTORS:
        assert set(vector) == VECTOR_KEYS


@pytest.mark.parametrize(
    "vector",
    VECTORS,
    ids=[_vector_id(number, vector) for number, vector in enumerate(VECTORS, start=1)],
)
def test_vector(vector: dict[str, Any]) -> None:
    body = encode_body(vector["body"], smart=vector["smart"])
    assert body.encoding == vector["expected_encoding"]
    assert body.num_segments == vector["expected_segments"]
    assert body.text == vector["body_after_smart"]
    assert "".join(body.segments) == body.text
    assert count_segments(vector["body"], smart=vector["smart"]) == vector["expected_segments"]


# --- values ----------------------------------------------------------------------------


def test_encoding_values_are_the_wire_strings() -> None:
    assert [e.value for e in Encoding] == ["GSM-7", "UCS-2"]


def test_encoded_body_is_frozen_and_keyword_only() -> None:
    body = encode_body("hi", smart=False)
    assert body == EncodedBody(text="hi", encoding=Encoding.GSM7, segments=("hi",), units=2)
    with pytest.raises(dataclasses.FrozenInstanceError):
        body.text = "changed"  # type: ignore[misc]
    with pytest.raises(TypeError):
        EncodedBody("hi", Encoding.GSM7, ("hi",), 2)  # type: ignore[call-arg]


def test_empty_body_is_one_empty_gsm7_segment() -> None:
    body = encode_body("", smart=True)
    assert (body.encoding, body.segments, body.units, body.num_segments) == (
        Encoding.GSM7,
        ("",),
        0,
        1,
    )


# --- alphabet --------------------------------------------------------------------------


def test_capital_c_cedilla_is_gsm7_but_small_is_not() -> None:
    assert is_gsm7("Ç")
    assert not is_gsm7("ç")
    assert encode_body("garçon", smart=False).encoding is Encoding.UCS2
    assert encode_body("GARÇON", smart=False).encoding is Encoding.GSM7


@pytest.mark.parametrize("char", ["`", "\t", "\x00", "\x1b", "\x7f", "á", "\u00a0"])
def test_characters_outside_gsm7(char: str) -> None:
    assert not is_gsm7(f"a{char}b")


def test_alphabet_sizes() -> None:
    assert len(GSM7_BASIC) == 127  # 128 codes less ESC
    assert set("\f^{}\\[~]|€") == GSM7_EXTENSION
    assert is_gsm7("".join(GSM7_BASIC | GSM7_EXTENSION))


def test_euro_costs_two_septets() -> None:
    assert encode_body("€", smart=False).units == 2
    assert encode_body("10€", smart=False).units == 4
    assert count_segments("€" * 80) == 1  # exactly 160 septets
    assert count_segments("€" * 81) == 2


# --- segment boundaries ----------------------------------------------------------------


def test_gsm7_160_is_one_segment_161_is_two() -> None:
    assert encode_body("a" * 160, smart=False).segments == ("a" * 160,)
    assert encode_body("a" * 161, smart=False).segments == ("a" * 153, "a" * 8)


def test_ucs2_70_is_one_segment_71_is_two() -> None:
    assert encode_body("ж" * 70, smart=False).segments == ("ж" * 70,)
    assert encode_body("ж" * 71, smart=False).segments == ("ж" * 67, "ж" * 4)


def test_extension_char_on_the_153rd_septet_moves_whole() -> None:
    body = encode_body("a" * 152 + "€" + "b" * 10, smart=False)
    assert body.segments == ("a" * 152, "€" + "b" * 10)
    assert body.units == 164


def test_extension_char_ending_on_the_153rd_septet_stays() -> None:
    body = encode_body("a" * 151 + "]" + "b" * 10, smart=False)
    assert body.segments == ("a" * 151 + "]", "b" * 10)


def test_gsm7_carriage_return_line_feed_is_not_split() -> None:
    body = encode_body("a" * 152 + "\r\n" + "b" * 10, smart=False)
    assert body.segments == ("a" * 152, "\r\nb" + "b" * 9)


def test_emoji_straddling_the_67th_unit_moves_whole() -> None:
    body = encode_body("a" * 66 + "😀" + "b" * 10, smart=False)
    assert body.segments == ("a" * 66, "😀" + "b" * 10)
    assert body.units == 78


def test_emoji_ending_on_the_67th_unit_stays() -> None:
    body = encode_body("a" * 65 + "😀" + "b" * 10, smart=False)
    assert body.segments == ("a" * 65 + "😀", "b" * 10)


def test_astral_characters_without_clusters_pack_two_units_each() -> None:
    body = encode_body("𝐀" * 40, smart=False)
    assert body.segments == ("𝐀" * 33, "𝐀" * 7)
    assert body.units == 80


@pytest.mark.parametrize("cluster", [FAMILY, FLAG, THUMBS, "e\u0301", "❤️"])
def test_grapheme_cluster_at_the_boundary_moves_whole(cluster: str) -> None:
    lead = "a" * (67 - utf16_length(cluster) + 1)  # one unit short of fitting
    body = encode_body(lead + cluster + "b" * 10, smart=False)
    assert body.segments == (lead, cluster + "b" * 10)


def test_grapheme_cluster_that_just_fits_stays() -> None:
    lead = "a" * (67 - utf16_length(FAMILY))
    body = encode_body(lead + FAMILY + "b" * 10, smart=False)
    assert body.segments == (lead + FAMILY, "b" * 10)


def test_cluster_larger_than_a_segment_falls_back_to_code_points() -> None:
    """Nothing could keep 101 units in one 67-unit part, so the cut goes between code points."""
    huge = "e" + "\u0301" * 100
    body = encode_body("x" + huge, smart=False)
    assert [utf16_length(s) for s in body.segments] == [67, 35]
    assert "".join(body.segments) == "x" + huge


def test_utf16_length() -> None:
    assert [utf16_length(t) for t in ["", "a", "é", "中", "😀", FLAG, FAMILY]] == [
        0,
        1,
        1,
        1,
        2,
        4,
        11,
    ]


# --- Smart Encoding --------------------------------------------------------------------


def test_smart_encoding_of_quotes_ellipsis_and_nbsp() -> None:
    text = "“Hi” ‘there’\u00a0friend…"
    assert smart_encode(text) == "\"Hi\" 'there' friend..."
    body = encode_body(text, smart=True)
    assert (body.encoding, body.text) == (Encoding.GSM7, "\"Hi\" 'there' friend...")


def test_smart_encoding_is_not_kept_when_an_emoji_remains() -> None:
    text = "“Party” — tonight… 🎉"
    body = encode_body(text, smart=True)
    assert (body.encoding, body.text) == (Encoding.UCS2, text)


def test_smart_encoding_only_when_asked() -> None:
    body = encode_body("it’s", smart=False)
    assert (body.encoding, body.text) == (Encoding.UCS2, "it’s")


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("\t", " " * 7),
        ("\u2017", "_"),
        ("\u203c", "!!"),
        ("\u00bd", "1/2"),
        ("\u2039\u203a", "><"),
        ("\u200b\u2060\ufeff\x00", ""),
        ("\u2001\u2028\u3000", "   "),
        ("ｗｉｆｉ", "ｗｉｆｉ"),  # fullwidth small letters are not in the map
        ("ＷＩＦＩ１２", "WIFI12"),
        ("ʜᴇʟʟᴏ", "HELLO"),
        ("\u2013\u2014\u2022", "---"),
    ],
)
def test_smart_encoding_map_entries(source: str, expected: str) -> None:
    assert smart_encode(source) == expected


def test_smart_encoding_maps_non_gsm_to_gsm() -> None:
    """Keys outside GSM-7 make smart encoding a no-op on GSM-7 text."""
    assert not any(chr(key) in GSM7_BASIC | GSM7_EXTENSION for key in SMART_ENCODING)
    assert all(is_gsm7(value) for value in SMART_ENCODING.values())
    assert len(SMART_ENCODING) == 270


def test_smart_encoding_counts_the_replacement_length() -> None:
    """An ellipsis becomes three septets: 157 + 3 fits one segment, 158 + 3 does not."""
    assert count_segments("a" * 157 + "…", smart=True) == 1
    assert count_segments("a" * 158 + "…", smart=True) == 2
    assert count_segments("a" * 158 + "…") == 3  # UCS-2 without it


# --- laws ------------------------------------------------------------------------------

# Hypothesis keeps strings short, so texts are padded or repeated to reach the cuts.
GSM7_TRICKY = ["a", "€", "]", "{", "\r\n", "\r", "\n", "Ç", "@"]
TRICKY = [
    *("a", "é", "ж", "中", "€", "{", "\r", "\n", "😀", "👍", "🏽", "\u200d", "\ufe0f"),
    *("\u0301", "🇺", "🇸", "👨", "𝐀", "한", "\u1100", "\u1161", "क", "\u094d", "ा"),
]
CLUSTERS = [FAMILY, FLAG, THUMBS, "e\u0301", "\r\n", "😀", "ж", "a"]


def _padded(tail: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    """Tail after a run of "a", often landing near the 67-unit or 153-septet cut."""
    pad = st.one_of(st.integers(0, 170), st.integers(55, 70), st.integers(140, 156))
    return st.builds(lambda size, rest: "a" * size + rest, pad, tail)


def _repeated(pieces: list[str]) -> st.SearchStrategy[str]:
    unit = st.lists(st.sampled_from(pieces), min_size=1, max_size=5).map("".join)
    return st.builds(lambda text, times: text * times, unit, st.integers(1, 150))


TEXTS = st.one_of(
    _padded(st.text(alphabet=sorted(GSM7_BASIC | GSM7_EXTENSION), max_size=40)),
    _padded(st.lists(st.sampled_from(GSM7_TRICKY), max_size=30).map("".join)),
    _repeated(GSM7_TRICKY),
    _padded(st.text(alphabet=TRICKY, max_size=40)),
    _repeated(TRICKY),
    _repeated(CLUSTERS),
    st.text(max_size=300),
)


def _septets(text: str) -> int:
    return sum(2 if char in GSM7_EXTENSION else 1 for char in text)


def _size(body: EncodedBody, text: str) -> int:
    return _septets(text) if body.encoding is Encoding.GSM7 else utf16_length(text)


def _limits(body: EncodedBody) -> tuple[int, int]:
    return (160, 153) if body.encoding is Encoding.GSM7 else (70, 67)


def _clusters(text: str) -> list[tuple[int, int]]:
    return [match.span() for match in regex.finditer(r"\X", text)]


def _cuts(body: EncodedBody) -> list[int]:
    cuts, position = [], 0
    for segment in body.segments[:-1]:
        position += len(segment)
        cuts.append(position)
    return cuts


@settings(deadline=None)
@given(TEXTS, st.booleans())
def test_segments_join_back_to_the_text(text: str, smart: bool) -> None:
    body = encode_body(text, smart=smart)
    assert "".join(body.segments) == body.text
    if not smart:
        assert body.text == text
    assert count_segments(text, smart=smart) == len(body.segments) == body.num_segments


@settings(deadline=None)
@given(TEXTS)
def test_every_segment_fits(text: str) -> None:
    body = encode_body(text, smart=False)
    single, part = _limits(body)
    assert body.units == _size(body, text)
    assert body.encoding is (Encoding.GSM7 if is_gsm7(text) else Encoding.UCS2)
    if body.num_segments == 1:
        assert body.units <= single
    else:
        assert body.units > single
        assert all(0 < _size(body, s) <= part for s in body.segments)


@settings(deadline=None)
@given(TEXTS)
def test_no_surrogate_pair_or_escape_pair_is_cut(text: str) -> None:
    """Each segment is valid UTF-16 on its own, and its units add up to the whole."""
    body = encode_body(text, smart=False)
    for segment in body.segments:
        assert not segment or not "\ud800" <= segment[-1] <= "\udbff"
        assert segment.encode("utf-16-le").decode("utf-16-le") == segment  # strict: no halves
    if body.encoding is Encoding.GSM7:
        assert sum(map(_septets, body.segments)) == body.units
    else:
        assert sum(map(utf16_length, body.segments)) == body.units


@settings(deadline=None)
@given(TEXTS)
def test_no_grapheme_cluster_that_fits_is_split(text: str) -> None:
    body = encode_body(text, smart=False)
    _, part = _limits(body)
    for cut in _cuts(body):
        for start, end in _clusters(text):
            if start < cut < end:
                assert _size(body, text[start:end]) > part, (cut, text[start:end])


@settings(deadline=None)
@given(TEXTS)
def test_each_full_segment_could_not_take_the_next_cluster(text: str) -> None:
    """Greedy packing: a part is closed only when the next cluster would not fit."""
    body = encode_body(text, smart=False)
    _, part = _limits(body)
    starts = {start: end for start, end in _clusters(text)}
    for index, cut in enumerate(_cuts(body)):
        whole = cut in starts and _size(body, text[cut : starts[cut]]) <= part
        following = text[cut : starts[cut]] if whole else text[cut]
        assert _size(body, body.segments[index]) + _size(body, following) > part
