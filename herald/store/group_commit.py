"""Group commit: writes that arrive together share one transaction and one commit.

Each write is a function of one connection; its caller's future resolves only after
the commit, so a 2xx always follows durability. Contract for write functions: a
`TwilioError` may be raised only before the function has written anything, so it needs
no rollback; any other error rolls the whole batch back and each of its writes is then
retried alone, so one bad write never sinks the others. A write marked `first` goes into
the next batch ahead of any backlog (callback delivery's one write per cycle, which would
otherwise wait behind a queue drain's thousands).

Two committers share that contract. SQLite runs the statements on the event loop's own
thread (they touch only the page cache, ~10 µs each) and only the COMMIT, whose fsync is
the slow part, on a worker thread: a statement run on a second thread would give up and
wait for the GIL on every call. PostgreSQL's statements wait on the network, so there a
writer thread runs the whole batch.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.engine import Connection

from herald.domain.errors import TwilioError

log = logging.getLogger("herald.store")

WriteFn = Callable[[Connection], Any]
Outcome = tuple[Any, BaseException | None]
_STOP = object()
_WAKE = object()  # an urgent write is waiting
BUDGET_S = 0.05  # statements per SQLite batch: the loop's thread is not theirs for longer


def apply(conn: Connection, fn: WriteFn) -> Outcome:
    try:
        return fn(conn), None
    except TwilioError as exc:
        return None, exc


def apply_alone(conn: Connection, fn: WriteFn) -> Outcome:
    try:
        with conn.begin():
            return apply(conn, fn)
    except Exception as exc:
        return None, exc


def settle(futures: list[asyncio.Future[Any]], outcomes: list[Outcome]) -> None:
    for future, (result, error) in zip(futures, outcomes, strict=True):
        if future.cancelled():
            continue
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)


class Stats:
    def __init__(self) -> None:
        self.batches = 0
        self.writes = 0


class LoopCommitter:
    """Statements on the loop's thread, COMMIT (fsync) on a worker thread (SQLite)."""

    def __init__(self, engine: Engine, max_batch: int) -> None:
        self.stats = Stats()
        self._engine = engine
        self._max_batch = max_batch
        self._conn: Connection | None = None
        self._pending: collections.deque[tuple[WriteFn, asyncio.Future[Any]]] = collections.deque()
        self._urgent: collections.deque[tuple[WriteFn, asyncio.Future[Any]]] = collections.deque()
        self._flushing = False
        self._committer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="herald-commit")

    async def write(self, fn: WriteFn, *, first: bool = False) -> Any:
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        (self._urgent if first else self._pending).append((fn, future))
        if not self._flushing:
            self._flushing = True
            asyncio.get_running_loop().create_task(self._flush())
        return await future

    async def _flush(self) -> None:
        try:
            while self._urgent or self._pending:
                await self._commit_next()
        finally:
            self._flushing = False

    async def _commit_next(self) -> None:
        """Commit the urgent writes and as many others as fit in `BUDGET_S` of statements
        (the event loop's own time) and `max_batch`; the rest wait for the next batch."""
        loop = asyncio.get_running_loop()
        if self._conn is None:
            self._conn = self._engine.connect()
        conn = self._conn
        batch: list[tuple[WriteFn, asyncio.Future[Any]]] = []
        outcomes: list[Outcome] = []
        transaction = conn.begin()
        try:
            deadline = time.perf_counter() + BUDGET_S
            for source in (self._urgent, self._pending):
                while source and len(batch) < self._max_batch:
                    if source is self._pending and batch and time.perf_counter() > deadline:
                        break
                    job = source.popleft()
                    batch.append(job)
                    outcomes.append(apply(conn, job[0]))
            self.stats.batches += 1
            self.stats.writes += len(batch)
            await loop.run_in_executor(self._committer, transaction.commit)
        except Exception:
            log.exception("group commit of %d writes failed; retrying them one by one", len(batch))
            if transaction.is_active:
                transaction.rollback()
            outcomes = [apply_alone(conn, fn) for fn, _ in batch]
        settle([future for _, future in batch], outcomes)

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
        self._committer.shutdown(wait=True)


class ThreadCommitter:
    """A writer thread that runs whole batches (PostgreSQL)."""

    def __init__(self, engine: Engine, max_batch: int) -> None:
        self.stats = Stats()
        self._engine = engine
        self._max_batch = max_batch
        self._jobs: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._urgent: collections.deque[Any] = collections.deque()
        self._thread = threading.Thread(target=self._run, name="herald-write", daemon=True)
        self._thread.start()

    async def write(self, fn: WriteFn, *, first: bool = False) -> Any:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        if first:
            self._urgent.append((fn, future, loop))
            self._jobs.put(_WAKE)
        else:
            self._jobs.put((fn, future, loop))
        return await future

    def _run(self) -> None:
        with self._engine.connect() as conn:
            while True:
                # Urgent writes whose wake-up an earlier batch consumed must not wait.
                first = _WAKE if self._urgent else self._jobs.get()
                if first is _STOP:
                    return
                batch: list[Any] = []
                self._take_urgent(batch)
                if first is not _WAKE:
                    batch.append(first)
                stop = self._drain(batch)
                if batch:
                    self._commit_batch(conn, batch)
                if stop:
                    return

    def _drain(self, batch: list[Any]) -> bool:
        while len(batch) < self._max_batch:
            try:
                job = self._jobs.get_nowait()
            except queue.Empty:
                return False
            if job is _STOP:
                return True
            if job is _WAKE:
                self._take_urgent(batch)
            else:
                batch.append(job)
        return False

    def _take_urgent(self, batch: list[Any]) -> None:
        while self._urgent and len(batch) < self._max_batch:
            batch.append(self._urgent.popleft())

    def _commit_batch(self, conn: Connection, batch: list[Any]) -> None:
        try:
            with conn.begin():
                outcomes = [apply(conn, fn) for fn, _, _ in batch]
        except Exception:
            log.exception("group commit of %d writes failed; retrying them one by one", len(batch))
            outcomes = [apply_alone(conn, fn) for fn, _, _ in batch]
        self.stats.batches += 1
        self.stats.writes += len(batch)
        by_loop: dict[asyncio.AbstractEventLoop, tuple[list[Any], list[Outcome]]] = {}
        for (_, future, loop), outcome in zip(batch, outcomes, strict=True):
            futures, results = by_loop.setdefault(loop, ([], []))
            futures.append(future)
            results.append(outcome)
        for loop, (futures, results) in by_loop.items():
            try:
                loop.call_soon_threadsafe(settle, futures, results)
            except RuntimeError:
                log.warning("event loop closed before %d writes could be reported", len(futures))

    def close(self) -> None:
        self._jobs.put(_STOP)
        self._thread.join(timeout=30)
