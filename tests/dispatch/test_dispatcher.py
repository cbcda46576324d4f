"""The dispatcher on a manual clock, against the real simulator and a real database:
rates to the segment, the overflow boundary, validity expiry to the second."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import replace
from typing import TypeVar

import pytest
from sqlalchemy import select
from sqlalchemy.engine import Connection

from herald.carriers.simulator import CarrierSimulator
from herald.clock import ManualClock
from herald.dispatch.dispatcher import Dispatcher
from herald.domain import errors
from herald.domain.queued import StatusChange, queued_message
from herald.metrics import Metrics
from herald.provisioning import create_account
from herald.runtime import Runtime
from herald.store import messages as message_store
from herald.store import senders
from herald.store.outbox import OutboxSink
from herald.store.schema import callbacks, messages, simulator_submissions
from tests.store.test_records import _number, message

T = TypeVar("T")
START = 1_700_000_000_000_000
SECOND = 1_000_000


class Harness:
    def __init__(
        self,
        runtime: Runtime,
        *,
        mps: int = 1,
        horizon_s: int = 14_400,
        resume_after_s: float = 0.0,
        capacity_per_s: int = 10_000,
        sink: OutboxSink | None = None,
    ) -> None:
        self.runtime = runtime
        self.clock = ManualClock(START)
        account = create_account(runtime, friendly_name="d", is_test=False)
        self.account = account
        self.number = replace(_number(runtime, account.sid, "+14155550100"), mps=mps)
        runtime.db.run(lambda c: senders.insert_number(c, self.number))
        self.sim = CarrierSimulator(
            runtime.db, self.clock, latency="instant", capacity_per_s=capacity_per_s
        )
        self.dispatcher = Dispatcher(
            runtime.db,
            self.clock,
            self.sim,
            sink or OutboxSink(),
            horizon_s=horizon_s,
            metrics=Metrics(),
            resume_after_s=resume_after_s,
        )

    def add(
        self, n: int, *, body: str = "hi", validity: int | None = None, created: int = START
    ) -> list[str]:
        made = [
            replace(
                message(self.runtime, self.account.sid, i),
                sender_sid=self.number.sid,
                body=body,
                num_segments=(len(body) + 152) // 153 if len(body) > 160 else 1,
                validity_period=validity,
                date_created=created + i,
                status_callback="http://127.0.0.1:9/cb",
            )
            for i in range(n)
        ]
        self.runtime.db.run(lambda c: [message_store.insert_message(c, m) for m in made])
        return [m.sid for m in made]

    def read(self, fn: Callable[[Connection], T]) -> T:
        """Read without taking SQLite's write lock (the loop under test holds it at times)."""
        with self.runtime.db.read_engine.connect() as conn, conn.begin():
            return fn(conn)

    def submissions(self) -> list[tuple[str, int, int]]:
        rows = self.read(
            lambda c: c.execute(
                select(
                    simulator_submissions.c.message_sid,
                    simulator_submissions.c.part,
                    simulator_submissions.c.received_at,
                ).order_by(simulator_submissions.c.id)
            ).all()
        )
        return [(r[0], r[1], (r[2] - START) // SECOND) for r in rows]

    def status(self, sid: str) -> tuple[str, int | None]:
        row = self.read(
            lambda c: c.execute(
                select(messages.c.status, messages.c.error_code).where(messages.c.sid == sid)
            ).first()
        )
        assert row is not None
        return row[0], row[1]

    def run(self, script: Callable[[Harness], Awaitable[None]]) -> None:
        async def main() -> None:
            stop = asyncio.Event()
            task = asyncio.create_task(self.dispatcher.run(stop))
            try:
                await script(self)
            finally:
                stop.set()
                await task

        asyncio.run(main())


async def until(check: Callable[[], bool], timeout: float = 10.0) -> None:
    """Wait for a condition (the loops run on threads' commits too), not for a time."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not check():
        assert loop.time() < deadline, "condition not reached"
        await asyncio.sleep(0.002)


async def settle() -> None:
    for _ in range(20):
        await asyncio.sleep(0.002)


@pytest.fixture
def harness(runtime: Runtime) -> Iterator[Harness]:
    yield Harness(runtime)


def test_one_mps_sender_emits_exactly_one_per_second(runtime: Runtime) -> None:
    h = Harness(runtime, mps=1)
    sids = h.add(100)

    async def script(h: Harness) -> None:
        await until(lambda: len(h.submissions()) == 1)
        for second in range(1, 100):
            h.clock.advance(0.5)
            await settle()
            assert len(h.submissions()) == second  # nothing early
            h.clock.advance(0.5)
            await until(lambda s=second: len(h.submissions()) == s + 1)

    h.run(script)
    sent = h.submissions()
    assert [s[0] for s in sent] == sids  # FIFO
    assert [s[2] for s in sent] == list(range(100))  # one per second, to the second


def test_a_three_segment_message_takes_three_tokens(runtime: Runtime) -> None:
    h = Harness(runtime, mps=1)
    [long] = h.add(1, body="x" * 400)  # 3 segments
    [short] = h.add(1, created=START + 10)

    async def script(h: Harness) -> None:
        await until(lambda: len(h.submissions()) == 1)
        for second in range(1, 4):
            h.clock.advance(1)
            await until(lambda s=second: len(h.submissions()) == s + 1)
        await until(lambda: h.status(long)[0] == "delivered")

    h.run(script)
    assert h.submissions() == [(long, 1, 0), (long, 2, 1), (long, 3, 2), (short, 1, 3)]


def test_validity_expiry_to_the_second(runtime: Runtime) -> None:
    h = Harness(runtime, mps=1)
    sids = h.add(5, validity=2, created=START)

    async def script(h: Harness) -> None:
        await until(lambda: len(h.submissions()) == 1)
        h.clock.advance(1)
        await until(lambda: len(h.submissions()) == 2)
        h.clock.advance(0.999)
        await settle()
        assert h.status(sids[2]) == ("queued", None)
        h.clock.advance(0.001 + 0.000004)  # every deadline (created + i µs + 2 s) has passed
        await until(lambda: all(h.status(s)[0] == "failed" for s in sids[2:]))

    h.run(script)
    assert [h.status(s) for s in sids[2:]] == [("failed", 30036)] * 3
    assert len(h.submissions()) == 2
    owed = runtime.db.run(
        lambda c: c.execute(
            select(callbacks.c.message_sid, callbacks.c.params).where(
                callbacks.c.message_sid == sids[2]
            )
        ).all()
    )
    assert len(owed) == 1 and '"failed"' in owed[0][1] and '"30036"' in owed[0][1]


def test_overflow_boundary(runtime: Runtime) -> None:
    h = Harness(runtime, mps=1, horizon_s=5)  # room for 5 segments

    def reserve(sid: str, segments: int) -> None:
        base = message(runtime, h.account.sid)
        row = queued_message(replace(base, sid=sid, sender_sid=h.number.sid, num_segments=segments))
        runtime.db.run(lambda c: h.dispatcher.admission.admit(c, row, segments))

    for i in range(4):
        reserve(f"SM{i:032x}", 1)
    with pytest.raises(errors.QueueFull):
        reserve("SM" + "a" * 32, 2)  # 4 + 2 > 5
    reserve("SM" + "b" * 32, 1)  # exactly 5 fits
    with pytest.raises(errors.QueueFull):
        reserve("SM" + "c" * 32, 1)
    h.dispatcher.admission.abandon("SM" + "b" * 32)
    reserve("SM" + "d" * 32, 1)


def test_throttled_submissions_are_retried(runtime: Runtime) -> None:
    h = Harness(runtime, mps=100, capacity_per_s=3)
    sids = h.add(5)

    async def script(h: Harness) -> None:
        await until(lambda: len(h.submissions()) == 3)
        h.clock.advance(1)
        await until(lambda: all(h.status(s)[0] == "delivered" for s in sids))

    h.run(script)
    assert [s[0] for s in h.submissions()] == sids
    assert [s[2] for s in h.submissions()] == [0, 0, 0, 1, 1]


class _RefusingSink(OutboxSink):
    """The real outbox, except that writing one message's final callback fails."""

    def __init__(self, refused: str) -> None:
        self.refused = refused

    def enqueue(self, conn: Connection, changes: Sequence[StatusChange], now: int) -> None:
        if any(c.row.sid == self.refused and c.status.value == "delivered" for c in changes):
            raise RuntimeError("the outbox refused this one")
        super().enqueue(conn, changes, now)


def test_receipts_stored_together_and_one_bad_one_costs_the_others_nothing(
    runtime: Runtime, caplog: pytest.LogCaptureFixture
) -> None:
    sink = _RefusingSink("")
    h = Harness(runtime, mps=100, sink=sink)
    sids = h.add(5)
    sink.refused = sids[2]

    async def script(h: Harness) -> None:
        await until(lambda: all(h.status(s)[0] != "queued" for s in sids))
        await until(lambda: sum(h.status(s)[0] == "delivered" for s in sids) == 4)
        await settle()

    h.run(script)
    assert [h.status(s)[0] for s in sids] == ["delivered"] * 2 + ["sent"] + ["delivered"] * 2
    owed = h.read(
        lambda c: c.execute(
            select(callbacks.c.message_sid, callbacks.c.sequence).order_by(callbacks.c.id)
        ).all()
    )
    per_message = {sid: [seq for m, seq in owed if m == sid] for sid in sids}
    assert per_message[sids[2]] == [1]  # its `sent` callback only: nothing half-written
    assert all(per_message[s] == [1, 2] for s in sids if s != sids[2])
    assert "the outbox refused this one" in caplog.text  # the simulator's handler was told


def test_a_message_without_a_sender_is_failed_never_submitted(runtime: Runtime) -> None:
    """Issue 10 #1, the guard behind the API's: whatever stored a message with no sender
    SID and no valid alphanumeric ID (a blank `From` once did), the transport never gets
    it. A valid alphanumeric ID, which has no SID, still goes."""
    h = Harness(runtime, mps=10)
    base = {
        "to_number": "+447911123456",
        "status_callback": "http://127.0.0.1:9/cb",
        "date_created": START,
    }
    senderless = [
        replace(message(runtime, h.account.sid, i, from_number=sender, **base), sender_sid=None)
        for i, sender in enumerate(["", " ", "+14155550100", "not an ID!"])
    ]
    alpha = replace(message(runtime, h.account.sid, 9, from_number="Herald", **base))
    runtime.db.run(lambda c: [message_store.insert_message(c, m) for m in [*senderless, alpha]])

    async def script(h: Harness) -> None:
        await until(lambda: all(h.status(m.sid)[0] == "failed" for m in senderless))
        await until(lambda: h.status(alpha.sid)[0] == "delivered")

    h.run(script)
    assert [s[0] for s in h.submissions()] == [alpha.sid]
    assert [h.status(m.sid) for m in senderless] == [("failed", 21606)] * 4
    owed = h.read(
        lambda c: c.execute(
            select(callbacks.c.message_sid, callbacks.c.params).where(
                callbacks.c.message_sid == senderless[0].sid
            )
        ).all()
    )
    assert len(owed) == 1 and '"failed"' in owed[0][1] and '"21606"' in owed[0][1]
