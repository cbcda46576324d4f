"""Encoding and segment count of an SMS body, for a dry run against an API that cannot
preview: GSM-7 when every character is in the GSM 03.38 basic or extension table, else
UCS-2; one segment holds 160 septets / 70 UTF-16 units, a concatenated part 153 / 67.

Parts are packed greedily and a part never cuts a GSM escape pair, a surrogate pair or a
grapheme cluster that fits in one part, as Twilio's segment calculator does (reference
§7.1), so the count is not a division. The body is counted as given: Smart Encoding is
the server's job (Twilio applies it per service or per message, §7.4) and can change both
the encoding and the count. Self-contained, as a client of the public API must be.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum

import regex


class Encoding(StrEnum):
    """The wire strings Herald and Twilio's segment calculator report."""

    GSM7 = "GSM-7"
    UCS2 = "UCS-2"


@dataclass(frozen=True, slots=True, kw_only=True)
class Segments:
    """How a body would be sent; an empty body is still one segment, as Twilio bills it."""

    encoding: Encoding
    segments: int
    characters: int  # septets for GSM-7 (extension characters count 2), UTF-16 units for UCS-2


GSM7_SINGLE = 160
GSM7_PART = 153  # the 6-octet concatenation header leaves 1072 bits
UCS2_SINGLE = 70
UCS2_PART = 67

# GSM 03.38 default alphabet without ESC (0x1B), one septet each; reference §7.2.
GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
# Reached through ESC, two septets each; reference §7.3.
GSM7_EXTENSION = frozenset("\f^{}\\[~]|€")
_GSM7 = GSM7_BASIC | GSM7_EXTENSION

_CLUSTER = regex.compile(r"\X")  # extended grapheme cluster, UAX #29
_ASTRAL = re.compile("[\U00010000-\U0010ffff]")  # a surrogate pair in UTF-16


def count(body: str) -> Segments:
    """Encoding, segments and length in the encoding's units of `body`, without Smart Encoding."""
    if _GSM7.issuperset(body):
        septets = _septets(body)
        parts = 1 if septets <= GSM7_SINGLE else _pack(_gsm7_atoms(body), GSM7_PART)
        return Segments(encoding=Encoding.GSM7, segments=parts, characters=septets)
    units = _utf16_units(body)
    parts = 1 if units <= UCS2_SINGLE else _pack(_ucs2_atoms(body), UCS2_PART)
    return Segments(encoding=Encoding.UCS2, segments=parts, characters=units)


def _septets(text: str) -> int:
    return len(text) + sum(map(text.count, GSM7_EXTENSION))


def _utf16_units(text: str) -> int:
    return len(text) + len(_ASTRAL.findall(text))


def _gsm7_atoms(body: str) -> Iterator[int]:
    """Septets of each cluster: a character, an escape pair or CR LF."""
    return (_septets(cluster) for cluster in _CLUSTER.findall(body))


def _ucs2_atoms(body: str) -> Iterator[int]:
    """UTF-16 units of each cluster; one too big for a part is cut between code points,
    which never halves a surrogate pair."""
    for cluster in _CLUSTER.findall(body):
        units = _utf16_units(cluster)
        if units <= UCS2_PART:
            yield units
        else:
            yield from (_utf16_units(point) for point in cluster)


def _pack(atoms: Iterator[int], limit: int) -> int:
    """Parts needed when each atom goes whole into the current part or starts the next."""
    parts, used = 1, 0
    for size in atoms:
        if used + size > limit:
            parts, used = parts + 1, 0
        used += size
    return parts
