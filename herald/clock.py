"""Time for the shell: a small `Clock` protocol, so background loops can run on a
manual clock in tests."""

from __future__ import annotations

import asyncio
import time
from typing import Protocol


class Clock(Protocol):
    def now_us(self) -> int:
        """Microseconds since the Unix epoch, UTC."""
        ...

    async def sleep(self, seconds: float) -> None: ...


class SystemClock:
    def now_us(self) -> int:
        return time.time_ns() // 1000

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


class ManualClock:
    """A clock that moves only when told; `sleep` waits until `advance` passes the deadline."""

    def __init__(self, start_us: int = 1_700_000_000_000_000) -> None:
        self._now = start_us
        self._changed = asyncio.Event()

    def now_us(self) -> int:
        return self._now

    def advance(self, seconds: float) -> None:
        self._now += round(seconds * 1_000_000)
        self._changed.set()
        self._changed = asyncio.Event()

    async def sleep(self, seconds: float) -> None:
        deadline = self._now + round(seconds * 1_000_000)
        while self._now < deadline:
            await self._changed.wait()


async def sleep_or_wake(clock: Clock, event: asyncio.Event, seconds: float) -> None:
    """Sleep on the clock, or until `event` is set, whichever comes first."""
    sleeper = asyncio.ensure_future(clock.sleep(max(seconds, 0.0)))
    waker = asyncio.ensure_future(event.wait())
    try:
        await asyncio.wait({sleeper, waker}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        sleeper.cancel()
        waker.cancel()
