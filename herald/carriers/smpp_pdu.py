"""SMPP 3.4 PDUs as bytes and back, and a TCP stream cut into them; no I/O.

Both ways follow smpplib's field tables (`smpplib.command`); the bytes are packed here,
each field checked first. smpplib's encoder, the tests' oracle, walks every optional
parameter per PDU (49 µs a submit_sm against 6 µs here), cuts long strings silently and
fails on bad values with any error. Its parser raises KeyError on a standard TLV its class
for that command lacks (dpf_result in a deliver_sm), loses its place on a TLV of an
unexpected length (a 2-octet message_state) and makes garbage of a C-string without its
NUL. Here, TLVs a command does not define are skipped, as SMPP 3.4 asks of optional
parameters a receiver does not know, integer TLVs are read at their stated length, and
anything that does not add up raises `PduError`, and only that.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from smpplib import command as smpplib_command  # type: ignore[import-untyped]
from smpplib import command_codes, consts, ptypes

ESME_ROK = 0x00
ESME_RINVMSGLEN = 0x01
ESME_RINVCMDLEN = 0x02
ESME_RINVCMDID = 0x03
ESME_RINVBNDSTS = 0x04
ESME_RALYBND = 0x05
ESME_RSYSERR = 0x08
ESME_RINVSRCADR = 0x0A
ESME_RINVDSTADR = 0x0B
ESME_RINVMSGID = 0x0C
ESME_RBINDFAIL = 0x0D
ESME_RINVPASWD = 0x0E
ESME_RINVSYSID = 0x0F
ESME_RMSGQFUL = 0x14
ESME_RSUBMITFAIL = 0x45
ESME_RTHROTTLED = 0x58
ESME_RX_T_APPN = 0x64
ESME_RX_P_APPN = 0x65
ESME_RX_R_APPN = 0x66
ESME_RUNKNOWNERR = 0xFF

_STATUS_NAMES: dict[int, str] = {
    value: name.removeprefix("SMPP_")
    for name, value in vars(consts).items()
    if name.startswith("SMPP_ESME_")
}

HEADER = struct.Struct(">LLLL")
HEADER_LENGTH = 16
MAX_FRAME = 64 * 1024
_TLV_HEADER = struct.Struct(">HH")
_RESPONSE_BIT = 0x80000000
_SEQUENCE_MAX = 0x7FFFFFFF

_CLASSES: dict[str, Any] = {
    "bind_transmitter": smpplib_command.BindTransmitter,
    "bind_transmitter_resp": smpplib_command.BindTransmitterResp,
    "bind_receiver": smpplib_command.BindReceiver,
    "bind_receiver_resp": smpplib_command.BindReceiverResp,
    "bind_transceiver": smpplib_command.BindTransceiver,
    "bind_transceiver_resp": smpplib_command.BindTransceiverResp,
    "data_sm": smpplib_command.DataSM,
    "data_sm_resp": smpplib_command.DataSMResp,
    "generic_nack": smpplib_command.GenericNAck,
    "submit_sm": smpplib_command.SubmitSM,
    "submit_sm_resp": smpplib_command.SubmitSMResp,
    "deliver_sm": smpplib_command.DeliverSM,
    "deliver_sm_resp": smpplib_command.DeliverSMResp,
    "query_sm": smpplib_command.QuerySM,
    "query_sm_resp": smpplib_command.QuerySMResp,
    "unbind": smpplib_command.Unbind,
    "unbind_resp": smpplib_command.UnbindResp,
    "enquire_link": smpplib_command.EnquireLink,
    "enquire_link_resp": smpplib_command.EnquireLinkResp,
    "alert_notification": smpplib_command.AlertNotification,
}
COMMANDS = frozenset(_CLASSES)
_CODES: dict[str, int] = {name: command_codes.commands[name] for name in _CLASSES}
_NAMES: dict[int, str] = {code: name for name, code in _CODES.items()}
_TLV_CODES: dict[str, int] = dict(consts.OPTIONAL_PARAMS)
_TLV_NAMES: dict[int, str] = {code: name for name, code in _TLV_CODES.items()}


@dataclass(frozen=True, slots=True)
class _Field:
    name: str
    kind: str  # "int", "str" (C-string), "octets" or "flag"
    size: int  # an integer's octets; a C-string's maximum, NUL included; else exact or 0


def _layout(cls: Any) -> tuple[tuple[_Field, ...], dict[str, _Field]]:
    """smpplib's table of one command: its mandatory fields in order, and its TLVs."""
    named = getattr(cls, "mandatory_fields", ())
    mandatory_names = (named,) if isinstance(named, str) else tuple(named)
    mandatory: list[_Field] = []
    tlvs: dict[str, _Field] = {}
    for name in cls.params_order:
        param = cls.params[name]
        kind = {int: "int", str: "str", ptypes.ostr: "octets", ptypes.flag: "flag"}[param.type]
        bound = getattr(param, "max", 0) if kind == "str" else 0
        field = _Field(name, kind, getattr(param, "size", bound))
        if name in _TLV_CODES and name not in mandatory_names:
            tlvs[name] = field
        else:
            mandatory.append(field)
    return tuple(mandatory), tlvs


_LAYOUTS = {name: _layout(cls) for name, cls in _CLASSES.items()}
_FIELDS = {
    name: {f.name: f for f in mandatory} | tlvs for name, (mandatory, tlvs) in _LAYOUTS.items()
}
_LEFT_OUT = {"int": b"\0", "str": b"\0", "octets": b"", "interface_version": b"\x34"}  # 3.4
_PLANS = {  # mandatory fields in order, and their octets when left out (all ints are 1 octet)
    name: tuple((f.name, _LEFT_OUT.get(f.name, _LEFT_OUT[f.kind])) for f in mandatory)
    for name, (mandatory, _) in _LAYOUTS.items()
}
_SHORT_MESSAGE_MAX = 254
_LENGTH_FIELD = "sm_length"


class PduError(ValueError):
    """A PDU that cannot be encoded or decoded.

    `sequence` and `command_id` are the header's, when it could be read; `nack_status`
    is what a generic_nack answering it should carry; `fatal` means the byte stream
    itself is lost (a bad command_length), so the connection must close.
    """

    def __init__(
        self,
        message: str,
        *,
        sequence: int | None = None,
        command_id: int | None = None,
        nack_status: int = ESME_RINVCMDLEN,
        fatal: bool = False,
    ) -> None:
        super().__init__(message)
        self.sequence = sequence
        self.command_id = command_id
        self.nack_status = nack_status
        self.fatal = fatal

    @property
    def is_response(self) -> bool:
        """A response is never answered, not even with a generic_nack."""
        return self.command_id is not None and bool(self.command_id & _RESPONSE_BIT)


@dataclass(frozen=True, slots=True)
class Pdu:
    """A decoded PDU: C-strings as str, integers as int, short_message and
    message_payload as bytes, TLVs under smpplib's names. Absent fields are absent."""

    command: str
    status: int
    sequence: int
    fields: Mapping[str, object]

    def string(self, name: str) -> str | None:
        value = self.fields.get(name)
        return value if isinstance(value, str) else None

    def integer(self, name: str) -> int | None:
        value = self.fields.get(name)
        return value if isinstance(value, int) and not isinstance(value, bool) else None

    def octets(self, name: str) -> bytes:
        value = self.fields.get(name)
        return value if isinstance(value, bytes) else b""


def status_name(code: int) -> str:
    """`ESME_RTHROTTLED` for 0x58; the hex code for one SMPP 3.4 does not name."""
    return _STATUS_NAMES.get(code, f"0x{code:08X}")


def is_response(command: str) -> bool:
    return bool(_CODES[command] & _RESPONSE_BIT)


def encode(command: str, sequence: int, *, status: int = 0, **fields: object) -> bytes:
    """One PDU's bytes. Fields left out are sent empty (0, "", no TLV; a bind's
    interface_version 0x34); an empty C-string or octet-string TLV is left out too."""
    plan = _PLANS.get(command)
    if plan is None:
        raise PduError(f"unsupported command {command!r}")
    if not 0 <= sequence <= 0xFFFFFFFF or not 0 <= status <= 0xFFFFFFFF:
        raise PduError(f"{command}: sequence and status must fit in 32 bits")
    known = _FIELDS[command]
    if "short_message" in known and fields.get("short_message") and fields.get("message_payload"):
        raise PduError(f"{command}: short_message and message_payload are exclusive")
    packed, options = _pack(command, fields)
    if command == "query_sm" and not fields.get("message_id"):  # smpplib's rule, kept
        raise PduError(f"{command}: `message_id` is mandatory")
    body = b"".join([packed.get(name, empty) for name, empty in plan]) + options
    return HEADER.pack(HEADER_LENGTH + len(body), _CODES[command], status, sequence) + body


def _pack(command: str, fields: Mapping[str, object]) -> tuple[dict[str, bytes], bytes]:
    """Each field checked and packed: the mandatory ones by name, the TLVs in smpplib's order."""
    known, tlvs = _FIELDS[command], _LAYOUTS[command][1]
    packed: dict[str, bytes] = {}
    options: dict[str, bytes] = {}
    for name, value in fields.items():
        field = known.get(name)
        if field is None or name == _LENGTH_FIELD:
            raise PduError(f"{command} has no field {name!r}")
        octets = _octets(command, field, value, is_tlv=name in tlvs)
        if name not in tlvs:
            packed[name] = octets
        elif value or field.kind == "int":
            options[name] = _TLV_HEADER.pack(_TLV_CODES[name], len(octets)) + octets
    if short_message := packed.get("short_message"):
        packed[_LENGTH_FIELD] = bytes((len(short_message),))
    return packed, b"".join([options[n] for n in (tlvs if options else ()) if n in options])


def _octets(command: str, field: _Field, value: object, *, is_tlv: bool) -> bytes:
    """A value as SMPP 3.4 carries it, C-strings NUL-terminated in Latin-1; else PduError."""
    kind, size = field.kind, field.size
    if kind == "int" and isinstance(value, int) and not isinstance(value, bool):
        if 0 <= value < 1 << (8 * size):
            return value.to_bytes(size, "big")
    elif kind == "str" and isinstance(value, str):
        if "\0" not in value and (value.isascii() or max(value) <= "\xff") and len(value) < size:
            return value.encode("latin-1") + b"\0"
    elif kind == "octets" and isinstance(value, bytes):
        limit = 0xFFFF if is_tlv else _SHORT_MESSAGE_MAX
        if len(value) <= limit and (not size or len(value) == size):
            return value
    raise PduError(f"{command}.{field.name}{_refusal(field, value)}")


def _refusal(field: _Field, value: object) -> str:
    """Why `_octets` refused a value."""
    expected = {"int": int, "str": str, "octets": bytes}.get(field.kind)
    if expected is None:
        return ": flag TLVs are not supported"
    if not isinstance(value, expected) or isinstance(value, bool):
        return f" must be {expected.__name__}, not {type(value).__name__}"
    if isinstance(value, int):
        return f" = {value} does not fit in {field.size} octet(s)"
    if isinstance(value, bytes):
        return f" is {len(value)} octets, which does not fit"
    if "\0" in str(value) or any(ord(c) > 0xFF for c in str(value)):
        return " must be Latin-1 text without NUL"
    return f" is {len(str(value))} characters, at most {field.size - 1} fit"


def decode(frame: bytes) -> Pdu:
    """One whole frame (its command_length included) as a `Pdu`; PduError otherwise."""
    if len(frame) < HEADER_LENGTH:
        raise PduError(f"a PDU is at least 16 octets, this one {len(frame)}", fatal=True)
    length, command_id, status, sequence = HEADER.unpack_from(frame)
    if length != len(frame):
        raise PduError(
            f"command_length {length} but the frame has {len(frame)} octets",
            sequence=sequence,
            command_id=command_id,
            fatal=True,
        )
    command = _NAMES.get(command_id)
    if command is None:
        raise PduError(
            f"unsupported command_id 0x{command_id:08X}",
            sequence=sequence,
            command_id=command_id,
            nack_status=ESME_RINVCMDID,
        )
    try:
        fields = _decode_body(command, frame, HEADER_LENGTH)
    except PduError as exc:
        raise PduError(f"{command}: {exc}", sequence=sequence, command_id=command_id) from None
    return Pdu(command, status, sequence, fields)


def _decode_body(command: str, data: bytes, pos: int) -> dict[str, object]:
    mandatory, tlvs = _LAYOUTS[command]
    fields: dict[str, object] = {}
    pos = _decode_mandatory(mandatory, data, pos, fields)
    end = len(data)
    while pos < end:
        if pos + _TLV_HEADER.size > end:
            raise PduError("truncated TLV header")
        tag, size = _TLV_HEADER.unpack_from(data, pos)
        pos += _TLV_HEADER.size
        if pos + size > end:
            raise PduError(f"TLV 0x{tag:04X} of {size} octets overruns the PDU")
        field = tlvs.get(_TLV_NAMES.get(tag, ""))
        if field is not None:
            _store_tlv(fields, field, data[pos : pos + size])
        pos += size
    return fields


def _decode_mandatory(
    mandatory: tuple[_Field, ...], data: bytes, pos: int, fields: dict[str, object]
) -> int:
    """The mandatory fields in order; where they end. A body that ends between two of
    them leaves the rest absent: an SMSC omits a refused submit_sm_resp's body (SMPP 3.4
    §4.4.2), and some omit a bind response's system_id."""
    end, last, sm_length = len(data), len(mandatory) - 1, 0
    for index, field in enumerate(mandatory):
        if pos == end and field.kind != "octets":  # short_message may be empty
            break
        if field.kind == "str":
            nul = data.find(b"\0", pos)
            if nul < 0 and index != last:
                raise PduError(f"{field.name} has no terminating NUL")
            stop = end if nul < 0 else nul  # a missing last NUL: a known vendor quirk
            fields[field.name] = data[pos:stop].decode("latin-1")
            pos = min(stop + 1, end)
            continue
        size = field.size if field.kind == "int" else sm_length
        if pos + size > end:
            raise PduError(f"{field.name} overruns the PDU")
        value = data[pos : pos + size]
        pos += size
        if field.name == _LENGTH_FIELD:
            sm_length = value[0]
        elif field.kind == "int":
            fields[field.name] = int.from_bytes(value, "big")
        else:
            fields[field.name] = value
    return pos


def _store_tlv(fields: dict[str, object], field: _Field, value: bytes) -> None:
    if field.kind == "int":
        if 1 <= len(value) <= 4:  # at the stated length: vendors' sizes differ from SMPP's
            fields[field.name] = int.from_bytes(value, "big")
    elif field.kind == "str":
        fields[field.name] = value.split(b"\0", 1)[0].decode("latin-1")
    elif field.kind == "octets":
        fields[field.name] = value
    else:
        fields[field.name] = True


class Framer:
    """Cuts a TCP byte stream into PDUs by their 4-octet command_length.

    A length under 16 or over 64 KiB loses the stream for good: every later call
    raises the same fatal PduError. A frame that is well cut but badly formed raises
    its PduError once; the frames after it are still there for the next call.
    """

    def __init__(self, *, max_frame: int = MAX_FRAME) -> None:
        self._buffer = bytearray()
        self._max_frame = max_frame
        self._broken: PduError | None = None

    @property
    def buffered(self) -> int:
        return len(self._buffer)

    def append(self, data: bytes) -> None:
        self._buffer += data

    def next_pdu(self) -> Pdu | None:
        """The next whole PDU, or None until more bytes arrive."""
        if self._broken is not None:
            raise self._broken
        if len(self._buffer) < 4:
            return None
        (length,) = struct.unpack_from(">L", self._buffer)
        if not HEADER_LENGTH <= length <= self._max_frame:
            sequence = None
            if len(self._buffer) >= HEADER_LENGTH:
                sequence = HEADER.unpack_from(self._buffer)[3]
            self._broken = PduError(
                f"command_length {length} is outside 16..{self._max_frame}",
                sequence=sequence,
                fatal=True,
            )
            raise self._broken
        if len(self._buffer) < length:
            return None
        frame = bytes(self._buffer[:length])
        del self._buffer[:length]
        return decode(frame)

    def feed(self, data: bytes) -> list[Pdu]:
        """Every whole PDU `data` completes. A bad frame raises; the good PDUs before it
        in this call are then lost, so a caller that must keep them uses `next_pdu`."""
        self.append(data)
        pdus: list[Pdu] = []
        while (pdu := self.next_pdu()) is not None:
            pdus.append(pdu)
        return pdus


def next_sequence(sequence: int) -> int:
    """Sequence numbers run 1..0x7FFFFFFF (SMPP 3.4) and wrap."""
    return 1 if sequence >= _SEQUENCE_MAX else sequence + 1
