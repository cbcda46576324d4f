"""The database handle: engines for SQLite (WAL) or PostgreSQL, group-committed writes
(see group_commit.py) and a small thread pool for reads."""

from __future__ import annotations

import asyncio
import fcntl
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, contextmanager
from typing import Any, TypeVar

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import Connection
from sqlalchemy.pool import ConnectionPoolEntry

from herald.store.group_commit import LoopCommitter, ThreadCommitter

T = TypeVar("T")


def normalize_url(url: str) -> str:
    """Pick the drivers Herald ships with: psycopg 3 for PostgreSQL."""
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


def make_engine(url: str, *, synchronous: str = "FULL", immediate: bool = False) -> Engine:
    """An engine; on SQLite, WAL mode with real transactions (BEGIN issued by us)."""
    url = normalize_url(url)
    if not is_sqlite(url):
        return create_engine(url, pool_size=8, max_overflow=8, pool_pre_ping=True)
    engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: ConnectionPoolEntry) -> None:
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA synchronous={synchronous}")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    begin = "BEGIN IMMEDIATE" if immediate else "BEGIN"

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        conn.exec_driver_sql(begin)

    return engine


BOOTSTRAP_LOCK = 0x48455241  # "HERA": PostgreSQL advisory lock key for start-up


@contextmanager
def bootstrap_lock(engine: Engine) -> Iterator[None]:
    """Serialise start-up (migrations, the first account) between nodes starting at once:
    a PostgreSQL advisory lock, or a lock file beside the SQLite database."""
    if not is_sqlite(str(engine.url)):
        with engine.connect() as conn:
            conn.exec_driver_sql(f"SELECT pg_advisory_lock({BOOTSTRAP_LOCK})")
            conn.commit()
            try:
                yield
            finally:
                conn.exec_driver_sql(f"SELECT pg_advisory_unlock({BOOTSTRAP_LOCK})")
                conn.commit()
        return
    database = engine.url.database
    if not database or database == ":memory:":
        yield
        return
    with open(f"{database}.lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


class Database:
    """The engines, a group committer for writes and a small thread pool for reads."""

    def __init__(self, url: str, *, synchronous: str = "FULL", max_batch: int = 1024) -> None:
        self.url = normalize_url(url)
        self.write_engine = make_engine(url, synchronous=synchronous, immediate=True)
        self.read_engine = make_engine(url, synchronous=synchronous)
        committer = LoopCommitter if is_sqlite(self.url) else ThreadCommitter
        self._committer = committer(self.write_engine, max_batch)
        self._readers = ThreadPoolExecutor(max_workers=4, thread_name_prefix="herald-read")

    @property
    def batches(self) -> int:
        return self._committer.stats.batches

    @property
    def writes(self) -> int:
        return self._committer.stats.writes

    async def write(self, fn: Callable[[Connection], T], *, first: bool = False) -> T:
        """Run `fn` in the next group commit (`first`: ahead of writes already waiting);
        return its result once it is durable."""
        result: T = await self._committer.write(fn, first=first)
        return result

    async def read(self, fn: Callable[[Connection], T]) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._readers, self._run_read, fn)

    def _run_read(self, fn: Callable[[Connection], T]) -> T:
        with self.read_engine.connect() as conn, conn.begin():
            return fn(conn)

    def bootstrap_lock(self) -> AbstractContextManager[None]:
        return bootstrap_lock(self.write_engine)

    def run(self, fn: Callable[[Connection], T]) -> T:
        """Run `fn` in its own transaction on the calling thread (CLI, start-up, tests)."""
        with self.write_engine.begin() as conn:
            return fn(conn)

    def close(self) -> None:
        self._committer.close()
        self._readers.shutdown(wait=True)
        self.write_engine.dispose()
        self.read_engine.dispose()
