"""The engine's sender health on a real database (SQLite and PostgreSQL): outcomes that
several nodes count add up, one of them changes the state and alerts once, every node
then routes around the sender, and the tracker keys any subject (a connection too)."""

from __future__ import annotations

import asyncio

from herald.clock import ManualClock
from herald.dispatch.health import HealthTracker
from herald.domain.health import IMPAIRED_ALERT, RECOVERED_ALERT, Outcome, Policy, Subject
from herald.domain.sids import Prefix, format_sid
from herald.metrics import Metrics
from herald.runtime import Runtime
from herald.store import health as store
from herald.store import routing as alert_store

START = 1_700_000_000_000_000
AC = "AC" + "a" * 32
POLICY = Policy(window_s=60, min_messages=4, failure_threshold=0.5, recovery_threshold=0.2)
SENDER = Subject(key="PN" + "1" * 32, address="+14155550100", account_sid=AC, resource_sid="PN1")
FAILED = Outcome(delivered=False, error_code=30007, latency_us=2_000_000)
DELIVERED = Outcome(delivered=True, latency_us=1_000_000)


def tracker(runtime: Runtime, clock: ManualClock, node: str) -> HealthTracker:
    sids = iter(range(1, 1000))
    return HealthTracker(
        runtime.db, clock, Metrics(), POLICY, node=node,
        new_sid=lambda prefix: format_sid(prefix, next(sids).to_bytes(16, "big")),
    )  # fmt: skip


def test_nodes_add_up_and_one_alerts(runtime: Runtime) -> None:
    clock = ManualClock(START)
    one, two = tracker(runtime, clock, "one"), tracker(runtime, clock, "two")

    async def scenario() -> None:
        for _ in range(3):
            one.record(SENDER, FAILED)
            two.record(SENDER, FAILED)
        await one.cycle()  # 3 failures: too few to judge
        assert not one.is_impaired(SENDER.key)
        await two.cycle()  # 6 across both nodes: impaired
        assert two.is_impaired(SENDER.key)
        await one.cycle()  # the other node reads it
        assert SENDER.key in one.impaired_keys()
        clock.advance(10)  # probes, in slices after the change
        for _ in range(4):
            one.record(SENDER, DELIVERED)
        await one.cycle()
        assert not one.is_impaired(SENDER.key)
        await two.cycle()
        assert not two.is_impaired(SENDER.key)

    asyncio.run(scenario())
    alerts = runtime.db.run(lambda c: alert_store.list_alerts(c, AC, limit=10, offset=0))
    assert sorted(a.error_code for a in alerts) == [IMPAIRED_ALERT, RECOVERED_ALERT]
    assert {a.sid[:2] for a in alerts} == {Prefix.ALERT.value}
    report = runtime.db.run(
        lambda c: store.get_report(c, AC, SENDER.address, since=START - 60_000_000)
    )
    assert report is not None
    assert (report.window.delivered, report.window.failed) == (4, 6)
    assert dict(report.window.errors) == {30007: 6}


def test_a_connection_is_tracked_without_alerts_and_old_slices_are_forgotten(
    runtime: Runtime,
) -> None:
    clock = ManualClock(START)
    health = tracker(runtime, clock, "one")
    link = Subject(key="smpp:carrier-a", kind="connection", address="carrier-a")

    async def scenario() -> None:
        for _ in range(5):
            health.record(link, Outcome(delivered=False, error_code=30008, refused=True))
        await health.cycle()
        assert health.is_impaired(link.key)
        assert ("connection", link.key, "carrier-a", True, 1.0) in health.view()
        clock.advance(200)  # the window is long gone: the next cycle forgets it
        await health.cycle()

    asyncio.run(scenario())
    assert runtime.db.run(lambda c: alert_store.list_alerts(c, AC, limit=10, offset=0)) == []
    slices = runtime.db.run(lambda c: store.slices_of(c, [link.key], 0))
    assert slices == {}
    assert runtime.db.run(store.impaired) == {link.key: ("connection", "carrier-a")}
    rendered = health.metrics.render().decode()
    assert 'herald_connection_outcomes_total{address="carrier-a"' in rendered
