"""After a crash: what a dead run left `sending` or `sent` is reconciled with the carrier,
never blindly resent, and nothing goes out in the first second after taking a queue on."""

from __future__ import annotations

import asyncio

from sqlalchemy import select, update

from herald.carriers.simulator import CarrierSimulator
from herald.dispatch.transitions import SentMessage, mark_sent
from herald.domain.carrier import Receipt, Submission
from herald.domain.inbound import InboundMessage
from herald.domain.status import MessageStatus
from herald.runtime import Runtime
from herald.store import dispatch as store_dispatch
from herald.store.outbox import OutboxSink
from herald.store.schema import callbacks, messages, simulator_submissions
from tests.dispatch.test_dispatcher import START, Harness, until


def _logged_by_a_dead_run(h: Harness, sid: str) -> None:
    """The simulator logs the submission; its receipt goes to a run that dies before
    storing it."""

    async def lost(_receipt: Receipt) -> None:
        return None

    async def no_inbound(_message: InboundMessage) -> str:
        raise AssertionError("no inbound message expected")

    async def submit() -> None:
        dead = CarrierSimulator(h.runtime.db, h.clock, latency="instant")
        await dead.start(lost, no_inbound)
        [result] = await dead.submit(
            [
                Submission(
                    reference=f"{sid}/1",
                    message_sid=sid,
                    account_sid=h.account.sid,
                    sender=h.number.phone_number,
                    sender_kind=h.number.kind,
                    recipient="+14155550111",
                    part=1,
                    parts=1,
                    text="m0",
                    encoding="GSM-7",
                    media_urls=(),
                )
            ]
        )
        assert result.accepted
        await dead.close()

    asyncio.run(submit())


def _set(h: Harness, sid: str, **values: object) -> None:
    h.runtime.db.run(
        lambda c: c.execute(update(messages).where(messages.c.sid == sid).values(**values))
    )


def _log(h: Harness) -> list[tuple[str, bool]]:
    rows = h.read(
        lambda c: c.execute(
            select(simulator_submissions.c.reference, simulator_submissions.c.duplicate)
        ).all()
    )
    return [(row[0], bool(row[1])) for row in rows]


def test_a_message_left_sending_that_the_carrier_has_is_not_sent_again(runtime: Runtime) -> None:
    h = Harness(runtime, mps=10)
    [sid] = h.add(1)
    _logged_by_a_dead_run(h, sid)
    _set(h, sid, status="sending")

    async def script(h: Harness) -> None:
        await until(lambda: h.status(sid)[0] == "delivered")

    h.run(script)
    assert _log(h) == [(f"{sid}/1", False)]  # one submission, no resend, no duplicate


def test_a_message_left_sending_that_the_carrier_never_got_is_submitted(runtime: Runtime) -> None:
    h = Harness(runtime, mps=10)
    [sid] = h.add(1)
    _set(h, sid, status="sending")

    async def script(h: Harness) -> None:
        await until(lambda: h.status(sid)[0] == "delivered")

    h.run(script)
    assert _log(h) == [(f"{sid}/1", False)]


def test_a_sent_message_whose_receipt_was_lost_gets_it_again(runtime: Runtime) -> None:
    h = Harness(runtime, mps=10)
    [sid] = h.add(1)
    _logged_by_a_dead_run(h, sid)
    _set(h, sid, status="sent", date_sent=START)

    async def script(h: Harness) -> None:
        await until(lambda: h.status(sid)[0] == "delivered")

    h.run(script)
    assert _log(h) == [(f"{sid}/1", False)]


def test_nothing_goes_out_in_the_first_second_after_a_start(runtime: Runtime) -> None:
    h = Harness(runtime, mps=10, resume_after_s=1.0)
    [sid] = h.add(1)

    async def script(h: Harness) -> None:
        await until(lambda: bool(h.dispatcher.queues))  # started: the second counts from here
        h.clock.advance(0.999)
        for _ in range(20):
            await asyncio.sleep(0.002)
        assert h.submissions() == []
        h.clock.advance(0.001)
        await until(lambda: len(h.submissions()) == 1)

    h.run(script)
    assert h.submissions() == [(sid, 1, 1)]  # at START + 1 s


def test_marking_sent_again_owes_no_second_callback(runtime: Runtime) -> None:
    """A message reconciled after it had moved on (a stale attempt adopted late) is not
    reported `sent` twice."""
    h = Harness(runtime, mps=10)
    [sid] = h.add(1)
    _set(h, sid, status="delivered")
    [row] = h.read(
        lambda c: store_dispatch.load_for_keys(
            c, [h.number.sid], statuses=[MessageStatus.DELIVERED]
        )
    )
    sent = SentMessage(row=row, price=None, price_unit="USD", carrier="x")
    runtime.db.run(mark_sent([sent], START, OutboxSink()))
    assert h.status(sid)[0] == "delivered"
    assert h.read(lambda c: c.execute(select(callbacks.c.id)).all()) == []
