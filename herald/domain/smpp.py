"""What SMPP 3.4 carries, as values: delivery receipts and the Twilio errors they mean,
the forms one SMSC message id takes, concatenation headers and the reassembly of
inbound parts, and the text codecs of data_coding 0 (GSM 03.38, one septet an octet)
and 8 (UCS-2). Everything read from the wire is parsed tolerantly: SMSCs vary.
"""

from __future__ import annotations

import re
import zlib
from dataclasses import dataclass, field
from enum import StrEnum
from typing import NamedTuple

from herald.domain import delivery_errors
from herald.domain.encoding import _BASIC, _EXTENSION, is_gsm7


class ReceiptState(StrEnum):
    """SMPP 3.4 Appendix B's `stat:` words; the message_state TLV's values in order."""

    ENROUTE = "ENROUTE"
    DELIVRD = "DELIVRD"
    EXPIRED = "EXPIRED"
    DELETED = "DELETED"
    UNDELIV = "UNDELIV"
    ACCEPTD = "ACCEPTD"
    UNKNOWN = "UNKNOWN"
    REJECTD = "REJECTD"


@dataclass(frozen=True, slots=True, kw_only=True)
class DeliveryReport:
    message_id: str  # as the SMSC wrote it; look it up with `message_id_candidates`
    state: ReceiptState
    err: str | None  # the SMSC's own error code, raw
    done_at: str | None  # raw YYMMDDhhmm[ss], the SMSC's local time


class ReceiptOutcome(NamedTuple):
    final: bool
    delivered: bool
    error_code: int | None


_STATE_BY_TLV = dict(enumerate(ReceiptState, start=1))  # message_state 1..8
# By the first five letters, so that vendors' full words ("DELIVERED", "UNDELIVERABLE",
# "REJECTED") read as the seven-letter states; "FAILED" too. Other words: UNKNOWN.
_STATE_BY_PREFIX = {state.value[:5]: state for state in ReceiptState}
_STATE_BY_PREFIX["FAILE"] = ReceiptState.UNDELIV
_KEY_ALIASES = {"status": "stat", "error": "err"}
_RECEIPT_KEY = re.compile(
    r"(?<![a-z0-9_])(id|sub|dlvrd|submit[ _]?date|done[ _]?date|stat(?:us)?|err(?:or)?|text)"
    r"\s*:",
    re.IGNORECASE,
)
# Appendix B exactly, but for the keys' case (ASCII's: the scan's `ſtat` is no `stat`),
# ending there or in ` text:`: the scan's fields in a tenth of its time. No value holds a
# colon, so none holds a key, and \s is str.split()'s whitespace. Anything else is
# scanned, even a different tail: `err:done date:` makes a key of err's value.
_STANDARD_RECEIPT = re.compile(
    r"(?ai:id):([^\s:]+) (?ai:sub):([^\s:]+) (?ai:dlvrd):([^\s:]+)"
    r" (?ai:submit date):([0-9]+) (?ai:done date):([0-9]+)"
    r" (?ai:stat):([^\s:]+) (?ai:err):([^\s:]+)(?:\Z| (?ai:text):)"
)
_STANDARD_KEYS = ("id", "sub", "dlvrd", "submitdate", "donedate", "stat", "err")


def parse_receipt(
    short_message: bytes, *, receipted_message_id: str | None, message_state: int | None
) -> DeliveryReport | None:
    """A delivery receipt from a deliver_sm's text (SMPP 3.4 Appendix B:
    `id:… sub:… dlvrd:… submit date:… done date:… stat:… err:… text:…`) and its
    receipted_message_id and message_state TLVs, which win when present. None when
    there is no message id or no state: then it is not a receipt."""
    found = _receipt_fields(short_message.decode("latin-1"))
    message_id = (receipted_message_id or "").strip() or found.get("id")
    state = _STATE_BY_TLV.get(message_state or 0) or _state_of(found.get("stat"))
    if not message_id or state is None:
        return None
    done_at = found.get("donedate")
    return DeliveryReport(
        message_id=message_id,
        state=state,
        err=found.get("err"),
        done_at=done_at if done_at and done_at.isdecimal() else None,
    )


def _receipt_fields(text: str) -> dict[str, str]:
    """Appendix B by one match, as the scan would read it; anything else by the scan."""
    standard = _STANDARD_RECEIPT.match(text)
    if standard is not None:
        return dict(zip(_STANDARD_KEYS, standard.groups(), strict=True))
    return _scan_receipt(text)


def _scan_receipt(text: str) -> dict[str, str]:
    """Each key's first word, up to `text:`, whose value may hold anything at all."""
    found: dict[str, str] = {}
    keys = list(_RECEIPT_KEY.finditer(text))
    ends = [*(match.start() for match in keys), len(text)][1:]
    for match, end in zip(keys, ends, strict=True):
        key = match.group(1).lower().replace(" ", "").replace("_", "")
        key = _KEY_ALIASES.get(key, key)
        if key == "text":
            break
        words = text[match.end() : end].split()
        if words and key not in found:
            found[key] = words[0]
    return found


def _state_of(stat: str | None) -> ReceiptState | None:
    if stat is None:
        return None
    return _STATE_BY_PREFIX.get(stat[:5].upper(), ReceiptState.UNKNOWN)


# A receipt's `err:` is the SMSC's to define; many report the GSM MAP error (3GPP TS
# 29.002) in decimal. Those below say more than the state does; any other err leaves
# the state's code. No MAP error means "filtered": 30007 comes from REJECTD alone.
ERR_CODES: dict[int, int] = {
    1: delivery_errors.UnknownHandset.code,  # unknownSubscriber
    5: delivery_errors.UnknownHandset.code,  # unidentifiedSubscriber
    6: delivery_errors.UnreachableHandset.code,  # absentSubscriberSM
    11: delivery_errors.LandlineOrUnreachableCarrier.code,  # teleserviceNotProvisioned
    13: delivery_errors.MessageBlocked.code,  # callBarred
    21: delivery_errors.LandlineOrUnreachableCarrier.code,  # facilityNotSupported
    27: delivery_errors.UnreachableHandset.code,  # absentSubscriber
    31: delivery_errors.UnreachableHandset.code,  # subscriberBusyForMT-SMS
    34: delivery_errors.UnknownError.code,  # systemFailure
}
# A failed state's code when its err says nothing more. EXPIRED: the handset stayed out
# of reach for the whole validity period. REJECTD: the SMSC or network refused the
# message itself, as a filter does. DELETED and UNKNOWN give no reason.
STATE_CODES: dict[ReceiptState, int] = {
    ReceiptState.UNDELIV: delivery_errors.UnreachableHandset.code,
    ReceiptState.EXPIRED: delivery_errors.UnreachableHandset.code,
    ReceiptState.REJECTD: delivery_errors.MessageFiltered.code,
    ReceiptState.DELETED: delivery_errors.UnknownError.code,
    ReceiptState.UNKNOWN: delivery_errors.UnknownError.code,
}


def receipt_outcome(report: DeliveryReport) -> ReceiptOutcome:
    """Final or not, delivered or not, and the Twilio error (reference §3.2, 30003–30008)."""
    if report.state is ReceiptState.DELIVRD:
        return ReceiptOutcome(final=True, delivered=True, error_code=None)
    default = STATE_CODES.get(report.state)
    if default is None:  # ENROUTE, ACCEPTD: the SMSC still has it
        return ReceiptOutcome(final=False, delivered=False, error_code=None)
    code = ERR_CODES.get(_err_number(report.err), default)
    return ReceiptOutcome(final=True, delivered=False, error_code=code)


def _err_number(err: str | None) -> int:
    text = (err or "").lower()
    if re.fullmatch(r"[0-9]{1,10}", text):
        return int(text)
    if re.fullmatch(r"0x[0-9a-f]{1,8}", text):
        return int(text, 16)
    return -1


_DECIMAL = re.compile(r"[0-9]{1,38}")  # 38 digits: any 128-bit id, far from int()'s limit
_HEX = re.compile(r"[0-9a-f]{1,32}")


def canonical_message_id(raw: str) -> str:
    """The form an SMSC message id is stored in: trimmed, lower case, no leading zeros."""
    return raw.strip().lower().lstrip("0") or "0"


def message_id_candidates(message_id: str) -> tuple[str, ...]:
    """The canonical forms one SMSC id may have been stored under: many SMSCs answer a
    submit_sm in hexadecimal and write the receipt's id in decimal, or the reverse."""
    canonical = canonical_message_id(message_id)
    forms = [canonical]
    if _DECIMAL.fullmatch(canonical):
        forms.append(format(int(canonical), "x"))
    if _HEX.fullmatch(canonical):
        forms.append(str(int(canonical, 16)))
    return tuple(dict.fromkeys(forms))


@dataclass(frozen=True, slots=True, kw_only=True)
class Concat:
    ref: int
    total: int
    seq: int  # 1-based


def concat_udh(ref: int, total: int, seq: int, *, wide: bool = False) -> bytes:
    """The user data header of one part (3GPP TS 23.040 §9.2.3.24.1): IEI 0x00 with an
    8-bit reference, `05 00 03 ref total seq`, or IEI 0x08 with a 16-bit one."""
    if not 1 <= seq <= total <= 255 or not 0 <= ref < (1 << (16 if wide else 8)):
        raise ValueError(f"bad concatenation: ref {ref}, part {seq} of {total}")
    if wide:
        return bytes((6, 0x08, 4, ref >> 8, ref & 0xFF, total, seq))
    return bytes((5, 0x00, 3, ref, total, seq))


def concat_reference(message_sid: str) -> int:
    """An 8-bit reference that stays the same when a message's parts are resent."""
    return zlib.crc32(message_sid.encode()) & 0xFF


def parse_udh(short_message: bytes) -> tuple[Concat | None, bytes]:
    """The concatenation header (IEI 0x00 or 0x08; others skipped) and the text after
    the UDH. A header that overruns is taken as no header; a part numbered 0 or past
    its total is ignored, as TS 23.040 asks."""
    if not short_message or short_message[0] + 1 > len(short_message):
        return None, short_message
    end = short_message[0] + 1
    concat: Concat | None = None
    pos = 1
    while pos < end:
        if pos + 2 > end or pos + 2 + short_message[pos + 1] > end:
            return None, short_message
        iei, iel = short_message[pos], short_message[pos + 1]
        found = _concat_of(iei, short_message[pos + 2 : pos + 2 + iel])
        pos += 2 + iel
        if found is not None and 1 <= found.seq <= found.total:
            concat = found
    return concat, short_message[end:]


def _concat_of(iei: int, value: bytes) -> Concat | None:
    if iei == 0x00 and len(value) == 3:
        return Concat(ref=value[0], total=value[1], seq=value[2])
    if iei == 0x08 and len(value) == 4:
        return Concat(ref=value[0] << 8 | value[1], total=value[2], seq=value[3])
    return None


# GSM 03.38 by code, from encoding.py's tables. 0x1B is ESC: alone, 3GPP TS 23.038 has
# it shown as a space, and an escaped code with no extension character as the basic one.
_GSM_BY_CODE = _BASIC[:0x1B] + " " + _BASIC[0x1B:] + "?" * 128
_EXTENSION_CODES = bytes((0x0A, 0x14, 0x28, 0x29, 0x2F, 0x3C, 0x3D, 0x3E, 0x40, 0x65))
_EXTENSION_BY_CODE = dict(zip(_EXTENSION_CODES, _EXTENSION, strict=True))
# ESC's stand-in space comes before 0x20, which overwrites it.
_GSM_ENCODE = {ord(char): chr(code) for code, char in enumerate(_GSM_BY_CODE[:0x80])} | {
    ord(char): "\x1b" + chr(code) for code, char in _EXTENSION_BY_CODE.items()
}


def gsm7_encode(text: str) -> bytes:
    """GSM-7 text as SMPP data_coding 0 carries it: one septet an octet, ESC pairs for
    the extension table. The encoder chose GSM-7, so anything else is a bug: ValueError."""
    if not is_gsm7(text):
        raise ValueError("text has characters outside GSM 03.38")
    return text.translate(_GSM_ENCODE).encode("latin-1")


def gsm7_decode(data: bytes) -> str:
    """Never raises: octets above 0x7F read as '?'."""
    first, *escaped = data.split(b"\x1b")
    out = [first.decode("latin-1").translate(_GSM_BY_CODE)]
    for chunk in escaped:
        if not chunk:  # ESC ESC, or ESC at the end
            out.append(" ")
            continue
        out.append(_EXTENSION_BY_CODE.get(chunk[0], _GSM_BY_CODE[chunk[0]]))
        out.append(chunk[1:].decode("latin-1").translate(_GSM_BY_CODE))
    return "".join(out)


def ucs2_encode(text: str) -> bytes:
    """UTF-16-BE, as SMSCs read data_coding 8: a surrogate pair stays a pair."""
    return text.encode("utf-16-be", "surrogatepass")


def ucs2_decode(data: bytes) -> str:
    """Never raises: an odd last octet is dropped, a lone surrogate becomes U+FFFD."""
    return data[: len(data) & ~1].decode("utf-16-be", "replace")


def decode_text(data: bytes, data_coding: int) -> str:
    """Inbound text: 0 GSM 03.38, 8 UCS-2, and anything else (1 IA5, 3 Latin-1, binary)
    read as Latin-1, the best effort that never fails."""
    if data_coding == 0:
        return gsm7_decode(data)
    if data_coding == 8:
        return ucs2_decode(data)
    return data.decode("latin-1")


class PartKey(NamedTuple):
    source: str
    destination: str
    ref: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Reassembled:
    """A concatenated message: whole, or what arrived before the timeout (`missing` the
    part numbers that never came; such a message is delivered with error 30009)."""

    key: PartKey
    text: str
    total: int
    missing: tuple[int, ...]
    first_at: float


@dataclass(slots=True, kw_only=True)
class _Pending:
    first_at: float
    total: int
    parts: dict[int, tuple[bytes, int]] = field(default_factory=dict)  # seq → payload, coding


class Reassembly:
    """Inbound parts waiting for their siblings. Pure: the caller passes the time in."""

    def __init__(self) -> None:
        self._pending: dict[PartKey, _Pending] = {}

    def __len__(self) -> int:
        return len(self._pending)

    def add(
        self,
        *,
        source: str,
        destination: str,
        concat: Concat,
        payload: bytes,
        data_coding: int,
        now_s: float,
    ) -> Reassembled | None:
        """Keep one part; the whole message once its last part is in. A part sent twice
        counts once, and so does one numbered past the first part's total."""
        key = PartKey(source, destination, concat.ref)
        pending = self._pending.setdefault(key, _Pending(first_at=now_s, total=concat.total))
        if concat.seq <= pending.total:
            pending.parts.setdefault(concat.seq, (payload, data_coding))
        if len(pending.parts) < pending.total:
            return None
        del self._pending[key]
        return _assemble(key, pending)

    def expired(self, now_s: float, timeout_s: float) -> list[Reassembled]:
        """The messages whose first part is `timeout_s` old, with what they have; forgotten."""
        keys = [k for k, p in self._pending.items() if now_s - p.first_at >= timeout_s]
        return [_assemble(key, self._pending.pop(key)) for key in keys]


def _assemble(key: PartKey, pending: _Pending) -> Reassembled:
    """Parts of one coding are decoded joined, so that a GSM escape or a surrogate pair
    cut between two parts is whole again."""
    parts = [pending.parts[seq] for seq in sorted(pending.parts)]
    codings = {coding for _, coding in parts}
    if len(codings) == 1:
        text = decode_text(b"".join(payload for payload, _ in parts), codings.pop())
    else:
        text = "".join(decode_text(payload, coding) for payload, coding in parts)
    missing = tuple(seq for seq in range(1, pending.total + 1) if seq not in pending.parts)
    return Reassembled(
        key=key, text=text, total=pending.total, missing=missing, first_at=pending.first_at
    )
