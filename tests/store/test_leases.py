"""Sender leases in the store, on SQLite and PostgreSQL: taken when free, ours or expired,
renewed only by their owner, released, handed back, and orphans found."""

from __future__ import annotations

from sqlalchemy import update

from herald.runtime import Runtime
from herald.store import leases
from herald.store import messages as store
from herald.store.schema import messages
from tests.store.test_records import message

T = 1_700_000_000_000_000
S = 1_000_000


def test_taking_renewing_and_taking_over(runtime: Runtime) -> None:
    run = runtime.db.run
    assert run(lambda c: leases.acquire(c, ["K1", "K2"], "A", T, T + 10 * S)) == [
        ("K1", None),
        ("K2", None),
    ]
    assert run(lambda c: leases.acquire(c, ["K1", "K3"], "B", T + S, T + 11 * S)) == [("K3", None)]
    assert run(lambda c: leases.acquire(c, ["K1"], "A", T + S, T + 11 * S)) == [
        ("K1", None)
    ]  # ours
    assert run(lambda c: leases.renew(c, ["K1", "K2", "K3"], "A", T + 12 * S)) == {"K1", "K2"}
    # A stops renewing K2; once it has expired, B takes it over and A cannot renew it.
    assert run(lambda c: leases.acquire(c, ["K2"], "B", T + 11 * S, T + 21 * S)) == []
    assert run(lambda c: leases.acquire(c, ["K2"], "B", T + 13 * S, T + 23 * S)) == [("K2", "A")]
    assert run(lambda c: leases.renew(c, ["K1", "K2"], "A", T + 24 * S)) == {"K1"}
    assert run(lambda c: leases.held_count(c, T + 14 * S)) == 2  # K3 (B's) lapsed at T + 11
    # A limit takes only so many, in key order.
    assert run(lambda c: leases.acquire(c, ["K4", "K5", "K6"], "C", T, T + S, limit=2)) == [
        ("K4", None),
        ("K5", None),
    ]
    assert run(lambda c: leases.acquire(c, ["K6"], "C", T, T + S, limit=0)) == []


def test_release_hand_back_and_the_nodes_count(runtime: Runtime) -> None:
    run = runtime.db.run
    run(lambda c: leases.acquire(c, ["K1", "K2"], "A", T, T + 10 * S))
    assert run(lambda c: leases.heartbeat(c, "A", T)) == 1
    assert run(lambda c: leases.heartbeat(c, "B", T + S)) == 2
    assert run(lambda c: leases.heartbeat(c, "B", T + 12 * S)) == 1  # A not heard from: gone
    run(lambda c: leases.hand_back(c, ["K1"], "A"))
    assert run(lambda c: leases.acquire(c, ["K1"], "B", T + S, T + 11 * S)) == [("K1", None)]
    assert run(lambda c: leases.release(c, "A", T + 2 * S)) == 1  # K2: free now, still named
    assert run(lambda c: leases.acquire(c, ["K2"], "B", T + 3 * S, T + 13 * S)) == [("K2", "A")]
    run(lambda c: leases.leave(c, "B"))
    assert run(lambda c: leases.heartbeat(c, "C", T + 12 * S)) == 1


def test_orphans_are_senders_with_work_left_by_a_gone_node(runtime: Runtime) -> None:
    run = runtime.db.run
    account = "AC" + "1" * 32
    sending, sent, queued = (message(runtime, account, i, sender_sid=f"PN{i}") for i in range(3))
    for m in (sending, sent, queued):
        run(lambda c, m=m: store.insert_message(c, m))
    run(
        lambda c: c.execute(
            update(messages).where(messages.c.sid == sending.sid).values(status="sending")
        )
    )
    run(
        lambda c: c.execute(
            update(messages).where(messages.c.sid == sent.sid).values(status="sent", date_sent=T)
        )
    )
    run(lambda c: leases.acquire(c, ["PN0", "PN1", "PN2"], "A", T, T + 10 * S))
    assert run(lambda c: leases.orphaned_keys(c, T + S, T - S)) == []  # A is alive
    assert sorted(run(lambda c: leases.orphaned_keys(c, T + 11 * S, T - S))) == ["PN0", "PN1"]
    run(lambda c: leases.hand_back(c, ["PN1"], "A"))  # handed back idle: no receipt owed
    assert sorted(run(lambda c: leases.orphaned_keys(c, T + 11 * S, T - S))) == ["PN0"]
