"""Group commit on SQLite and PostgreSQL: shared transactions, results only after the
commit, and one failing write never sinks the others."""

from __future__ import annotations

import asyncio
import time

import pytest
from sqlalchemy import insert, select
from sqlalchemy.engine import Connection

from herald.domain import errors
from herald.runtime import Runtime
from herald.store.db import is_sqlite
from herald.store.schema import idempotency_keys


def _row(key: str) -> dict[str, object]:
    return {
        "account_sid": "AC" + "0" * 32,
        "key": key,
        "message_sid": "SM" + "0" * 32,
        "request_hash": "h",
        "date_created": 1,
    }


def _keys(conn: Connection) -> set[str]:
    return set(conn.execute(select(idempotency_keys.c.key)).scalars())


def test_concurrent_writes_share_commits(runtime: Runtime) -> None:
    db = runtime.db

    async def main() -> list[str]:
        async def one(i: int) -> str:
            def write(conn: Connection) -> str:
                conn.execute(insert(idempotency_keys).values(**_row(f"k{i}")))
                return f"k{i}"

            return await db.write(write)

        return await asyncio.gather(*(one(i) for i in range(300)))

    before = db.batches
    results = asyncio.run(main())
    assert results == [f"k{i}" for i in range(300)]
    assert db.run(_keys) == {f"k{i}" for i in range(300)}
    assert db.batches - before < 300  # writes were grouped


def test_a_twilio_error_fails_only_its_own_write(runtime: Runtime) -> None:
    db = runtime.db

    def good(key: str):  # type: ignore[no-untyped-def]
        def write(conn: Connection) -> None:
            conn.execute(insert(idempotency_keys).values(**_row(key)))

        return write

    def refused(_conn: Connection) -> None:
        raise errors.FromNotOwned()

    async def main() -> list[object]:
        return await asyncio.gather(
            db.write(good("a")), db.write(refused), db.write(good("b")), return_exceptions=True
        )

    outcome = asyncio.run(main())
    assert outcome[0] is None and outcome[2] is None
    assert isinstance(outcome[1], errors.FromNotOwned)
    assert db.run(_keys) >= {"a", "b"}


def test_a_broken_write_is_retried_alone(runtime: Runtime) -> None:
    db = runtime.db
    db.run(lambda conn: conn.execute(insert(idempotency_keys).values(**_row("dup"))))

    def write(key: str):  # type: ignore[no-untyped-def]
        def run(conn: Connection) -> str:
            conn.execute(insert(idempotency_keys).values(**_row(key)))
            return key

        return run

    async def main() -> list[object]:
        return await asyncio.gather(
            db.write(write("x")),
            db.write(write("dup")),
            db.write(write("y")),
            return_exceptions=True,
        )

    outcome = asyncio.run(main())
    assert outcome[0] == "x" and outcome[2] == "y"
    assert isinstance(outcome[1], Exception) and not isinstance(outcome[1], errors.TwilioError)
    assert db.run(_keys) == {"dup", "x", "y"}


def test_reads_see_committed_writes(runtime: Runtime) -> None:
    db = runtime.db

    async def main() -> set[str]:
        await db.write(lambda conn: conn.execute(insert(idempotency_keys).values(**_row("r"))))
        return await db.read(_keys)

    assert asyncio.run(main()) == {"r"}


def test_run_rolls_back_on_error(runtime: Runtime) -> None:
    def write(conn: Connection) -> None:
        conn.execute(insert(idempotency_keys).values(**_row("gone")))
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        runtime.db.run(write)
    assert "gone" not in runtime.db.run(_keys)


def test_a_first_write_goes_ahead_of_a_backlog(runtime: Runtime) -> None:
    """Callback delivery's cycle must not wait behind a queue drain's thousands of writes;
    on SQLite a batch also stops taking writes once its statements have had their time."""
    db = runtime.db
    order: list[str] = []

    def slow(key: str):  # type: ignore[no-untyped-def]
        def write(conn: Connection) -> None:
            time.sleep(0.012)  # 5 of these exceed SQLite's per-batch statement budget
            conn.execute(insert(idempotency_keys).values(**_row(key)))
            order.append(key)

        return write

    async def main() -> None:
        backlog = [asyncio.ensure_future(db.write(slow(f"b{i}"))) for i in range(60)]
        await asyncio.sleep(0)  # the backlog is queued (its first batch may have begun)
        await db.write(slow("urgent"), first=True)
        assert order.index("urgent") < 40, order  # in the next batch, not after the backlog
        await asyncio.gather(*backlog)

    before = db.batches
    asyncio.run(main())
    assert db.run(_keys) == {f"b{i}" for i in range(60)} | {"urgent"}
    if is_sqlite(db.url):  # statements on the loop's thread: the backlog split by time
        assert db.batches - before >= 3
