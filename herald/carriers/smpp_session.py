"""One SMPP 3.4 bind as a sans-I/O state machine: bytes and times in, events and bytes
out. It numbers requests, keeps the submit window, answers the peer's enquire_link and
unbind itself, and says when a submit or the link has gone unanswered; the asyncio
shell (`smpp_link.py`) owns the socket and calls `tick` on a timer.

A submit the SMSC never answered is SMPP's ambiguous case: the SMSC may have the message
or not. It leaves the window as `SubmitTimedOut` (no answer in time) or
`SubmitUnanswered` (the connection went), never as a failure.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from herald.carriers.smpp_pdu import (
    ESME_RINVCMDID,
    Framer,
    Pdu,
    PduError,
    encode,
    is_response,
    next_sequence,
)

BIND_COMMANDS = {
    "transceiver": "bind_transceiver",
    "transmitter": "bind_transmitter",
    "receiver": "bind_receiver",
}
_INBOUND = frozenset({"deliver_sm", "data_sm"})
_QUIET = frozenset({"enquire_link_resp", "unbind_resp"})  # late or stray: harmless


class SessionState(StrEnum):
    CLOSED = "closed"
    BINDING = "binding"
    BOUND = "bound"
    UNBINDING = "unbinding"


class SessionError(Exception):
    """The session cannot do that in its state."""


class NotBound(SessionError):
    """Not bound, or bound as a receiver: nothing may be submitted."""


class WindowFull(SessionError):
    """As many submits are in flight as the window allows."""


@dataclass(frozen=True, slots=True)
class Bound:
    bind_type: str


@dataclass(frozen=True, slots=True)
class BindRefused:
    status: int


@dataclass(frozen=True, slots=True)
class SubmitAnswered:
    sequence: int
    status: int
    message_id: str | None


@dataclass(frozen=True, slots=True)
class SubmitNacked:
    sequence: int
    status: int


@dataclass(frozen=True, slots=True)
class SubmitTimedOut:
    sequence: int


@dataclass(frozen=True, slots=True)
class SubmitUnanswered:
    sequence: int


@dataclass(frozen=True, slots=True)
class Delivered:
    """A deliver_sm or data_sm: a receipt or an inbound message. Answer it with
    `acknowledge(sequence)` once it is stored; until then the SMSC keeps it."""

    sequence: int
    pdu: Pdu


@dataclass(frozen=True, slots=True)
class Unbound:
    by_peer: bool


@dataclass(frozen=True, slots=True)
class LinkDead:
    """The peer left a bind or an enquire_link unanswered: close and reconnect."""


@dataclass(frozen=True, slots=True)
class ProtocolError:
    """A PDU that made no sense. `fatal`: the byte stream is lost, the state is CLOSED."""

    detail: str
    fatal: bool = False


Event = (
    Bound
    | BindRefused
    | SubmitAnswered
    | SubmitNacked
    | SubmitTimedOut
    | SubmitUnanswered
    | Delivered
    | Unbound
    | LinkDead
    | ProtocolError
)


class SmppSession:
    """One bind on one connection, from `connect` to `connection_lost`; reusable after."""

    def __init__(
        self,
        *,
        system_id: str,
        password: str,
        system_type: str = "",
        bind: str = "transceiver",
        window: int = 10,
        enquire_link_s: float = 30.0,
        response_timeout_s: float = 10.0,
        addr_ton: int = 0,
        addr_npi: int = 0,
    ) -> None:
        if bind not in BIND_COMMANDS:
            raise ValueError(f"bind must be one of {sorted(BIND_COMMANDS)}, not {bind!r}")
        if window < 1 or enquire_link_s <= 0 or response_timeout_s <= 0:
            raise ValueError("window, enquire_link_s and response_timeout_s must be positive")
        self.bind_type = bind
        self.window = window
        self.enquire_link_s = enquire_link_s
        self.response_timeout_s = response_timeout_s
        self._bind_fields: dict[str, Any] = {
            "system_id": system_id,
            "password": password,
            "system_type": system_type,
            "addr_ton": addr_ton,
            "addr_npi": addr_npi,
        }
        encode(BIND_COMMANDS[bind], 1, **self._bind_fields)  # a bad credential fails here
        self.state = SessionState.CLOSED
        self._sequence = 0  # the last one used
        self._reset()

    def _reset(self) -> None:
        self._framer = Framer()
        self._out = bytearray()
        self._submits: dict[int, float] = {}  # sequence → sent at, oldest first
        self._inbound: dict[int, str] = {}  # sequence → deliver_sm | data_sm, unanswered
        self._request: tuple[int, float] | None = None  # the bind or unbind awaiting its answer
        self._enquiry: tuple[int, float] | None = None
        self._heard_at = 0.0
        self._stream_lost = False

    @property
    def in_flight(self) -> int:
        return len(self._submits)

    def connect(self, now: float) -> None:
        """A new connection is open: queue the bind."""
        if self.state is not SessionState.CLOSED:
            raise SessionError(f"connect while {self.state}")
        self._reset()
        self._request = (self._send(BIND_COMMANDS[self.bind_type], **self._bind_fields), now)
        self._heard_at = now
        self.state = SessionState.BINDING

    def receive(self, data: bytes, now: float) -> list[Event]:
        if self._stream_lost:
            return []
        self._heard_at = now
        self._framer.append(data)
        events: list[Event] = []
        while True:
            try:
                pdu = self._framer.next_pdu()
            except PduError as exc:
                events.append(self._refuse(exc))
                if exc.fatal:
                    return events
                continue
            if pdu is None:
                return events
            events.extend(self._handle(pdu))

    def submit(self, now: float, **fields: Any) -> int:
        """Queue a submit_sm; its sequence, which its answer will carry."""
        if self.state is not SessionState.BOUND or self.bind_type == "receiver":
            raise NotBound(f"{self.state}, bound as {self.bind_type}")
        if len(self._submits) >= self.window:
            raise WindowFull(f"{self.window} submits in flight")
        sequence = self._send("submit_sm", **fields)
        self._submits[sequence] = now
        return sequence

    def acknowledge(self, sequence: int, status: int = 0) -> None:
        """Answer a `Delivered`. Unknown sequences are ignored: that PDU came on an
        earlier connection, and the SMSC will deliver it again."""
        command = self._inbound.pop(sequence, None)
        if command is not None:
            self._out += encode(f"{command}_resp", sequence, status=status)

    def tick(self, now: float) -> list[Event]:
        events: list[Event] = []
        for sequence, sent_at in list(self._submits.items()):
            if now - sent_at < self.response_timeout_s:
                break
            del self._submits[sequence]
            events.append(SubmitTimedOut(sequence))
        request_late = self._request is not None and self._is_late(self._request[1], now)
        if self.state is SessionState.BINDING and request_late:
            self.state = SessionState.CLOSED
            events.append(LinkDead())
        elif self.state is SessionState.UNBINDING and request_late:
            self.state = SessionState.CLOSED
            events.append(Unbound(by_peer=False))
        elif self.state is SessionState.BOUND:
            events.extend(self._keep_alive(now))
        return events

    def _keep_alive(self, now: float) -> list[Event]:
        if self._enquiry is not None:
            if not self._is_late(self._enquiry[1], now):
                return []
            self.state = SessionState.CLOSED
            return [LinkDead()]
        if now - self._heard_at >= self.enquire_link_s:
            self._enquiry = (self._send("enquire_link"), now)
        return []

    def _is_late(self, sent_at: float, now: float) -> bool:
        return now - sent_at >= self.response_timeout_s

    def unbind(self, now: float) -> None:
        """Say goodbye; `Unbound(by_peer=False)` follows the answer, or its timeout."""
        if self.state is SessionState.BOUND:
            self._request = (self._send("unbind"), now)
            self.state = SessionState.UNBINDING
        elif self.state is SessionState.BINDING:  # nothing to undo; the shell closes
            self.state = SessionState.CLOSED

    def connection_lost(self) -> list[Event]:
        """Every submit still in flight is unanswered: the SMSC may or may not have it."""
        events: list[Event] = [SubmitUnanswered(sequence) for sequence in self._submits]
        self.state = SessionState.CLOSED
        self._reset()
        return events

    def data_to_send(self) -> bytes:
        data = bytes(self._out)
        self._out.clear()
        return data

    def _send(self, command: str, **fields: Any) -> int:
        sequence = next_sequence(self._sequence)
        self._out += encode(command, sequence, **fields)  # PduError: nothing is queued
        self._sequence = sequence
        return sequence

    def _refuse(self, exc: PduError) -> ProtocolError:
        """A generic_nack for a request that cannot be read (never for a response)."""
        if not exc.is_response:
            self._out += encode("generic_nack", exc.sequence or 0, status=exc.nack_status)
        if exc.fatal:
            self.state = SessionState.CLOSED
            self._stream_lost = True
        return ProtocolError(str(exc), fatal=exc.fatal)

    def _handle(self, pdu: Pdu) -> list[Event]:
        command, sequence = pdu.command, pdu.sequence
        if command in _INBOUND:
            self._inbound[sequence] = command
            return [Delivered(sequence, pdu)]
        if command == "enquire_link":
            self._out += encode("enquire_link_resp", sequence)
            return []
        if command == "unbind":
            self._out += encode("unbind_resp", sequence)
            self.state = SessionState.CLOSED
            return [Unbound(by_peer=True)]
        if command == "alert_notification":  # has no response; nothing here uses it
            return []
        if not is_response(command):
            self._out += encode("generic_nack", sequence, status=ESME_RINVCMDID)
            return [ProtocolError(f"unsupported request {command} ({sequence})")]
        return self._answer(pdu)

    def _answer(self, pdu: Pdu) -> list[Event]:
        """A response: matched to what we asked by its sequence."""
        command, sequence, status = pdu.command, pdu.sequence, pdu.status
        if sequence in self._submits and command in ("submit_sm_resp", "generic_nack"):
            del self._submits[sequence]
            if command == "generic_nack":
                return [SubmitNacked(sequence, status)]
            return [SubmitAnswered(sequence, status, pdu.string("message_id") or None)]
        if self._enquiry is not None and self._enquiry[0] == sequence:
            self._enquiry = None  # even a generic_nack says the peer is there
            return []
        if self._request is not None and self._request[0] == sequence:
            return self._end_request(command, status)
        if command in _QUIET:
            return []
        return [ProtocolError(f"unexpected {command} ({sequence}, status {status})")]

    def _end_request(self, command: str, status: int) -> list[Event]:
        self._request = None
        if self.state is SessionState.UNBINDING:
            self.state = SessionState.CLOSED
            return [Unbound(by_peer=False)]
        expected = f"{BIND_COMMANDS[self.bind_type]}_resp"
        if self.state is not SessionState.BINDING or command not in (expected, "generic_nack"):
            return [ProtocolError(f"unexpected {command} while {self.state}")]
        if status != 0 or command == "generic_nack":
            self.state = SessionState.CLOSED
            return [BindRefused(status)]
        self.state = SessionState.BOUND
        return [Bound(self.bind_type)]
