"""The database handle: a group-committing writer and a pool of readers.

Every write is a function of one connection run by a single writer thread; writes
that arrive together share one transaction and one commit (one fsync), and each
caller's future resolves only after that commit, so a 2xx always follows durability.
Contract for write functions: a `TwilioError` may be raised only before the function
has written anything, so it needs no rollback; any other error rolls the whole batch
back and each of its writes is retried alone, so one bad write never sinks the others.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import Connection
from sqlalchemy.pool import ConnectionPoolEntry

from herald.domain.errors import TwilioError

T = TypeVar("T")
log = logging.getLogger("herald.store")

WriteFn = Callable[[Connection], Any]
_Job = tuple[WriteFn, asyncio.Future[Any], asyncio.AbstractEventLoop]
_STOP = object()


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


class Database:
    """One writer thread with group commit, and a small thread pool for reads."""

    def __init__(self, url: str, *, synchronous: str = "FULL", max_batch: int = 1024) -> None:
        self.url = normalize_url(url)
        self.write_engine = make_engine(url, synchronous=synchronous, immediate=True)
        self.read_engine = make_engine(url, synchronous=synchronous)
        self._max_batch = max_batch
        self._jobs: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._readers = ThreadPoolExecutor(max_workers=4, thread_name_prefix="herald-read")
        self._writer = threading.Thread(target=self._write_loop, name="herald-write", daemon=True)
        self._writer.start()
        self.batches = 0
        self.writes = 0

    async def write(self, fn: Callable[[Connection], T]) -> T:
        """Run `fn` in the next group commit; return its result once it is durable."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._jobs.put((fn, future, loop))
        return await future

    async def read(self, fn: Callable[[Connection], T]) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._readers, self._run_read, fn)

    def _run_read(self, fn: Callable[[Connection], T]) -> T:
        with self.read_engine.connect() as conn, conn.begin():
            return fn(conn)

    def run(self, fn: Callable[[Connection], T]) -> T:
        """Run `fn` in its own transaction on the calling thread (CLI, start-up)."""
        with self.write_engine.begin() as conn:
            return fn(conn)

    def close(self) -> None:
        self._jobs.put(_STOP)
        self._writer.join(timeout=30)
        self._readers.shutdown(wait=True)
        self.write_engine.dispose()
        self.read_engine.dispose()

    def _write_loop(self) -> None:
        conn = self.write_engine.connect()
        try:
            while True:
                first = self._jobs.get()
                if first is _STOP:
                    return
                batch: list[_Job] = [first]
                stop = self._drain(batch)
                self._commit_batch(conn, batch)
                if stop:
                    return
        finally:
            conn.close()

    def _drain(self, batch: list[_Job]) -> bool:
        while len(batch) < self._max_batch:
            try:
                job = self._jobs.get_nowait()
            except queue.Empty:
                return False
            if job is _STOP:
                return True
            batch.append(job)
        return False

    def _commit_batch(self, conn: Connection, batch: list[_Job]) -> None:
        try:
            with conn.begin():
                outcomes = [self._apply(conn, fn) for fn, _, _ in batch]
        except Exception:
            log.exception("group commit of %d writes failed; retrying them one by one", len(batch))
            outcomes = [self._apply_alone(conn, fn) for fn, _, _ in batch]
        self.batches += 1
        self.writes += len(batch)
        _resolve_all(batch, outcomes)

    @staticmethod
    def _apply(conn: Connection, fn: WriteFn) -> tuple[Any, BaseException | None]:
        try:
            return fn(conn), None
        except TwilioError as exc:
            return None, exc

    @staticmethod
    def _apply_alone(conn: Connection, fn: WriteFn) -> tuple[Any, BaseException | None]:
        try:
            with conn.begin():
                return Database._apply(conn, fn)
        except Exception as exc:
            return None, exc


def _resolve_all(batch: list[_Job], outcomes: list[tuple[Any, BaseException | None]]) -> None:
    by_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[Any], Any, Any]]] = {}
    for (_, future, loop), (result, error) in zip(batch, outcomes, strict=True):
        by_loop.setdefault(loop, []).append((future, result, error))
    for loop, items in by_loop.items():
        try:
            loop.call_soon_threadsafe(_settle, items)
        except RuntimeError:
            log.warning("event loop closed before %d writes could be reported", len(items))


def _settle(items: list[tuple[asyncio.Future[Any], Any, BaseException | None]]) -> None:
    for future, result, error in items:
        if future.cancelled():
            continue
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)
