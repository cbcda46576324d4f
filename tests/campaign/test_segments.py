"""The campaign's local segment count: the edges of each segment size, the shared
vectors, and agreement with Herald's own encoder on random text (Hypothesis)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from herald.campaign.segments import GSM7_BASIC, GSM7_EXTENSION, Encoding, Segments, count
from herald.domain.encoding import encode_body

VECTORS_FILE = Path(__file__).resolve().parent.parent / "vectors" / "segments.jsonl"
EXTENSION = "\f^{}\\[~]|€"
EMOJI = "😀"  # U+1F600, a surrogate pair
FAMILY = "👨\u200d👩\u200d👧\u200d👦"  # 7 code points, 11 UTF-16 units, one cluster
FLAG = "🇺🇸"  # two regional indicators, 4 units, one cluster


def _vectors() -> list[dict[str, Any]]:
    lines = VECTORS_FILE.read_text(encoding="utf-8").split("\n")  # not splitlines: U+2028
    vectors = [json.loads(line) for line in lines if line.strip()]
    return [vector for vector in vectors if not vector["smart"]]


def test_encoding_values_are_herald_wire_strings() -> None:
    assert [e.value for e in Encoding] == ["GSM-7", "UCS-2"]
    assert count("a").encoding == encode_body("a", smart=False).encoding.value == "GSM-7"
    assert count("ж").encoding == encode_body("ж", smart=False).encoding.value == "UCS-2"


def test_segments_is_frozen_and_keyword_only() -> None:
    result = count("hi")
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.segments = 2  # type: ignore[misc]
    with pytest.raises(TypeError):
        Segments(Encoding.GSM7, 1, 2)  # type: ignore[call-arg]


def test_empty_body_is_one_gsm7_segment_as_herald_bills_it() -> None:
    assert count("") == Segments(encoding=Encoding.GSM7, segments=1, characters=0)
    assert encode_body("", smart=False).num_segments == 1


def test_alphabet_is_the_gsm_03_38_table() -> None:
    assert len(GSM7_BASIC) == 127  # 128 codes less ESC
    assert set(EXTENSION) == GSM7_EXTENSION


@pytest.mark.parametrize(("size", "parts"), [(160, 1), (161, 2), (306, 2), (307, 3)])
def test_gsm7_single_is_160_septets_then_parts_of_153(size: int, parts: int) -> None:
    assert count("a" * size) == Segments(encoding=Encoding.GSM7, segments=parts, characters=size)


@pytest.mark.parametrize("char", list(EXTENSION))
def test_each_extension_character_costs_two_septets(char: str) -> None:
    assert count(char * 80) == Segments(encoding=Encoding.GSM7, segments=1, characters=160)
    assert count(char * 80 + "a") == Segments(encoding=Encoding.GSM7, segments=2, characters=161)


def test_escape_pair_straddling_the_153rd_septet_moves_whole() -> None:
    # 306 septets would divide into 2 parts, but the € cannot start on septet 153.
    body = "a" * 152 + "€" + "a" * 152
    assert count(body) == Segments(encoding=Encoding.GSM7, segments=3, characters=306)


def test_escape_pair_ending_on_the_153rd_septet_stays() -> None:
    body = "a" * 151 + "€" + "a" * 153
    assert count(body) == Segments(encoding=Encoding.GSM7, segments=2, characters=306)


def test_gsm7_carriage_return_line_feed_is_not_split() -> None:
    assert count("a" * 152 + "\r\n" + "a" * 152).segments == 3
    assert count("a" * 152 + "\n\r" + "a" * 152).segments == 2  # LF CR is two clusters


@pytest.mark.parametrize(("size", "parts"), [(70, 1), (71, 2), (134, 2), (135, 3)])
def test_ucs2_single_is_70_units_then_parts_of_67(size: int, parts: int) -> None:
    assert count("ж" * size) == Segments(encoding=Encoding.UCS2, segments=parts, characters=size)


def test_emoji_straddling_the_67th_unit_moves_whole() -> None:
    body = "ж" * 66 + EMOJI + "ж" * 66
    assert count(body) == Segments(encoding=Encoding.UCS2, segments=3, characters=134)


def test_emoji_ending_on_the_67th_unit_stays() -> None:
    body = "ж" * 65 + EMOJI + "ж" * 67
    assert count(body) == Segments(encoding=Encoding.UCS2, segments=2, characters=134)


def test_emoji_count_two_units_each() -> None:
    assert count(EMOJI * 35) == Segments(encoding=Encoding.UCS2, segments=1, characters=70)
    assert count(EMOJI * 36) == Segments(encoding=Encoding.UCS2, segments=2, characters=72)


@pytest.mark.parametrize("cluster", [FAMILY, FLAG, "e\u0301", "❤️"])
def test_grapheme_cluster_straddling_the_67th_unit_moves_whole(cluster: str) -> None:
    # Its first code point would end part 1 exactly, and 134 units would divide into 2.
    pad = 67 - len(cluster[0].encode("utf-16-le")) // 2
    units = len(cluster.encode("utf-16-le")) // 2
    body = "ж" * pad + cluster + "ж" * (134 - pad - units)
    assert count(body) == Segments(encoding=Encoding.UCS2, segments=3, characters=134)


def test_one_non_gsm_character_turns_the_body_to_ucs2() -> None:
    assert count("a" * 100) == Segments(encoding=Encoding.GSM7, segments=1, characters=100)
    assert count("a" * 100 + "ç") == Segments(encoding=Encoding.UCS2, segments=2, characters=101)
    assert count("Ç").encoding == Encoding.GSM7  # capital C-cedilla is in the table, §7.2
    assert count("€" * 50 + EMOJI) == Segments(encoding=Encoding.UCS2, segments=1, characters=52)


@pytest.mark.parametrize("char", ["`", "\t", "\x1b", "\u00a0", "á", "\u2026"])
def test_no_smart_encoding_of_look_alikes(char: str) -> None:
    assert count(char).encoding == Encoding.UCS2


@pytest.mark.parametrize("vector", _vectors(), ids=lambda v: repr(v["body"][:20]))
def test_shared_vector(vector: dict[str, Any]) -> None:
    result = count(vector["body"])
    assert (result.encoding, result.segments) == (
        vector["expected_encoding"],
        vector["expected_segments"],
    )


def _padded(tail: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    """Random text behind a run of "a" that puts it near a segment edge."""
    pad = st.one_of(st.integers(0, 170), st.integers(55, 70), st.integers(140, 156))
    return st.builds(lambda size, rest: "a" * size + rest, pad, tail)


GSM7_TEXT = st.text(alphabet=sorted(GSM7_BASIC | GSM7_EXTENSION), max_size=400)
ESCAPE_HEAVY = st.lists(
    st.one_of(st.sampled_from(EXTENSION), st.sampled_from(sorted(GSM7_BASIC))), max_size=200
).map("".join)
CLUSTERS = [EMOJI, FAMILY, FLAG, "e\u0301", "❤️", "\r\n", "ж", "€", "a"]
TEXTS = st.one_of(
    GSM7_TEXT,
    _padded(ESCAPE_HEAVY),
    _padded(st.text(max_size=60)),  # any code point, astral included
    _padded(st.lists(st.sampled_from(CLUSTERS), max_size=80).map("".join)),
    st.text(max_size=300),
)


@settings(deadline=None, max_examples=500)
@given(TEXTS)
def test_agrees_with_herald_encoder(body: str) -> None:
    expected = encode_body(body, smart=False)
    assert count(body) == Segments(
        encoding=Encoding(expected.encoding.value),
        segments=expected.num_segments,
        characters=expected.units,
    )
