"""Which senders a node dispatches: alone, all of them; with leases (several nodes on one
database), those whose lease it holds, taken up to its fair share, used only with a safe
margin left, renewed, lost to another node once expired, handed back, released."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from herald.clock import ManualClock
from herald.dispatch.ownership import LEASE_MARGIN_US, LEASE_US, RETRY_US, Ownership
from herald.runtime import Runtime
from herald.store import leases
from tests.dispatch.test_dispatcher import SECOND, START

KEYS = [f"PN{i:032x}" for i in range(6)]


def node(runtime: Runtime, clock: ManualClock, name: str) -> Ownership:
    return Ownership(runtime.db, clock, node=name, leased=True, resume_after_us=SECOND)


def run(script: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(script())


def test_unleased_a_node_owns_every_sender_and_may_always_send(runtime: Runtime) -> None:
    alone = Ownership(
        runtime.db, ManualClock(START), node="solo", leased=False, resume_after_us=SECOND
    )
    assert alone.owns(KEYS[0]) and alone.owns("AC1/Herald")
    assert alone.may_send(KEYS[0], 0) and alone.may_send(KEYS[0], START + 10**12)
    assert alone.keys() == [] and alone.first_send_us(KEYS[0]) == 0

    async def script() -> None:
        await alone.release()  # nothing to give back, nothing written

    writes = runtime.db.writes
    run(script)
    assert runtime.db.writes == writes


def test_acquire_takes_up_to_the_fair_share_of_the_nodes_alive(runtime: Runtime) -> None:
    clock = ManualClock(START)
    a, b = node(runtime, clock, "A"), node(runtime, clock, "B")

    async def script() -> None:
        await b.heartbeat()
        await a.heartbeat()  # A sees two nodes alive
        taken = await a.acquire(set(KEYS))
        assert taken == [(key, None) for key in KEYS[:4]]  # 6 ÷ 2, one spare
        await b.heartbeat()
        assert await b.acquire(set(KEYS)) == [(KEYS[4], None), (KEYS[5], None)]

    run(script)
    assert a.keys() == KEYS[:4] and b.keys() == KEYS[4:]
    assert all(a.owns(k) for k in KEYS[:4]) and not any(a.owns(k) for k in KEYS[4:])
    assert a.first_send_us(KEYS[0]) == START + SECOND  # no send before a second after taking
    assert a.first_send_us(KEYS[5]) == 0


def test_may_send_only_with_a_safe_margin_left_and_renew_extends_it(runtime: Runtime) -> None:
    clock = ManualClock(START)
    a = node(runtime, clock, "A")
    key = KEYS[0]
    last_safe = START + LEASE_US - LEASE_MARGIN_US - 1

    async def script() -> None:
        assert await a.acquire({key}) == [(key, None)]
        assert a.may_send(key, last_safe)
        assert not a.may_send(key, last_safe + 1)
        assert not a.may_send(KEYS[1], START)  # not ours
        clock.advance(5)
        assert await a.renew() == []  # kept, until 5 s + the lease from now
        assert a.may_send(key, last_safe + 5 * SECOND)
        assert not a.may_send(key, last_safe + 5 * SECOND + 1)

    run(script)
    assert a.keys() == [key]
    held = runtime.db.run(lambda c: leases.held_count(c, START + LEASE_US + 4 * SECOND))
    assert held == 1  # the store's lease was renewed too


def test_a_lease_let_expire_is_taken_over_and_lost_at_the_next_renew(
    runtime: Runtime, caplog: pytest.LogCaptureFixture
) -> None:
    clock = ManualClock(START)
    a, b = node(runtime, clock, "A"), node(runtime, clock, "B")
    key = KEYS[0]

    async def script() -> None:
        assert await a.acquire({key}) == [(key, None)]
        clock.advance(1)
        assert await b.acquire({key}) == []  # A's, and alive
        writes = runtime.db.writes
        clock.advance(RETRY_US / SECOND - 0.001)
        assert await b.acquire({key}) == []  # not even asked again so soon
        assert runtime.db.writes == writes
        clock.advance(LEASE_US / SECOND)  # A, stalled, let its lease expire
        assert await b.acquire({key}) == [(key, "A")]  # taken over, from A
        assert b.owns(key) and b.may_send(key, clock.now_us())
        assert a.owns(key)  # A does not know yet ...
        assert not a.may_send(key, clock.now_us())  # ... but its margin is long gone
        assert await a.renew() == [key]

    run(script)
    assert a.keys() == [] and not a.owns(key)
    assert "lease taken over from node A by node B" in caplog.text
    assert "lease lost by node A" in caplog.text


def test_idle_senders_beyond_the_share_are_handed_back(runtime: Runtime) -> None:
    clock = ManualClock(START)
    a, b = node(runtime, clock, "A"), node(runtime, clock, "B")
    busy = KEYS[0]

    async def script() -> None:
        assert len(await a.acquire(set(KEYS))) == 6  # alone: all of them
        assert await a.hand_back_idle(lambda key: True) == []  # within its share
        await b.heartbeat()  # a second node turns up
        assert await a.renew() == []  # A learns: 2 nodes, 6 leases held
        handed = await a.hand_back_idle(lambda key: key != busy)
        assert handed == KEYS[1:3]  # 6 - (6 ÷ 2 + 1): two, idle ones, in key order
        assert await a.hand_back_idle(lambda key: True) == []  # at its share now
        assert await b.acquire(set(handed)) == [(k, None) for k in handed]  # free, no owner

    run(script)
    assert a.keys() == [busy, *KEYS[3:]]
    assert b.keys() == KEYS[1:3]


def test_release_frees_every_lease_at_once_and_leaves_the_count(runtime: Runtime) -> None:
    clock = ManualClock(START)
    a, b = node(runtime, clock, "A"), node(runtime, clock, "B")

    async def script() -> None:
        await a.heartbeat()
        assert len(await a.acquire(set(KEYS[:2]))) == 2
        clock.advance(1)
        await a.release()
        assert a.keys() == [] and not a.owns(KEYS[0])
        clock.advance(0.000001)
        # Free at once (not when the 10 s run out), and B sees whose they were.
        assert await b.acquire(set(KEYS[:2])) == [(KEYS[0], "A"), (KEYS[1], "A")]

    run(script)
    alive = runtime.db.run(lambda c: leases.heartbeat(c, "B", START + SECOND))
    assert alive == 1  # A left the nodes' count
