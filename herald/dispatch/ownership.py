"""Which senders this node dispatches. Alone on a database (SQLite) a node owns every
sender; with several nodes (PostgreSQL) it owns those whose lease row it holds
(`herald.store.leases`): taken up to its fair share of the senders, renewed, handed back
when idle beyond that share, released at shutdown. The dispatcher asks `owns` before it
queues a message and `may_send` before every submit.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import partial

from herald.clock import Clock
from herald.domain.ratelimit import SECOND_US
from herald.store import leases
from herald.store.db import Database

log = logging.getLogger("herald.dispatch")

LEASE_US = 10 * SECOND_US  # a sender lease lasts this long unless renewed
RENEW_S = 3.0
LEASE_MARGIN_US = 2 * SECOND_US  # no submit on a lease with less than this left
RETRY_US = 3 * SECOND_US  # a lease found held elsewhere (or beyond our share) waits this long


class Ownership:
    def __init__(
        self, db: Database, clock: Clock, *, node: str, leased: bool, resume_after_us: int
    ) -> None:
        self.db = db
        self.clock = clock
        self.node = node
        self.leased = leased
        self._resume_after_us = resume_after_us
        self._until: dict[str, int] = {}  # key -> when our lease runs out
        self._first_send_us: dict[str, int] = {}  # key -> no send before (taken + 1 s)
        self._alive_nodes = 1
        self._held_total = 0  # leases held by all nodes, as of the last renewal
        self._held_elsewhere: dict[str, int] = {}  # key -> not tried again before

    def owns(self, key: str) -> bool:
        return not self.leased or key in self._until

    def may_send(self, key: str, now: int) -> bool:
        """Our lease on `key` has a safe margin left (a lease we may have lost is never
        used: its next owner waits until it has expired, and a second more)."""
        return not self.leased or self._until.get(key, 0) - LEASE_MARGIN_US > now

    def keys(self) -> list[str]:
        return sorted(self._until)

    def first_send_us(self, key: str) -> int:
        """Whenever a taken sender's queue is made (at once, or when its messages turn
        up), its first send waits a second from the taking: the last owner's sends age
        out of the window."""
        return self._first_send_us.get(key, 0)

    def forget(self, key: str) -> None:
        self._until.pop(key, None)
        self._first_send_us.pop(key, None)

    async def acquire(self, keys: set[str]) -> list[tuple[str, str | None]]:
        """Take the free or expired leases among `keys`, up to this node's fair share of
        the senders in sight (÷ the nodes alive, one spare): each with its last owner."""
        now = self.clock.now_us()
        until = now + LEASE_US
        # Leases held anywhere (as of the last renewal) and those in sight here that may
        # be free: an overestimate, so the senders of a dead node are always taken.
        in_play = max(self._held_total, len(self._until)) + len(keys)
        room = max(0, _share(in_play, self._alive_nodes) - len(self._until))
        # A key another node held a moment ago is not tried again at every poll.
        if len(self._held_elsewhere) > 10_000:
            self._held_elsewhere = {k: t for k, t in self._held_elsewhere.items() if t > now}
        tried = sorted(key for key in keys if self._held_elsewhere.get(key, 0) <= now)
        if room == 0 or not tried:
            return []
        taken: list[tuple[str, str | None]] = await self.db.write(
            partial(leases.acquire, keys=tried, node=self.node, now=now, until=until, limit=room)
        )
        got = {key for key, _ in taken}
        for key in tried:
            if key in got:
                self._held_elsewhere.pop(key, None)
            else:
                self._held_elsewhere[key] = now + RETRY_US
        self._held_total += len(taken)
        for key, previous in taken:
            self._until[key] = until
            self._first_send_us[key] = now + self._resume_after_us
            if previous:
                log.warning(
                    "sender %s: lease taken over from node %s by node %s", key, previous, self.node
                )
        return taken

    async def heartbeat(self) -> None:
        now = self.clock.now_us()
        self._alive_nodes = await self.db.write(partial(leases.heartbeat, node=self.node, now=now))

    async def renew(self) -> list[str]:
        """Say we are alive and renew our leases; the keys lost to another node meanwhile
        (already forgotten here: their queues must be dropped at once)."""
        now = self.clock.now_us()
        until = now + LEASE_US
        keys = self.keys()
        await self.heartbeat()
        still = await self.db.write(partial(leases.renew, keys=keys, node=self.node, until=until))
        self._held_total = await self.db.read(partial(leases.held_count, now=now))
        lost = []
        for key in keys:
            if key in still:
                self._until[key] = until
            else:
                log.warning("sender %s: lease lost by node %s; dropping its queue", key, self.node)
                self.forget(key)
                lost.append(key)
        return lost

    async def hand_back_idle(self, is_idle: Callable[[str], bool]) -> list[str]:
        """Give back idle senders beyond our fair share, so that a new node gets some."""
        extra = len(self._until) - _share(self._held_total, self._alive_nodes)
        if extra <= 0:
            return []
        idle = [key for key in self.keys() if is_idle(key)][:extra]
        if idle:
            await self.db.write(partial(leases.hand_back, keys=idle, node=self.node))
            for key in idle:
                self.forget(key)
            log.info("node %s handed back %d idle senders beyond its share", self.node, len(idle))
        return idle

    async def release(self) -> None:
        """Shutdown: our leases are free for the next node at once; we leave the count."""
        if not self.leased:
            return
        now = self.clock.now_us()
        try:
            released = await self.db.write(partial(leases.release, node=self.node, now=now))
            await self.db.write(partial(leases.leave, node=self.node))
            log.info("node %s released %d sender leases", self.node, released)
        except Exception:
            log.exception("could not release sender leases; they will expire")
        self._until.clear()


def _share(senders: int, nodes: int) -> int:
    return -(-senders // max(1, nodes)) + 1
