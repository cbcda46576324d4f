"""Services and pools in the store, on both backends; and, on PostgreSQL, two
transactions racing to add to pools: the table and the service's row lock decide."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Connection

from herald.domain import errors, service_errors
from herald.domain.services import MAX_POOL, PoolKind, PoolSender, Service
from herald.domain.sids import Prefix
from herald.runtime import Runtime
from herald.store import services as store
from tests.conftest import eventually

AC = "AC" + "a" * 32
OTHER_AC = "AC" + "b" * 32


def service(runtime: Runtime, account_sid: str = AC, **changes: object) -> Service:
    made = Service(
        sid=runtime.new_sid(Prefix.SERVICE),
        account_sid=account_sid,
        friendly_name="s",
        date_created=1,
        date_updated=1,
    )
    made = replace(made, **changes)
    runtime.db.run(lambda conn: store.insert_service(conn, made))
    return made


def number_in(runtime: Runtime, service_sid: str, sid: str | None = None) -> PoolSender:
    return PoolSender(
        sid=sid or runtime.new_sid(Prefix.PHONE_NUMBER),
        account_sid=AC,
        service_sid=service_sid,
        kind=PoolKind.PHONE_NUMBER,
        date_created=2,
        date_updated=2,
    )


def test_services_round_trip(runtime: Runtime) -> None:
    first = service(
        runtime, validity_period=600, usecase="poll", inbound_request_url="https://x.y/"
    )
    second = service(runtime, date_created=5)
    service(runtime, OTHER_AC)
    db = runtime.db
    assert db.run(lambda c: store.get_service(c, AC, first.sid)) == first
    assert db.run(lambda c: store.get_service(c, OTHER_AC, first.sid)) is None
    assert db.run(lambda c: store.get_service(c, AC, "MG\x00")) is None
    listed = db.run(lambda c: store.list_services(c, AC, limit=10, offset=0))
    assert listed == [first, second]
    assert db.run(lambda c: store.list_services(c, AC, limit=1, offset=1)) == [second]
    changed = replace(first, sticky_sender=False, friendly_name="t", date_updated=9)
    db.run(lambda c: store.save_service(c, changed))
    assert db.run(lambda c: store.get_service(c, AC, first.sid)) == changed
    assert db.run(lambda c: store.delete_service(c, OTHER_AC, first.sid)) is False
    assert db.run(lambda c: store.delete_service(c, AC, "MG\x00")) is False
    assert db.run(lambda c: store.delete_service(c, AC, first.sid)) is True
    assert db.run(lambda c: store.get_service(c, AC, first.sid)) is None


def test_pool_of_lists_every_kind(runtime: Runtime) -> None:
    mg = service(runtime).sid
    number = number_in(runtime, mg)
    alpha = PoolSender(
        sid=runtime.new_sid(Prefix.ALPHA_SENDER),
        account_sid=AC,
        service_sid=mg,
        kind=PoolKind.ALPHA_SENDER,
        alpha_sender="Herald",
        registered_in=frozenset({"GB", "FR"}),
        date_created=3,
        date_updated=3,
    )
    runtime.db.run(lambda c: store.add_sender(c, number))
    runtime.db.run(lambda c: store.add_alpha_sender(c, alpha))
    assert runtime.db.run(lambda c: store.pool_of(c, mg)) == [number, alpha]
    assert runtime.db.run(lambda c: store.pool_of(c, "MG" + "0" * 32)) == []
    member = runtime.db.run(lambda c: store.get_member(c, AC, mg, PoolKind.ALPHA_SENDER, alpha.sid))
    assert member is not None and member.address == "Herald" and member.capabilities == ("SMS",)
    assert (
        runtime.db.run(lambda c: store.get_member(c, AC, mg, PoolKind.SHORT_CODE, alpha.sid))
        is None
    )


# -- races (PostgreSQL: SQLite has one writer at a time) -------------------------------


@contextmanager
def racing(
    runtime: Runtime,
) -> Iterator[Callable[[Callable[[Connection], object]], threading.Thread]]:
    """Run writes in their own transactions on threads; fail if one outlives the test."""
    if runtime.db.write_engine.dialect.name != "postgresql":
        pytest.skip("concurrent writers need PostgreSQL")
    threads: list[threading.Thread] = []

    def start(fn: Callable[[Connection], object]) -> threading.Thread:
        def run() -> None:
            with runtime.db.write_engine.begin() as conn:
                fn(conn)

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        threads.append(thread)
        return thread

    yield start
    for thread in threads:
        thread.join(10)
        assert not thread.is_alive()


def waiting_on_a_lock(runtime: Runtime) -> bool:
    query = text(
        "SELECT count(*) FROM pg_stat_activity "
        "WHERE datname = current_database() AND wait_event_type = 'Lock'"
    )
    with runtime.db.read_engine.connect() as conn:
        return bool(conn.execute(query).scalar())


def test_a_number_added_to_two_services_at_once_joins_one(runtime: Runtime) -> None:
    a, b = service(runtime).sid, service(runtime).sid
    pn = runtime.new_sid(Prefix.PHONE_NUMBER)
    outcome: list[BaseException] = []

    def add_to_b(conn: Connection) -> None:
        try:
            store.add_sender(conn, number_in(runtime, b, pn))
        except errors.TwilioError as exc:
            outcome.append(exc)

    with racing(runtime) as start, runtime.db.write_engine.connect() as first, first.begin():
        store.add_sender(first, number_in(runtime, a, pn))  # not committed yet
        start(add_to_b)
        eventually(lambda: waiting_on_a_lock(runtime))  # b's insert waits on a's row
    eventually(lambda: outcome)
    assert isinstance(outcome[0], service_errors.SenderInAnotherService)
    assert [s.service_sid for s in runtime.db.run(lambda c: store.pool_of(c, a))] == [a]
    assert runtime.db.run(lambda c: store.pool_of(c, b)) == []


def test_two_adds_to_a_nearly_full_pool_leave_it_full(runtime: Runtime) -> None:
    mg = service(runtime).sid
    for _ in range(MAX_POOL - 1):
        runtime.db.run(lambda c: store.add_sender(c, number_in(runtime, mg)))
    outcome: list[BaseException] = []

    def add_another(conn: Connection) -> None:
        try:
            store.get_service(conn, AC, mg, for_update=True)
            store.add_sender(conn, number_in(runtime, mg))
        except errors.TwilioError as exc:
            outcome.append(exc)

    with racing(runtime) as start, runtime.db.write_engine.connect() as first, first.begin():
        store.get_service(first, AC, mg, for_update=True)
        store.add_sender(first, number_in(runtime, mg))  # the 400th, not committed yet
        start(add_another)
        eventually(lambda: waiting_on_a_lock(runtime))  # on the service's row
    eventually(lambda: outcome)
    assert isinstance(outcome[0], service_errors.ServicePoolFull)
    assert len(runtime.db.run(lambda c: store.pool_of(c, mg))) == MAX_POOL
