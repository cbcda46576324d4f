"""Sender health in the engine: outcomes counted in memory as they happen, written once a
second, and judged (`domain/health.judge`) over what every node wrote; a change of state
is a guarded update with its Monitor alert, so of two nodes judging at once one alerts.

Routing reads `impaired_keys()`, which each cycle refreshes from the store: every node
routes around a sender that any node judged. A subject is any key: a sender's queue key
(`record_message`), or a carrier connection's name (`record` with `kind="connection"`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

from sqlalchemy.engine import Connection

from herald.clock import Clock, sleep_or_wake
from herald.dispatch.registry import queue_key
from herald.domain.alerts import Alert
from herald.domain.health import (
    Change,
    Health,
    Outcome,
    Policy,
    State,
    Subject,
    Tally,
    alert_for,
    in_window,
    judge,
    slice_start,
    window_start,
)
from herald.domain.queued import QueuedMessage
from herald.domain.sids import Prefix
from herald.metrics import Metrics
from herald.store import health as store
from herald.store import routing as alert_store
from herald.store.db import Database

log = logging.getLogger("herald.health")

FLUSH_S = 1.0
FORGET_EVERY_US = 60_000_000
EMPTY = Tally()


def sender_of(row: QueuedMessage) -> Subject:
    """The sender a message went from, as health counts it: by its queue's key."""
    return Subject(
        key=queue_key(row),
        kind="sender",
        address=row.from_number,
        account_sid=row.account_sid,
        resource_sid=row.sender_sid,
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class Judged:
    """What one write found: each written subject's window, and the changes it made."""

    windows: dict[str, Tally]
    changes: list[tuple[Subject, Change]]


class HealthTracker:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        metrics: Metrics,
        policy: Policy,
        *,
        node: str,
        new_sid: Callable[[Prefix], str] | None = None,  # None: no alerts
        flush_s: float = FLUSH_S,
    ) -> None:
        self.db, self.clock, self.metrics, self.policy = db, clock, metrics, policy
        self.node = node
        self.new_sid = new_sid
        self.flush_s = flush_s
        self._tallies: dict[tuple[str, int], Tally] = {}  # (key, slice start): this node's
        self._dirty: set[tuple[str, int]] = set()
        self._subjects: dict[str, Subject] = {}
        self._windows: dict[str, Tally] = {}  # every node's, as last written from here
        self._impaired: dict[str, Subject] = {}  # refreshed from the store
        self._forgot_at = 0

    # ---- the hot path ------------------------------------------------------------------

    def record(self, subject: Subject, outcome: Outcome) -> None:
        """Count one final outcome (in memory; written at the next cycle)."""
        slot = (subject.key, slice_start(self.clock.now_us(), self.policy))
        self._tallies[slot] = self._tallies.get(slot, EMPTY).add(outcome)
        self._dirty.add(slot)
        self._subjects[subject.key] = subject
        self.metrics.count_health(subject.kind, subject.key, subject.address, outcome)

    def record_message(self, row: QueuedMessage, outcome: Outcome) -> None:
        self.record(sender_of(row), outcome)

    def impaired_keys(self) -> dict[str, Subject]:
        """The impaired subjects by key, as of the last cycle (or this node's own change)."""
        return self._impaired

    def is_impaired(self, key: str) -> bool:
        return key in self._impaired

    def view(self) -> list[tuple[str, str, str, bool, float | None]]:
        """(kind, key, address, impaired, failure rate in the window) for /metrics."""
        seen = {
            key: (s.kind, key, s.address, key in self._impaired, self._rate(key))
            for key, s in self._subjects.items()
        }
        for key, s in self._impaired.items():
            seen.setdefault(key, (s.kind, key, s.address, True, None))
        return list(seen.values())

    def _rate(self, key: str) -> float | None:
        window = self._windows.get(key)
        return window.failure_rate if window is not None else None

    # ---- the cycle ---------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            await sleep_or_wake(self.clock, stop, self.flush_s)
            await self.cycle()

    async def cycle(self) -> None:
        """Write and judge what was counted, then read which subjects are impaired."""
        try:
            await self.flush()
            found = await self.db.read(store.impaired)
            self._impaired = {key: self._known(key, *found[key]) for key in found}
            now = self.clock.now_us()
            if now - self._forgot_at >= FORGET_EVERY_US:
                self._forgot_at = now
                await self._forget(now)
        except Exception:  # counted again at the next cycle; routing keeps what it knew
            log.exception("sender health: writing or reading the outcomes failed")

    def _known(self, key: str, kind: str, address: str) -> Subject:
        return self._subjects.get(key) or Subject(key=key, kind=kind, address=address)

    async def flush(self) -> None:
        dirty, self._dirty = self._dirty, set()
        if not dirty:
            return
        now = self.clock.now_us()
        tallies = [(key, start, self._tallies[(key, start)]) for key, start in sorted(dirty)]
        subjects = [self._subjects[key] for key in sorted({key for key, _ in dirty})]
        try:
            judged = await self.db.write(partial(self._write, subjects, tallies, now))
        except BaseException:
            self._dirty |= dirty
            raise
        self._windows.update(judged.windows)
        for subject, change in judged.changes:
            self._changed(subject, change)

    def _write(
        self,
        subjects: list[Subject],
        tallies: list[tuple[str, int, Tally]],
        now: int,
        conn: Connection,
    ) -> Judged:
        policy = self.policy
        store.save_tallies(conn, self.node, subjects, tallies, now)
        keys = [s.key for s in subjects]
        states = store.states_of(conn, keys)
        slices = store.slices_of(conn, keys, window_start(now, policy))
        windows: dict[str, Tally] = {}
        changes: list[tuple[Subject, Change]] = []
        alerts: list[Alert] = []
        for subject in subjects:
            state = states.get(subject.key, State())
            mine = slices.get(subject.key, [])
            windows[subject.key] = in_window(mine, now, policy)
            change = judge(state, mine, now, policy)
            if change is None or not store.change_state(conn, subject.key, state, change, now):
                continue
            changes.append((subject, change))
            if self.new_sid is not None:
                sid = self.new_sid(Prefix.ALERT)
                alert = alert_for(subject, change, sid=sid, now_us=now, policy=policy)
                alerts += [alert] if alert is not None else []
        alert_store.insert_alerts(conn, alerts)
        return Judged(windows=windows, changes=changes)

    def _changed(self, subject: Subject, change: Change) -> None:
        counted = change.counted
        if change.state.health is Health.IMPAIRED:
            self._impaired[subject.key] = subject
            log.warning(
                "%s %s (%s) is impaired: %d of %d messages failed; out of routing",
                subject.kind, subject.key, subject.address, counted.failed, counted.judged,
            )  # fmt: skip
        else:
            self._impaired.pop(subject.key, None)
            log.warning(
                "%s %s (%s) recovered: %d of %d messages failed; back in routing",
                subject.kind, subject.key, subject.address, counted.failed, counted.judged,
            )  # fmt: skip

    async def _forget(self, now: int) -> None:
        """Drop what no window holds any more: here, and in the store."""
        first = window_start(now, self.policy)
        for slot in [slot for slot in self._tallies if slot[1] < first and slot not in self._dirty]:
            del self._tallies[slot]
        live = {key for key, _ in self._tallies}
        for key in [key for key in self._subjects if key not in live]:
            del self._subjects[key]
            self._windows.pop(key, None)
        await self.db.write(partial(store.forget, before=first))
