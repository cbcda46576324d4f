"""Status-callback delivery: drain the outbox, POST each callback signed, retry with
exponential backoff, dead-letter after `max_attempts`.

A loop of its own, so a slow receiver never slows sending. Claims are leased to this node
(`leased_by`); a crashed node's leases run out, or, on SQLite, where this is the only node,
are released at start. Each cycle is one transaction that stores the finished attempts and
claims more, so callback n+1 of a message is claimable the moment n's outcome is stored,
and each claimed callback comes with its account's current auth token to sign with.
Claims run ahead of the free request slots (up to twice as many held), so a freed slot
is refilled at once, without waiting for another claim. Requests are bounded overall
(`concurrency`) and per host (`per_host`), and a host holds at most twice its share of
claims: a receiver that times out ties up only its own share.

Delivery is at least once, as at Twilio: a callback that was sent but whose outcome was
not yet stored when the process died is sent again after the restart; claims never sent
are only released. Those are the requests in flight (at most `per_host` per receiver)
and the answers that came during the last commit, so never more than the claims held
for a receiver (twice `per_host`). Outcomes are stored by the next cycle, as soon as the
group commit allows. (Freeing a slot only once its outcome is stored would bound this at
`per_host`, but cost a quarter of the callback throughput to a fast receiver.) A repeat
carries the same `X-Herald-Sequence`, `X-Herald-Event-Time` and body, so receivers can
deduplicate.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections import Counter, deque
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

from sqlalchemy.engine import Connection

from herald.clock import Clock
from herald.domain.callbacks import (
    Attempt,
    Callback,
    CallbackState,
    RetryPolicy,
    judge,
    origin_of,
)
from herald.node import new_node_id
from herald.store import callbacks as store
from herald.store.db import Database
from herald.webhooks.courier import Courier, HttpCourier, WebhookFailure
from herald.webhooks.courier_process import ProcessCourier

log = logging.getLogger("herald.webhooks")

PURGE_EVERY_US = 60_000_000
AHEAD = 2  # claims held per request slot
LEASE_MARGIN_S = 10.0  # a claim's lease: its wait for a slot (AHEAD × timeout) and this


@dataclass
class DeliveryStats:
    """Counters for /metrics."""

    delivered: int = 0
    failed_attempts: int = 0
    dead: int = 0
    in_flight: int = 0  # requests under way
    held: int = 0  # claimed and not yet stored as attempted: in flight, waiting or finished


def _decrement(counts: Counter[str], origin: str) -> None:
    """Count one fewer, forgetting hosts with none, so that many hosts never pile up."""
    counts[origin] -= 1
    if counts[origin] <= 0:
        del counts[origin]


class CallbackDelivery:
    """The delivery loop; `run` it under the runtime's TaskGroup, `wake` it (on the loop's
    thread) after committing new callbacks, read `stats` for metrics."""

    def __init__(
        self,
        db: Database,
        clock: Clock,
        *,
        max_attempts: int = 8,
        backoff_s: float = 1.0,
        timeout_s: float = 15.0,
        concurrency: int = 64,
        per_host: int = 64,
        poll_s: float = 0.5,
        keep_delivered_s: float = 86_400.0,
        processes: int = 0,
        allow_private: bool = False,
        courier: Courier | None = None,
        jitter: Callable[[], float] | None = random.random,
        sole_node: bool = False,
        node: str | None = None,
    ) -> None:
        self._db = db
        self._clock = clock
        self._policy = RetryPolicy(max_attempts=max_attempts, backoff_s=backoff_s)
        self._timeout_s = timeout_s
        self._concurrency = concurrency
        self._per_host = per_host
        self._poll_us = round(poll_s * 1e6)
        self._keep_us = round(keep_delivered_s * 1e6)
        self._processes = processes
        self._allow_private = allow_private
        self._sole_node = sole_node
        self._node = node or new_node_id()  # whose leases its claims are
        self._given_courier = courier
        self._jitter = jitter
        self._wakeup = asyncio.Event()
        self._held: dict[int, str] = {}  # callback id → origin, from claim until stored
        self._held_by_origin: Counter[str] = Counter()
        self._waiting: dict[str, deque[Callback]] = {}  # claimed, not started, by origin
        self._running: dict[int, asyncio.Task[None]] = {}
        self._running_by_origin: Counter[str] = Counter()
        self._finished: list[Attempt] = []
        self._cycle_at = 0
        self._next_purge = 0
        self.stats = DeliveryStats()

    def wake(self) -> None:
        """New callbacks were committed: claim them now rather than at the next poll."""
        self._wakeup.set()

    async def run(self, stop: asyncio.Event) -> None:
        """Deliver until `stop` is set; then cancel requests in flight and release them."""
        if self._sole_node:
            await self._release_stale_leases()
        async with self._courier() as courier, asyncio.TaskGroup() as tasks:
            watcher = tasks.create_task(self._watch(stop))
            while not stop.is_set():
                self._wakeup.clear()
                for callback in await self._cycle():
                    self._hold(callback)
                self._start_waiting(courier, tasks)
                if not self._finished:
                    await self._idle()
            watcher.cancel()
            await self._shutdown()

    async def _release_stale_leases(self) -> None:
        """The only node on this database: callbacks leased by any other are a crashed
        run's, owed now rather than when their leases run out."""
        now = self._clock.now_us()
        released = await self._db.write(
            lambda conn: store.release_leases_of_others(conn, self._node, now)
        )
        if released:
            log.info("%d callbacks leased by a previous run are due again", released)

    @asynccontextmanager
    async def _courier(self) -> AsyncIterator[Courier]:
        if self._given_courier is not None:
            yield self._given_courier
            return
        concurrency, timeout_s = self._concurrency, self._timeout_s
        allow_private = self._allow_private
        if self._processes > 0:
            async with ProcessCourier.open(
                self._processes,
                concurrency=concurrency,
                timeout_s=timeout_s,
                allow_private=allow_private,
            ) as courier:
                yield courier
        else:
            async with HttpCourier.open(
                concurrency=concurrency, timeout_s=timeout_s, allow_private=allow_private
            ) as local:
                yield local

    async def _watch(self, stop: asyncio.Event) -> None:
        await stop.wait()
        self._wakeup.set()

    async def _idle(self) -> None:
        """Wait for a wake-up or until a poll interval after the last cycle's `now`."""
        if self._wakeup.is_set():
            return
        sleeper = asyncio.ensure_future(self._sleep_until(self._cycle_at + self._poll_us))
        waiter = asyncio.ensure_future(self._wakeup.wait())
        try:
            await asyncio.wait({sleeper, waiter}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            sleeper.cancel()
            waiter.cancel()

    async def _sleep_until(self, deadline: int) -> None:
        # Reading the time and starting the sleep with no await between them means a
        # manual clock moved meanwhile is never missed.
        while (left := deadline - self._clock.now_us()) > 0:
            await self._clock.sleep(left / 1e6)

    async def _cycle(self) -> list[Callback]:
        """Store finished attempts and claim as many as may be held, in one commit."""
        done, self._finished = self._finished, []
        busy = self._held_by_origin.copy()
        busy.subtract(self._held[a.callback.id] for a in done)
        room = AHEAD * self._concurrency - len(self._held) + len(done)
        now = self._cycle_at = self._clock.now_us()
        purge = now >= self._next_purge
        lease = now + round((AHEAD * self._timeout_s + LEASE_MARGIN_S) * 1e6)

        def write(conn: Connection) -> list[Callback]:
            store.record(conn, done, now)
            if purge:
                store.purge_delivered(conn, now - self._keep_us)
            if room <= 0:
                return []
            return store.claim_due(
                conn,
                now,
                room,
                lease_until=lease,
                lease_owner=self._node,
                busy=+busy,
                per_origin=AHEAD * self._per_host,
            )

        try:
            claimed = await self._db.write(write, first=True)
        except Exception:
            log.exception("callback outbox cycle failed; retrying at the next poll")
            self._finished[:0] = done
            self._wakeup.clear()
            await self._idle()
            return []
        if purge:
            self._next_purge = now + PURGE_EVERY_US
        self._settle(done)
        return [c for c in claimed if c.id not in self._held]

    def _hold(self, callback: Callback) -> None:
        origin = origin_of(callback.url)
        self._held[callback.id] = origin
        self._held_by_origin[origin] += 1
        self._waiting.setdefault(origin, deque()).append(callback)
        self.stats.held = len(self._held)

    def _settle(self, done: list[Attempt]) -> None:
        """Their outcomes are stored: let go of them and count them."""
        for attempt in done:
            _decrement(self._held_by_origin, self._held.pop(attempt.callback.id))
            if attempt.state is CallbackState.DELIVERED:
                self.stats.delivered += 1
            else:
                self.stats.failed_attempts += 1
                self.stats.dead += attempt.state is CallbackState.DEAD
        self.stats.held = len(self._held)

    def _start_waiting(self, courier: Courier, tasks: asyncio.TaskGroup) -> None:
        """Start waiting callbacks while there are free slots, overall and at their host."""
        for origin, queue in list(self._waiting.items()):
            while queue and len(self._running) < self._concurrency:
                if self._running_by_origin[origin] >= self._per_host:
                    break
                callback = queue.popleft()
                task = tasks.create_task(self._attempt(courier, tasks, callback, origin))
                self._running[callback.id] = task
                self._running_by_origin[origin] += 1
            if not queue:
                del self._waiting[origin]
        self.stats.in_flight = len(self._running)

    async def _attempt(
        self, courier: Courier, tasks: asyncio.TaskGroup, callback: Callback, origin: str
    ) -> None:
        status, cause = await self._post(courier, callback)
        draw = self._jitter() if self._jitter is not None else 0.0
        attempt = judge(callback, status, self._clock.now_us(), self._policy, draw)
        if attempt.state is not CallbackState.DELIVERED:
            self._log_failure(attempt, cause or f"HTTP {status}")
        self._finished.append(attempt)
        del self._running[callback.id]
        _decrement(self._running_by_origin, origin)
        self._start_waiting(courier, tasks)
        self._wakeup.set()

    async def _post(self, courier: Courier, callback: Callback) -> tuple[int | None, str | None]:
        """The receiver's HTTP status, or why there was none (for the log only)."""
        try:
            if callback.auth_token is None:
                return None, f"account {callback.account_sid} not found: cannot sign"
            return await courier.deliver(callback, callback.auth_token), None
        except WebhookFailure as exc:
            return None, str(exc)
        except Exception as exc:
            log.exception("callback %d: unexpected delivery error", callback.id)
            return None, f"{type(exc).__name__}: {exc}"

    @staticmethod
    def _log_failure(attempt: Attempt, cause: str) -> None:
        """The precise cause of a failed attempt, for the operator: the outbox keeps only
        Twilio's generic wording (dead letters must not tell what sits at an address)."""
        callback = attempt.callback
        dead = attempt.state is CallbackState.DEAD
        log.log(
            logging.INFO if dead else logging.DEBUG,
            "callback %d (%s #%d) to %s: attempt %d failed%s: %s",
            callback.id,
            callback.message_sid,
            callback.sequence,
            origin_of(callback.url),
            callback.attempts + 1,
            ", dead-lettered" if dead else "",
            cause,
        )

    async def _shutdown(self) -> None:
        """Cancel requests in flight; store what finished and make the rest due again."""
        for task in self._running.values():
            task.cancel()
        await asyncio.gather(*self._running.values(), return_exceptions=True)
        done, self._finished = self._finished, []
        recorded = {a.callback.id for a in done}
        unfinished = [i for i in self._held if i not in recorded]
        now = self._clock.now_us()

        def write(conn: Connection) -> None:
            store.record(conn, done, now)
            store.release(conn, unfinished, now)

        try:
            await self._db.write(write)
        except Exception:
            log.exception("could not release %d callbacks at shutdown", len(unfinished))
        self._settle(done)
        self._held.clear()
        self._held_by_origin.clear()
        self._waiting.clear()
        self._running.clear()
        self._running_by_origin.clear()
        self.stats.in_flight = self.stats.held = 0
