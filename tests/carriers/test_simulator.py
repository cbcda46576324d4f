"""The simulator as a transport, on a real database (SQLite and PostgreSQL) and a manual
clock: durable acks, duplicates, throttling, refusals, receipts and latency."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any, TypeVar

import pytest

from herald.carriers.network import lookup_carrier
from herald.carriers.sim_tables import CARRIERS
from herald.carriers.simulator import CarrierSimulator, SeenReferences
from herald.clock import ManualClock
from herald.domain.carrier import Receipt, Submission
from herald.domain.inbound import InboundMessage
from herald.domain.senders import SenderKind
from herald.runtime import Runtime
from herald.store import simulator_log
from herald.store.simulator_log import LoggedSubmission

T = TypeVar("T")
_sids = itertools.count()
SAFE = "+14155550100"  # NANPA fiction: always delivered, main carrier


def sid() -> str:
    return f"SM{next(_sids):032x}"


def sms(
    recipient: str = SAFE,
    *,
    message_sid: str | None = None,
    part: int = 1,
    parts: int = 1,
    kind: SenderKind = SenderKind.LONG_CODE,
    media: tuple[str, ...] = (),
) -> Submission:
    message_sid = message_sid or sid()
    return Submission(
        reference=f"{message_sid}/{part}",
        message_sid=message_sid,
        account_sid="AC" + "0" * 32,
        sender="12345" if kind is SenderKind.SHORT_CODE else "+14155550199",
        sender_kind=kind,
        recipient=recipient,
        part=part,
        parts=parts,
        text="hello",
        encoding="GSM-7",
        media_urls=media,
    )


def number_on(carrier: str) -> str:
    """A US number of `carrier` (clear of test suffixes): carriers own 1,000-blocks."""
    for exchange, block in itertools.product(range(200, 1000), range(10)):
        e164 = f"+1212{exchange}{block}234"
        info = lookup_carrier(e164)
        if info is not None and info.name == carrier and not info.is_landline:
            return e164
    raise AssertionError(f"no number on {carrier}")


class Receipts:
    """The `on_receipt` handler: collects receipts and lets a test wait for a count."""

    def __init__(self) -> None:
        self.items: list[Receipt] = []
        self._changed = asyncio.Event()

    async def __call__(self, receipt: Receipt) -> None:
        self.items.append(receipt)
        self._changed.set()

    async def wait_for(self, count: int) -> list[Receipt]:
        async with asyncio.timeout(5):
            while len(self.items) < count:
                self._changed.clear()
                await self._changed.wait()
        return self.items


class WatchedClock(ManualClock):
    """A manual clock that records each sleep, so a test advances it only once waited on."""

    def __init__(self) -> None:
        super().__init__()
        self.sleeps: list[float] = []
        self._slept = asyncio.Event()

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self._slept.set()
        await super().sleep(seconds)

    async def wait_for_sleeps(self, count: int) -> None:
        async with asyncio.timeout(5):
            while len(self.sleeps) < count:
                self._slept.clear()
                await self._slept.wait()


Scenario = Callable[[CarrierSimulator, Receipts, ManualClock], Awaitable[T]]


def run(
    runtime: Runtime,
    scenario: Scenario[T],
    *,
    clock: ManualClock | None = None,
    latency: str = "instant",
    **options: Any,
) -> T:
    """Run `scenario` against a started simulator on the runtime's database."""

    async def main() -> T:
        manual = clock or ManualClock()
        simulator = CarrierSimulator(runtime.db, manual, latency=latency, **options)
        receipts = Receipts()
        await simulator.start(receipts, refuse_inbound)
        try:
            return await scenario(simulator, receipts, manual)
        finally:
            await simulator.close()

    return asyncio.run(main())


async def refuse_inbound(message: InboundMessage) -> str:
    raise AssertionError(f"no inbound message expected: {message}")


def test_hand_over_gives_the_inbound_message_to_the_handler_and_answers_its_sid(
    runtime: Runtime,
) -> None:
    got: list[InboundMessage] = []

    async def store(message: InboundMessage) -> str:
        got.append(message)
        return "SM" + "0" * 32

    async def main() -> str:
        simulator = CarrierSimulator(runtime.db, ManualClock(), latency="instant")
        with pytest.raises(RuntimeError):  # not started: no carrier connection to hand over
            await simulator.hand_over(MO)
        await simulator.start(Receipts(), store)
        try:
            return await simulator.hand_over(MO)
        finally:
            await simulator.close()

    assert asyncio.run(main()) == "SM" + "0" * 32
    assert got == [MO]


MO = InboundMessage(
    carrier="simulator", carrier_id="mo-1", from_number="+12125550100",
    to_number="+14155550100", body="hi",
)  # fmt: skip


def logged(runtime: Runtime, message_sid: str | None = None) -> list[LoggedSubmission]:
    return runtime.db.run(partial(simulator_log.list_submissions, message_sid=message_sid))


def test_accepts_logs_durably_and_sends_one_receipt(runtime: Runtime) -> None:
    async def scenario(sim: CarrierSimulator, receipts: Receipts, clock: ManualClock) -> None:
        batch = [sms(SAFE), sms("+14155553007")]
        results = await sim.submit(batch)
        rows = await runtime.db.read(simulator_log.list_submissions)
        assert [r.reference for r in rows] == [s.reference for s in batch]  # durable at the ack
        assert all(r.accepted and r.price_per_segment == "0.00790" for r in results)
        assert results[0].carrier == CARRIERS["US"][0].name and results[0].carrier_message_id
        got = await receipts.wait_for(2)
        assert [(r.message_sid, r.delivered, r.error_code) for r in got] == [
            (batch[0].message_sid, True, None),
            (batch[1].message_sid, False, 30007),
        ]
        assert all(r.done_at_us == clock.now_us() for r in got)  # instant: no clock needed

    run(runtime, scenario)
    rows = logged(runtime)
    assert [(r.outcome, r.error_code, r.duplicate) for r in rows] == [
        ("delivered", None, False),
        ("undelivered", 30007, False),
    ]
    assert rows[0].carrier == CARRIERS["US"][0].name and rows[0].sender == "+14155550199"


def test_a_repeated_reference_is_a_duplicate_with_the_same_answer_and_no_receipt(
    runtime: Runtime,
) -> None:
    first = sms()

    async def scenario(sim: CarrierSimulator, receipts: Receipts, _: ManualClock) -> None:
        [original] = await sim.submit([first])
        [again, within] = await sim.submit([first, first])
        assert again == within == original
        later = sms()
        await sim.submit([later])
        got = await receipts.wait_for(2)
        assert [r.message_sid for r in got] == [first.message_sid, later.message_sid]

    run(runtime, scenario)
    assert [r.duplicate for r in logged(runtime, message_sid=first.message_sid)] == [
        False,
        True,
        True,
    ]
    assert runtime.db.run(simulator_log.count_duplicates) == 2


def test_a_resend_after_a_restart_is_recognised_from_the_log(runtime: Runtime) -> None:
    first = sms()

    async def before(sim: CarrierSimulator, receipts: Receipts, _: ManualClock) -> object:
        [result] = await sim.submit([first])
        return result

    async def after(sim: CarrierSimulator, receipts: Receipts, _: ManualClock) -> object:
        [result] = await sim.submit([first])
        later = sms()
        await sim.submit([later])
        [receipt] = await receipts.wait_for(1)  # receipts go out in order of submission
        assert receipt.message_sid == later.message_sid
        return result

    assert run(runtime, before) == run(runtime, after)
    assert runtime.db.run(simulator_log.count_duplicates) == 1


def test_receipt_per_message_after_its_last_part(runtime: Runtime) -> None:
    message_sid = sid()
    parts = [sms(message_sid=message_sid, part=p, parts=3) for p in (1, 2, 3)]

    async def scenario(sim: CarrierSimulator, receipts: Receipts, _: ManualClock) -> None:
        await sim.submit(parts[:2])
        await sim.submit([sms()])
        first = await receipts.wait_for(1)
        assert first[0].message_sid != message_sid
        await sim.submit(parts[2:])
        got = await receipts.wait_for(2)
        assert got[1].message_sid == message_sid
        assert len(got) == 2

    run(runtime, scenario)
    assert (
        runtime.db.run(lambda c: simulator_log.count_submissions(c, message_sid=message_sid)) == 3
    )


def test_capacity_pushes_back_and_takes_the_submission_a_second_later(runtime: Runtime) -> None:
    async def scenario(sim: CarrierSimulator, receipts: Receipts, clock: ManualClock) -> None:
        batch = [sms(f"+1415555{line:04d}") for line in range(100, 106)]
        results = await sim.submit(batch)
        assert [r.accepted for r in results] == [True] * 5 + [False]
        assert results[5].retry_after_s == 1.0 and results[5].error_code is None
        clock.advance(0.5)
        [still] = await sim.submit(batch[5:])
        assert still.retry_after_s == pytest.approx(0.5)
        assert (await sim.submit([sms("+16135550100")]))[0].accepted  # another carrier
        clock.advance(0.5)
        [taken] = await sim.submit(batch[5:])
        assert taken.accepted
        assert len(await receipts.wait_for(7)) == 7

    run(runtime, scenario, capacity_per_s=5)
    assert len(logged(runtime)) == 7  # a throttled submission is not taken, so not logged
    assert runtime.db.run(lambda c: simulator_log.busiest_second(c, sender="+14155550199")) == 6


def test_refusals_mms_short_code_and_invalid_recipient(runtime: Runtime) -> None:
    no_mms = number_on("Prairie Rural Cellular")
    no_short_codes = number_on("Cascade Prepaid")
    batch = [
        sms(no_mms, media=("https://example.com/a.png",)),
        sms(no_short_codes, kind=SenderKind.SHORT_CODE),
        sms("+15551234567"),
        sms(SAFE, media=("https://example.com/a.png",)),
        sms(no_mms),
        sms(no_short_codes),
    ]

    async def scenario(sim: CarrierSimulator, receipts: Receipts, _: ManualClock) -> None:
        results = await sim.submit(batch)
        assert [(r.accepted, r.error_code, r.retry_after_s) for r in results[:3]] == [
            (False, 30011, None),
            (False, 21612, None),
            (False, 21211, None),
        ]
        assert results[3].accepted and results[3].price_per_segment == "0.02000"
        assert results[4].accepted and results[5].accepted
        got = await receipts.wait_for(3)
        assert {r.message_sid for r in got} == {s.message_sid for s in batch[3:]}

    run(runtime, scenario)
    rows = logged(runtime)
    assert [(r.outcome, r.error_code) for r in rows[:3]] == [
        ("refused", 30011),
        ("refused", 21612),
        ("refused", 21211),
    ]
    assert rows[2].carrier == "unknown"


def test_landlines_and_silent_numbers(runtime: Runtime) -> None:
    async def scenario(sim: CarrierSimulator, receipts: Receipts, _: ManualClock) -> None:
        info = sim.lookup("+14155559901")
        assert info is not None and info.is_landline
        silent, landline = sms("+14155553000"), sms("+14155559901")
        assert all(r.accepted for r in await sim.submit([silent, landline]))
        [receipt] = await receipts.wait_for(1)
        assert (receipt.message_sid, receipt.error_code) == (landline.message_sid, 30006)

    run(runtime, scenario)
    assert [r.outcome for r in logged(runtime)] == ["no_receipt", "undelivered"]


def test_realistic_latency_waits_on_the_clock(runtime: Runtime) -> None:
    async def scenario(sim: CarrierSimulator, receipts: Receipts, clock: ManualClock) -> None:
        assert isinstance(clock, WatchedClock)
        start_us = clock.now_us()
        submitting = asyncio.create_task(sim.submit([sms()]))
        await clock.wait_for_sleeps(1)
        assert 0.0 < clock.sleeps[0] <= 1.0 and not submitting.done()
        clock.advance(clock.sleeps[0])
        [result] = await submitting
        assert result.accepted
        await clock.wait_for_sleeps(2)  # the receipt, waiting for its time
        assert receipts.items == []
        clock.advance(60)
        [receipt] = await receipts.wait_for(1)
        assert receipt.delivered and receipt.done_at_us - start_us > clock.sleeps[0] * 1e6

    run(runtime, scenario, latency="realistic", clock=WatchedClock())


def test_a_seeded_run_is_reproducible_whatever_the_message_sids(runtime: Runtime) -> None:
    recipients = [f"+1415200{line:04d}" for line in range(1000, 1200)]

    async def scenario(
        sim: CarrierSimulator, receipts: Receipts, _: ManualClock
    ) -> list[tuple[str, int | None]]:
        batch = [sms(r) for r in recipients]  # new message SIDs every run
        await sim.submit(batch)
        got = {r.message_sid: r.error_code for r in await receipts.wait_for(len(batch))}
        return [(s.recipient, got[s.message_sid]) for s in batch]

    first = run(runtime, scenario, seed=3, failure_rate=0.2)
    assert first == run(runtime, scenario, seed=3, failure_rate=0.2)
    assert first != run(runtime, scenario, seed=4, failure_rate=0.2)
    assert 15 < sum(code is not None for _, code in first) < 70


def test_close_cancels_pending_receipts(runtime: Runtime) -> None:
    async def scenario(sim: CarrierSimulator, receipts: Receipts, clock: ManualClock) -> None:
        submitting = asyncio.create_task(sim.submit([sms()]))
        assert isinstance(clock, WatchedClock)
        await clock.wait_for_sleeps(1)
        clock.advance(1)
        await submitting
        await sim.close()
        clock.advance(60)
        await asyncio.sleep(0)
        assert receipts.items == []

    run(runtime, scenario, latency="realistic", clock=WatchedClock())


def test_a_failing_receipt_handler_does_not_stop_the_others(
    runtime: Runtime, caplog: pytest.LogCaptureFixture
) -> None:
    async def main() -> list[str]:
        seen: list[str] = []
        done = asyncio.Event()

        async def handler(receipt: Receipt) -> None:
            seen.append(receipt.message_sid)
            if len(seen) == 2:
                done.set()
            if len(seen) == 1:
                raise RuntimeError("webhook down")

        sim = CarrierSimulator(runtime.db, ManualClock(), latency="instant")
        await sim.start(handler, refuse_inbound)
        await sim.submit([sms(), sms()])
        async with asyncio.timeout(5):
            await done.wait()
        await sim.close()
        return seen

    assert len(asyncio.run(main())) == 2
    assert "receipt handler failed" in caplog.text


def test_submit_before_start_and_bad_options_are_errors(runtime: Runtime) -> None:
    clock = ManualClock()
    with pytest.raises(ValueError, match="latency"):
        CarrierSimulator(runtime.db, clock, latency="fast")
    with pytest.raises(ValueError, match="failure_rate"):
        CarrierSimulator(runtime.db, clock, failure_rate=2)
    with pytest.raises(ValueError, match="capacity_per_s"):
        CarrierSimulator(runtime.db, clock, capacity_per_s=0)
    with pytest.raises(RuntimeError, match="start"):
        asyncio.run(CarrierSimulator(runtime.db, clock).submit([sms()]))


def test_seen_references_are_kept_for_at_least_the_window() -> None:
    seen_refs = SeenReferences(10)
    seen_refs.rotate(0)
    seen_refs.add("a")
    seen_refs.rotate(9)
    seen_refs.add("b")
    seen_refs.rotate(10)
    assert "a" in seen_refs and "b" in seen_refs
    seen_refs.rotate(20)
    assert "a" not in seen_refs and "b" not in seen_refs
    seen_refs.add("c")
    seen_refs.forget(["c"])
    assert "c" not in seen_refs
