"""Callbacks signed and posted by helper processes, so that HTTP work (most of a
callback's cost) runs on another core than dispatch and the outbox.

The helper (`python -m herald.webhooks.courier_process`) is only an `HttpCourier`: it holds
no state and touches no database. It reads requests from stdin and writes answers to
stdout as length-prefixed JSON frames; it exits when its stdin closes, so it never
outlives the server, even one killed with SIGKILL. It applies the same webhook target
policy as the server (`--allow-private` is HERALD_WEBHOOK_ALLOW_PRIVATE). The outbox stays
with the serving
process, so SQLite keeps one writer and a helper that dies loses nothing: its requests
fail as unanswered and are retried like any other failure. While no helper can be
started, callbacks go out from this process.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import sys
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any, cast

import orjson

from herald.webhooks.courier import HttpCourier, WebhookFailure
from herald.webhooks.signer import Envelope, Signable

log = logging.getLogger("herald.webhooks")

RESTART_EVERY_S = 1.0  # at most one restart a second per helper slot
STOP_GRACE_S = 5.0
HUNG_AFTER_S = 30.0  # beyond the request time limit: a helper silent this long is killed

_LENGTH = 4


def encode_frame(value: Any) -> bytes:
    body = orjson.dumps(value)
    return len(body).to_bytes(_LENGTH, "big") + body


def take_frames(buffer: bytearray) -> list[Any]:
    """The complete frames at the front of `buffer`, removed from it."""
    frames: list[Any] = []
    view = memoryview(buffer)
    at = 0
    try:
        while len(buffer) - at >= _LENGTH:
            size = int.from_bytes(view[at : at + _LENGTH], "big")
            end = at + _LENGTH + size
            if end > len(buffer):
                break
            frames.append(orjson.loads(view[at + _LENGTH : end]))
            at = end
    finally:
        view.release()
    del buffer[:at]
    return frames


class _Batcher:
    """Frames written once per event-loop pass: one pipe write for many callbacks."""

    def __init__(self, write: Callable[[bytes], None]) -> None:
        self._write = write
        self._pending: list[bytes] = []

    def send(self, frame: bytes) -> None:
        if not self._pending:
            asyncio.get_running_loop().call_soon(self._flush)
        self._pending.append(frame)

    def _flush(self) -> None:
        data, self._pending = b"".join(self._pending), []
        self._write(data)


class _Helper(asyncio.SubprocessProtocol):
    """One helper process, seen from the server: requests out, statuses back."""

    def __init__(self) -> None:
        self.pending: dict[int, tuple[asyncio.Future[int], float]] = {}
        self.alive = False
        self.exited: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._buffer = bytearray()
        self._transport: asyncio.SubprocessTransport | None = None
        self._out: _Batcher | None = None
        self._next_id = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not subclasses of asyncio's; they have the same methods.
        self._transport = cast(asyncio.SubprocessTransport, transport)
        stdin = cast(asyncio.WriteTransport, self._transport.get_pipe_transport(0))
        self._out = _Batcher(stdin.write)
        self.alive = True

    def request(self, callback: Signable, auth_token: str) -> asyncio.Future[int]:
        assert self._out is not None
        self._next_id += 1
        rid = self._next_id
        future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self.pending[rid] = (future, time.monotonic())
        frame = [rid, callback.url, callback.method, callback.params, callback.message_sid]
        frame += [callback.sequence, callback.event_time, auth_token]
        self._out.send(encode_frame(frame))
        return future

    def pipe_data_received(self, fd: int, data: bytes) -> None:
        if fd != 1:
            return
        self._buffer += data
        for rid, status, error in take_frames(self._buffer):
            found = self.pending.pop(rid, None)
            if found is None or found[0].done():
                continue
            if status is None:
                found[0].set_exception(WebhookFailure(error))
            else:
                found[0].set_result(status)

    def pipe_connection_lost(self, fd: int, exc: Exception | None) -> None:
        if fd == 1:
            self._lost("its output closed")

    def process_exited(self) -> None:
        self._lost("it exited")
        if self._transport is not None:
            self._transport.close()
        if not self.exited.done():
            self.exited.set_result(None)

    def _lost(self, why: str) -> None:
        if self.alive:
            code = self._transport.get_returncode() if self._transport else None
            log.warning("callback helper process lost (%s, exit code %s)", why, code)
        self.alive = False
        failure = WebhookFailure(f"callback helper process lost ({why}) before an answer")
        for future, _ in self.pending.values():
            if not future.done():
                future.set_exception(failure)
        self.pending.clear()

    @property
    def pid(self) -> int | None:
        return self._transport.get_pid() if self._transport is not None else None

    def hung(self, now: float, limit_s: float) -> bool:
        oldest = next(iter(self.pending.values()), None)
        return oldest is not None and now - oldest[1] > limit_s

    def kill(self) -> None:
        if self._transport is not None and self._transport.get_returncode() is None:
            self._transport.kill()

    async def stop(self) -> None:
        """Close its stdin (it finishes nothing more and exits); kill it if it lingers."""
        if self._transport is None:
            return
        stdin = self._transport.get_pipe_transport(0)
        if stdin is not None:
            stdin.close()
        try:
            await asyncio.wait_for(asyncio.shield(self.exited), STOP_GRACE_S)
        except TimeoutError:
            self.kill()
            await self.exited
        self._transport.close()


class ProcessCourier:
    """Deliver through `processes` helpers, each request to the least busy one."""

    def __init__(
        self,
        processes: int,
        *,
        concurrency: int,
        timeout_s: float,
        allow_private: bool,
        fallback: HttpCourier,
    ) -> None:
        self._slots: list[_Helper | None] = [None] * processes
        self._started_at = [float("-inf")] * processes
        self._concurrency = concurrency
        self._timeout_s = timeout_s
        self._allow_private = allow_private
        self._fallback = fallback

    @classmethod
    @asynccontextmanager
    async def open(
        cls, processes: int, *, concurrency: int, timeout_s: float, allow_private: bool
    ) -> AsyncIterator[ProcessCourier]:
        async with HttpCourier.open(
            concurrency=concurrency, timeout_s=timeout_s, allow_private=allow_private
        ) as fallback:
            courier = cls(
                processes,
                concurrency=concurrency,
                timeout_s=timeout_s,
                allow_private=allow_private,
                fallback=fallback,
            )
            try:
                for slot in range(processes):
                    await courier._start(slot)
                yield courier
            finally:
                await asyncio.gather(*(h.stop() for h in courier._slots if h is not None))

    @property
    def pids(self) -> list[int]:
        """The live helpers' process ids."""
        return [h.pid for h in self._slots if h is not None and h.alive and h.pid is not None]

    async def deliver(self, callback: Signable, auth_token: str) -> int:
        helper = await self._helper()
        if helper is None:
            return await self._fallback.deliver(callback, auth_token)
        return await helper.request(callback, auth_token)

    async def _helper(self) -> _Helper | None:
        now = time.monotonic()
        best: _Helper | None = None
        for slot, helper in enumerate(self._slots):
            if helper is not None and helper.alive and helper.hung(now, self._hung_after_s):
                log.error("callback helper process unresponsive; killing it")
                helper.kill()
            if (helper is None or not helper.alive) and now - self._started_at[slot] >= (
                RESTART_EVERY_S
            ):
                helper = await self._start(slot)
            if (
                helper is not None
                and helper.alive
                and (best is None or len(helper.pending) < len(best.pending))
            ):
                best = helper
        return best

    @property
    def _hung_after_s(self) -> float:
        return self._timeout_s + HUNG_AFTER_S

    async def _start(self, slot: int) -> _Helper | None:
        self._started_at[slot] = time.monotonic()
        loop = asyncio.get_running_loop()
        argv = [sys.executable, "-m", __name__]
        argv += [f"--concurrency={self._concurrency}", f"--timeout={self._timeout_s}"]
        argv += [f"--log-level={logging.getLogger('herald').getEffectiveLevel()}"]
        if self._allow_private:
            argv.append("--allow-private")
        try:
            _, helper = await loop.subprocess_exec(
                _Helper, *argv, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE
            )
        except Exception:
            log.exception("could not start a callback helper process; posting from this one")
            self._slots[slot] = None
            return None
        self._slots[slot] = helper
        return helper


# -- the helper process --------------------------------------------------------------


class _Requests(asyncio.Protocol):
    """The helper's stdin: each frame becomes a delivery whose answer goes to stdout."""

    def __init__(self, courier: HttpCourier, out: _Batcher) -> None:
        self._courier = courier
        self._out = out
        self._buffer = bytearray()
        self._tasks: set[asyncio.Task[None]] = set()
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        for rid, url, method, params, message_sid, sequence, event_time, token in take_frames(
            self._buffer
        ):
            envelope = Envelope(
                url=url,
                method=method,
                params=tuple((name, value) for name, value in params),
                message_sid=message_sid,
                sequence=sequence,
                event_time=event_time,
            )
            task = asyncio.create_task(self._deliver(rid, envelope, token))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _deliver(self, rid: int, envelope: Envelope, token: str) -> None:
        answer: list[int | str | None]
        try:
            answer = [rid, await self._courier.deliver(envelope, token), None]
        except WebhookFailure as exc:
            answer = [rid, None, str(exc)]
        except Exception as exc:
            log.exception("callback %s-%d: unexpected delivery error", envelope.message_sid, rid)
            answer = [rid, None, f"{type(exc).__name__}: {exc}"]
        self._out.send(encode_frame(answer))

    def connection_lost(self, exc: Exception | None) -> None:
        for task in self._tasks:
            task.cancel()
        if not self.closed.done():
            self.closed.set_result(None)


async def _serve(concurrency: int, timeout_s: float, allow_private: bool) -> None:
    loop = asyncio.get_running_loop()
    stdout, _ = await loop.connect_write_pipe(asyncio.Protocol, os.fdopen(1, "wb", buffering=0))
    out = _Batcher(stdout.write)
    async with HttpCourier.open(
        concurrency=concurrency, timeout_s=timeout_s, allow_private=allow_private
    ) as courier:
        requests = _Requests(courier, out)
        await loop.connect_read_pipe(lambda: requests, os.fdopen(0, "rb", buffering=0))
        await requests.closed
        # Let cancelled deliveries finish unwinding before the session closes.
        await asyncio.sleep(0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Herald's callback helper process")
    parser.add_argument("--concurrency", type=int, required=True)
    parser.add_argument("--timeout", type=float, required=True)
    parser.add_argument("--log-level", type=int, default=logging.INFO)
    parser.add_argument("--allow-private", action="store_true")
    args = parser.parse_args(argv)
    # The server's terminal's Ctrl-C is for the server, which then closes our stdin.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    logging.basicConfig(level=args.log_level, stream=sys.stderr)
    try:
        import uvloop

        runner: Callable[[Any], Any] = uvloop.run
    except ImportError:  # pragma: no cover - uvloop is a dependency
        runner = asyncio.run
    with contextlib.suppress(BrokenPipeError):
        runner(_serve(args.concurrency, args.timeout, args.allow_private))
    return 0


if __name__ == "__main__":
    sys.exit(main())
