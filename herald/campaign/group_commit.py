"""Many workers' writes to the campaign database in one transaction each time: a worker
waits for its write to be durable before it sends again (the resumable-send contract),
but the workers' writes share commits instead of paying one each."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class GroupCommit(Generic[T]):
    def __init__(self, flush: Callable[[list[T]], None]) -> None:
        self._flush = flush  # runs in a thread; raises to fail every waiter of its batch
        self._waiting: list[tuple[tuple[T, ...], asyncio.Future[None]]] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def write(self, *items: T) -> None:
        """Returns once `items` are committed, together."""
        if self._task is None:
            self._task = asyncio.create_task(self._run())
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.append((items, future))
        self._wake.set()
        await future

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            batch, self._waiting = self._waiting, []
            if not batch:
                continue
            try:
                await asyncio.to_thread(self._flush, [i for items, _ in batch for i in items])
            except Exception as exc:  # every waiter hears it; none is told it is durable
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                continue
            for _, future in batch:
                if not future.done():
                    future.set_result(None)
