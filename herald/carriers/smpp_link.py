"""One SMPP bind over one TCP (or TLS) connection: the asyncio shell around the sans-I/O
`SmppSession`. It owns the socket and the timers, and reconnects with backoff for as long
as it runs; what the PDUs mean is the connection's business (`smpp.py`).

A submit waits for a free slot in the window, then for its submit_sm_resp. An answer
that never comes (the link dropped, or the SMSC let it time out) is `Answer.ambiguous`:
SMPP's one case where nobody can say whether the SMSC has the message.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from herald.carriers import smpp_pdu
from herald.carriers.smpp_pdu import Pdu
from herald.carriers.smpp_session import (
    BindRefused,
    Bound,
    Delivered,
    LinkDead,
    ProtocolError,
    SmppSession,
    SubmitAnswered,
    SubmitNacked,
    SubmitTimedOut,
    SubmitUnanswered,
    Unbound,
)
from herald.clock import Clock
from herald.domain.carrier_config import Connection

log = logging.getLogger("herald.carriers.smpp")

TICK_S = 0.5
READ_BYTES = 1 << 16
CONNECT_TIMEOUT_S = 10.0
UNBIND_WAIT_S = 2.0


@dataclass(frozen=True, slots=True)
class Answer:
    """The SMSC's answer to one submit_sm: a command status and id, a generic_nack
    (`nacked`), or none at all (`ambiguous`)."""

    status: int = 0
    message_id: str = ""
    nacked: bool = False
    ambiguous: bool = False


class NotBound(Exception):
    """The link is not bound for submitting just now."""


DeliverHandler = Callable[["Link", Pdu], Awaitable[None]]


class Link:
    """A bind of `bind_type` ("transceiver", "transmitter" or "receiver")."""

    def __init__(
        self,
        config: Connection,
        bind_type: str,
        clock: Clock,
        *,
        on_deliver: DeliverHandler,
        on_state: Callable[[], None],
    ) -> None:
        self.config = config
        self.bind_type = bind_type
        self._clock = clock
        self._on_deliver = on_deliver
        self._on_state = on_state
        self._session: SmppSession | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._pending: dict[int, asyncio.Future[Answer]] = {}
        self._slot = asyncio.Event()
        self._bound = asyncio.Event()
        self._closing = False
        self._delivering: set[asyncio.Task[None]] = set()
        self._flush_soon = False
        self.failures = 0  # failed connects or binds in a row
        self.binds = 0
        self.last_error = ""

    @property
    def bound(self) -> bool:
        return self._bound.is_set()

    @property
    def can_submit(self) -> bool:
        return self.bound and self.bind_type != "receiver"

    @property
    def in_flight(self) -> int:
        return len(self._pending)

    async def run(self) -> None:
        """Connect, bind and serve until `close`; reconnect with backoff after any loss."""
        delay = self.config.reconnect_min_s
        while not self._closing:
            try:
                await self._serve()
            except (TimeoutError, OSError, smpp_pdu.PduError) as exc:
                self.last_error = f"{type(exc).__name__}: {exc}"
                log.warning("smpp %s (%s): %s", self.config.name, self.bind_type, self.last_error)
            finally:
                self._lost()
            if self._closing:
                return
            if self.failures == 0:
                delay = self.config.reconnect_min_s
            await self._clock.sleep(delay)
            delay = min(delay * 2, self.config.reconnect_max_s)

    async def _serve(self) -> None:
        c = self.config
        context = ssl.create_default_context(cafile=c.tls_ca_file) if c.tls else None
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(c.host, c.port, ssl=context), CONNECT_TIMEOUT_S
            )
        except (TimeoutError, OSError):
            self.failures += 1
            self._on_state()
            raise
        self._writer = writer
        session = self._session = SmppSession(
            system_id=c.system_id,
            password=c.password,
            system_type=c.system_type,
            bind=self.bind_type,
            window=c.window,
            enquire_link_s=c.enquire_link_s,
            response_timeout_s=c.response_timeout_s,
        )
        session.connect(self._now())
        self._flush()
        ticking = asyncio.ensure_future(self._tick())
        try:
            while not self._closing:
                data = await reader.read(READ_BYTES)
                if not data:
                    raise ConnectionResetError("the SMSC closed the connection")
                self._handle(session.receive(data, self._now()))
                self._flush()
                if session.state.name == "CLOSED":
                    return
        finally:
            ticking.cancel()
            writer.close()

    async def _tick(self) -> None:
        while True:
            await self._clock.sleep(TICK_S)
            session = self._session
            if session is None:
                return
            self._handle(session.tick(self._now()))
            self._flush()

    def _handle(self, events: list[Any]) -> None:
        for event in events:
            if isinstance(event, SubmitAnswered):
                self._answer(event.sequence, Answer(event.status, event.message_id or ""))
            elif isinstance(event, Delivered):
                task = asyncio.ensure_future(self._on_deliver(self, event.pdu))
                self._delivering.add(task)
                task.add_done_callback(self._delivering.discard)
            elif isinstance(event, SubmitNacked):
                self._answer(event.sequence, Answer(event.status, nacked=True))
            elif isinstance(event, SubmitTimedOut | SubmitUnanswered):
                self._answer(event.sequence, Answer(ambiguous=True))
            else:
                self._on_session(event)

    def _on_session(self, event: object) -> None:
        if isinstance(event, Bound):
            self.failures, self.last_error = 0, ""
            self.binds += 1
            self._bound.set()
            self._slot.set()
            log.info("smpp %s bound as %s", self.config.name, self.bind_type)
            self._on_state()
        elif isinstance(event, BindRefused):
            self.failures += 1
            self.last_error = f"bind refused: {smpp_pdu.status_name(event.status)}"
            level = logging.ERROR if self.failures == 1 else logging.WARNING
            log.log(
                level,
                "smpp %s: the SMSC refused the %s bind for system_id %r: %s (%d in a row)",
                self.config.name, self.bind_type, self.config.system_id,
                smpp_pdu.status_name(event.status), self.failures,
            )  # fmt: skip
            self._drop()
        elif isinstance(event, Unbound | LinkDead):
            if not self._closing:
                log.warning("smpp %s: %s", self.config.name, type(event).__name__)
            self._drop()
        elif isinstance(event, ProtocolError):
            log.warning("smpp %s: protocol error: %s", self.config.name, event.detail)
            if event.fatal:
                self._drop()

    def _answer(self, sequence: int, answer: Answer) -> None:
        future = self._pending.pop(sequence, None)
        if future is not None and not future.done():
            future.set_result(answer)
        self._slot.set()

    def _drop(self) -> None:
        """End this connection (the read loop sees it closed) and reconnect; what the
        session still has to say (an unbind_resp) goes first."""
        self._flush()
        if self._writer is not None:
            self._writer.close()

    def _lost(self) -> None:
        was_bound = self._bound.is_set()
        self._bound.clear()
        session, self._session, self._writer = self._session, None, None
        if session is not None:
            self._handle(session.connection_lost())
        for future in self._pending.values():  # whatever the session did not know of
            if not future.done():
                future.set_result(Answer(ambiguous=True))
        self._pending.clear()
        self._slot.set()
        if was_bound:
            self._on_state()

    async def submit(self, fields: dict[str, Any]) -> asyncio.Future[Answer]:
        """Send one submit_sm once the window has room; its answer, to await."""
        while True:
            session = self._session
            if session is None or not self.can_submit:
                raise NotBound(self.config.name)
            if session.in_flight < session.window:
                break
            self._flush()  # what fills the window goes out before waiting for its answers
            self._slot.clear()
            await self._slot.wait()
        sequence = session.submit(self._now(), **fields)
        future: asyncio.Future[Answer] = asyncio.get_running_loop().create_future()
        self._pending[sequence] = future
        return future

    def flush(self) -> None:
        self._flush()

    def acknowledge(self, sequence: int, status: int = 0) -> None:
        """Answer a deliver_sm; the answers of one pass of the event loop leave in one
        write."""
        session = self._session
        if session is not None:  # else the SMSC will deliver it again on the next bind
            session.acknowledge(sequence, status)
            if not self._flush_soon:
                self._flush_soon = True
                asyncio.get_running_loop().call_soon(self._flush_now)

    def _flush_now(self) -> None:
        self._flush_soon = False
        self._flush()

    def _flush(self) -> None:
        session, writer = self._session, self._writer
        if session is None or writer is None:
            return
        data = session.data_to_send()
        if data and not writer.is_closing():
            writer.write(data)

    async def wait_bound(self, timeout_s: float) -> bool:
        try:
            await asyncio.wait_for(self._bound.wait(), timeout_s)
        except TimeoutError:
            return False
        return True

    async def close(self) -> None:
        """Unbind politely (SIGTERM's path), wait briefly for the answer, and stop."""
        self._closing = True
        session, writer = self._session, self._writer
        if session is not None and writer is not None and self.bound:
            session.unbind(self._now())
            self._flush()
            try:
                await asyncio.wait_for(writer.drain(), UNBIND_WAIT_S)
                deadline = self._now() + UNBIND_WAIT_S
                while self._session is not None and self._now() < deadline:
                    await asyncio.sleep(0.02)
            except (TimeoutError, OSError):
                pass
        if self._writer is not None:
            self._writer.close()
        if self._delivering:  # what is being stored finishes; a receipt still waiting
            _, waiting = await asyncio.wait(self._delivering, timeout=UNBIND_WAIT_S)
            for task in waiting:  # for its submit_sm_resp is dropped, unacknowledged
                task.cancel()
            await asyncio.gather(*waiting, return_exceptions=True)

    def _now(self) -> float:
        return self._clock.now_us() / 1_000_000
