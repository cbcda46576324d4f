"""The overflow rule for a message about to join its sender's queue (21611 for a direct
send, 30001 when the router queues a service send): counted against the queue this node
holds, or against the store's count when another node holds it."""

from __future__ import annotations

from sqlalchemy.engine import Connection

from herald.dispatch.ownership import Ownership
from herald.dispatch.registry import QueueRegistry, queue_key
from herald.domain import errors
from herald.domain.queued import QueuedMessage
from herald.store import dispatch as store


class Admission:
    def __init__(self, registry: QueueRegistry, ownership: Ownership, *, horizon_s: int) -> None:
        self._registry = registry
        self._ownership = ownership
        self.horizon_s = horizon_s

    def admit(self, conn: Connection, row: QueuedMessage, segments: int) -> None:
        """Refuse (QueueFull) a message that would overflow its sender's queue, else count
        it in the backlog until it is queued. Runs inside a write function."""
        registry, horizon = self._registry, self.horizon_s
        if not self._ownership.owns(queue_key(row)):
            if not store.fits_queue(conn, row, segments, horizon, registry.senders):
                raise errors.QueueFull()
            return
        if not registry.reserve(conn, row, segments, horizon):
            raise errors.QueueFull()

    def abandon(self, sid: str) -> None:
        """Forget a reservation whose message was never stored."""
        self._registry.reservations.release(sid)
