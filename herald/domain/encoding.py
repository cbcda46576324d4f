"""SMS encoding: a body is GSM-7 only if every character is in the GSM 03.38 basic or
extension table, otherwise UCS-2; segments hold 160/153 septets or 70/67 UTF-16 units.

A split never cuts a GSM escape pair, a surrogate pair or a grapheme cluster that fits
in one segment (reference §7.1, as Twilio's segment calculator does).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from enum import StrEnum

import regex


class Encoding(StrEnum):
    GSM7 = "GSM-7"
    UCS2 = "UCS-2"


@dataclass(frozen=True, slots=True, kw_only=True)
class EncodedBody:
    """A body as it will be sent; an empty body is still one (empty) segment, as Twilio bills it."""

    text: str
    encoding: Encoding
    segments: tuple[str, ...]
    units: int  # septets for GSM-7 (extension characters count 2), UTF-16 code units for UCS-2

    @property
    def num_segments(self) -> int:
        return len(self.segments)


GSM7_SINGLE = 160
GSM7_PART = 153  # 6-octet concatenation header leaves 1072 bits
UCS2_SINGLE = 70
UCS2_PART = 67

# GSM 03.38 default alphabet without ESC (0x1B); reference §7.2.
_BASIC = (
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
# Reached through ESC, so each costs two septets; reference §7.3.
_EXTENSION = "\f^{}\\[~]|€"
GSM7_BASIC = frozenset(_BASIC)
GSM7_EXTENSION = frozenset(_EXTENSION)
# Scans run in C: on the hot path a compiled class beats iterating the text in Python.
_NOT_GSM7 = re.compile(f"[^{re.escape(_BASIC + _EXTENSION)}]")
_ESCAPED = re.compile(f"[{re.escape(_EXTENSION)}]")
_ASTRAL = re.compile("[\U00010000-\U0010ffff]")  # two UTF-16 code units each
# A code point that may share a grapheme cluster with a neighbour (UAX #29): if none is
# present, every code point is its own cluster and a split needs no segmentation.
_MAY_JOIN = regex.compile(r"[^\p{GCB=Other}\p{GCB=Control}\p{GCB=LF}]")
_CLUSTER = regex.compile(r"\X")

# Smart Encoding, reference §7.4, including the entries marked †; replacement -> sources.
_SMART_GROUPS: dict[str, str] = {
    '"': "\u00ab\u00bb\u201c\u201d\u02ba\u02ee\u201f\u201e\u275d\u275e\u301d\u301e\uff02",
    "'": "\u2018\u2019\u02bb\u02c8\u02bc\u02bd\u02b9\u201b\uff07\u00b4\u02ca\u0060\u02cb"
    "\u275b\u275c\u0313\u0314\ufe10\ufe11",
    "/": "\u00f7\u29f8\u0337\u0338\u2044\u2215\uff0f",
    "1/4": "\u00bc",
    "1/2": "\u00bd",
    "3/4": "\u00be",
    "\\": "\u29f9\u29f5\u20e5\ufe68\uff3c",
    "_": "\u0332\uff3f\u2017",
    "|": "\u20d2\u20d3\u2223\uff5c\u23b8\u23b9\u23d0\u239c\u239f",
    "-": "\u23bc\u23bd\u2015\ufe63\uff0d\u2010\u2043\u2014\u2013\u2022",
    "@": "\ufe6b\uff20",
    "$": "\ufe69\uff04",
    "!": "\u01c3\ufe15\ufe57\uff01",
    "!!": "\u203c",
    "#": "\ufe5f\uff03",
    "%": "\ufe6a\uff05",
    "&": "\ufe60\uff06",
    ",": "\u201a\u0326\ufe50\ufe51\uff0c\uff64\u3001",
    "(": "\u2768\u276a\ufe59\uff08\u27ee\u2985",
    ")": "\u2769\u276b\ufe5a\uff09\u27ef\u2986",
    "*": "\u204e\u2217\u229b\u2722\u2723\u2724\u2725\u2731\u2732\u2733\u273a\u273b\u273c"
    "\u273d\u2743\u2749\u274a\u274b\u29c6\ufe61\uff0a",
    "+": "\u02d6\ufe62\uff0b",
    ".": "\u3002\ufe52\uff0e\uff61",
    "...": "\u2026",
    ":": "\u02d0\u02f8\u2982\ua789\ufe13\uff1a",
    ";": "\u204f\ufe14\ufe54\uff1b",
    "<": "\ufe64\uff1c\u203a",  # U+203A points right but Twilio maps it to "<"
    "=": "\u0347\ua78a\ufe66\uff1d",
    ">": "\ufe65\uff1e\u2039",  # and U+2039 to ">"
    "?": "\ufe16\ufe56\uff1f",
    "^": "\u02c6\u0302\uff3e\u1dcd",
    "{": "\u2774\ufe5b\uff5b",
    "}": "\u2775\ufe5c\uff5d",
    "[": "\uff3b",
    "]": "\uff3d",
    "~": "\u02dc\u02f7\u0303\u0330\u0334\u223c\uff5e",
    # Twilio's calculator emits two spaces for NBSP and the other wide spaces; one, as its
    # docs say "space", so a substitution never adds septets (reference §16.5).
    " ": "\u00a0\u2000\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u202f\u205f"
    "\u3000\u0080\u008d\u0090\u009b\u009f\u2001\u2028\u2029",
    "       ": "\t",  # seven spaces, as Twilio's calculator does
    "": "\u0000\u0003\u0004\u0010\u0011\u0012\u0013\u0014\u0017\u0019\u200b\u2060\ufeff",
}
# Small capitals for A-Z; Unicode has none for Q and X (0 marks the gap).
_SMALL_CAPITALS = (
    0x1D00, 0x0299, 0x1D04, 0x1D05, 0x1D07, 0xA730, 0x0262, 0x029C, 0x026A, 0x1D0A, 0x1D0B,
    0x029F, 0x1D0D, 0x0274, 0x1D0F, 0x1D18, 0, 0x0280, 0xA731, 0x1D1B, 0x1D1C, 0x1D20, 0x1D21,
    0, 0x028F, 0x1D22,
)  # fmt: skip


def _smart_table() -> dict[int, str]:
    table = {ord(source): target for target, sources in _SMART_GROUPS.items() for source in sources}
    table.update({0xFF10 + digit: str(digit) for digit in range(10)})
    for index, small in enumerate(_SMALL_CAPITALS):
        letter = chr(ord("A") + index)
        table[0xFF21 + index] = letter
        if small:
            table[small] = letter
    return table


SMART_ENCODING: Mapping[int, str] = _smart_table()


def is_gsm7(text: str) -> bool:
    """True when every character has a GSM-7 code (basic or extension)."""
    return _NOT_GSM7.search(text) is None


def smart_encode(text: str) -> str:
    """Replace Unicode look-alikes with GSM characters (Twilio's Smart Encoding)."""
    return text.translate(SMART_ENCODING)


def utf16_length(text: str) -> int:
    """UTF-16 code units, which Twilio counts for the 1,600-character limit (error 21617)."""
    if text.isascii():
        return len(text)
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def encode_body(text: str, *, smart: bool) -> EncodedBody:
    """Choose the encoding and split into segments.

    Smart Encoding is kept only when it makes the whole body GSM-7: Twilio does not
    transliterate a body that would stay UCS-2 anyway (reference §7.4).
    """
    if is_gsm7(text):
        return _gsm7_body(text)
    if smart:
        substituted = smart_encode(text)
        if is_gsm7(substituted):
            return _gsm7_body(substituted)
    return _ucs2_body(text)


def count_segments(text: str, *, smart: bool = False) -> int:
    """Segments Twilio would bill (and throttle by) for this body."""
    return encode_body(text, smart=smart).num_segments


def _gsm7_body(text: str) -> EncodedBody:
    septets = len(text) + len(_ESCAPED.findall(text))
    if septets <= GSM7_SINGLE:
        segments: tuple[str, ...] = (text,)
    else:
        segments = _split_by_width(text, _ESCAPED, GSM7_PART)
    return EncodedBody(text=text, encoding=Encoding.GSM7, segments=segments, units=septets)


def _ucs2_body(text: str) -> EncodedBody:
    units = utf16_length(text)
    if units <= UCS2_SINGLE:
        segments: tuple[str, ...] = (text,)
    elif _MAY_JOIN.search(text):
        segments = _split_clusters(text)
    else:
        segments = _split_by_width(text, _ASTRAL, UCS2_PART)
    return EncodedBody(text=text, encoding=Encoding.UCS2, segments=segments, units=units)


def _split_by_width(text: str, wide: re.Pattern[str], limit: int) -> tuple[str, ...]:
    """Greedy parts of `limit` units, for text whose grapheme clusters are its characters
    (CR LF aside): a character costs 2 units when `wide` matches it (a GSM escape pair, a
    surrogate pair) and moves whole to the next part rather than being cut.
    """
    segments: list[str] = []
    start, length = 0, len(text)
    while start < length:
        end = min(length, start + limit)
        excess = end - start + len(wide.findall(text, start, end)) - limit
        while excess > 0:  # each dropped character frees 1 or 2 units: never overshoots
            drop = (excess + 1) // 2
            end -= drop
            excess -= drop + len(wide.findall(text, end, end + drop))
        if text[end - 1] == "\r" and text.startswith("\n", end):
            end -= 1
        segments.append(text[start:end])
        start = end
    return tuple(segments)


def _split_clusters(text: str) -> tuple[str, ...]:
    """Greedy 67-unit parts that move a grapheme cluster whole to the next part.

    A cluster too big for any part is cut between code points; a Python code point is
    never half a surrogate pair, so even then every pair stays whole.
    """
    segments: list[str] = []
    current: list[str] = []
    used = 0
    for atom, units in _cluster_atoms(text):
        if used + units > UCS2_PART:
            segments.append("".join(current))
            current, used = [], 0
        current.append(atom)
        used += units
    segments.append("".join(current))
    return tuple(segments)


def _cluster_atoms(text: str) -> Iterator[tuple[str, int]]:
    for cluster in _CLUSTER.findall(text):
        units = utf16_length(cluster)
        if units <= UCS2_PART:
            yield cluster, units
        else:
            yield from ((point, utf16_length(point)) for point in cluster)
