"""A stop is never lost: whatever the dispatcher's loops are awaiting when `stop` is set,
`run` returns. On the manual clock no poll interval ever ends, so a loop that missed its
wake-up would wait for ever (a hang CI once met in `test_recovery`)."""

from __future__ import annotations

import asyncio

from herald.runtime import Runtime
from tests.dispatch.test_dispatcher import Harness

TURNS = range(0, 400, 7)  # event-loop turns before the stop: early, mid-read, asleep


def test_stop_ends_the_run_wherever_the_loops_are(runtime: Runtime) -> None:
    h = Harness(runtime, mps=10)
    h.add(3)

    async def stopped_after(turns: int) -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(h.dispatcher.run(stop))
        for _ in range(turns):
            await asyncio.sleep(0)
        stop.set()
        try:
            await asyncio.wait_for(task, timeout=5)
        except TimeoutError:
            raise AssertionError(f"a stop after {turns} turns did not end the run") from None

    async def main() -> None:
        for turns in TURNS:
            await stopped_after(turns)

    asyncio.run(main())
