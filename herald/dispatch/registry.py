"""The queues this node holds, by sender: their entries, the messages sent and awaiting a
receipt, the senders' details, and the segments admitted by creates not yet queued.

Everything here is touched on the event loop's thread only, except `Reservations`: the
overflow rule runs inside a create's write function, which on PostgreSQL is the group
committer's thread, so the reservations are the one structure shared between threads,
behind the one lock. A queue's own backlog counts what is queued; what the overflow
rule, Scaler and /metrics see is that plus what is reserved for it (`backlog`).
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from sqlalchemy.engine import Connection

from herald.dispatch.queues import Entry, SenderQueue
from herald.domain.queued import QueuedMessage, SenderFacts, sender_mps
from herald.domain.ratelimit import INTERNATIONAL_MPS, SECOND_US, would_overflow
from herald.domain.routing import Candidate
from herald.domain.senders import SenderKind
from herald.store import dispatch as store


def queue_key(row: QueuedMessage) -> str:
    """A message's queue: its sender's SID, or account/ID for an alphanumeric sender."""
    return row.sender_sid or f"{row.account_sid}/{row.from_number}"


def candidate_queue_key(account_sid: str, candidate: Candidate) -> str:
    """The queue a routing candidate's messages join: the same key as `queue_key`."""
    if candidate.kind is SenderKind.ALPHANUMERIC:
        return f"{account_sid}/{candidate.address}"
    return candidate.sid


class Reservations:
    """Segments admitted for a sender by a create not yet queued (or never stored)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_sid: dict[str, tuple[str, int]] = {}
        self._by_key: dict[str, int] = {}

    def reserve_within(
        self, key: str, sid: str, segments: int, queued: int, mps: int, horizon_s: int
    ) -> bool:
        """Count `segments` for `key` unless, with what is `queued` and reserved, they
        would overflow its queue (False)."""
        with self._lock:
            if sid in self._by_sid:  # a message is counted once, however often admitted
                self._release(sid)
            reserved = self._by_key.get(key, 0)
            if would_overflow(queued + reserved, segments, mps, horizon_s):
                return False
            self._by_sid[sid] = (key, segments)
            self._by_key[key] = reserved + segments
            return True

    def release(self, sid: str) -> None:
        """The message was queued, or never stored: its segments no longer wait here."""
        with self._lock:
            self._release(sid)

    def drop(self, key: str) -> None:
        """The sender is no longer this node's: what was reserved for it goes with it."""
        with self._lock:
            for sid in [sid for sid, (held, _) in self._by_sid.items() if held == key]:
                del self._by_sid[sid]
            self._by_key.pop(key, None)

    def _release(self, sid: str) -> None:
        found = self._by_sid.pop(sid, None)
        if found is not None:
            key, segments = found
            self._by_key[key] -= segments
            if self._by_key[key] <= 0:
                del self._by_key[key]

    def segments(self, key: str) -> int:
        return self._by_key.get(key, 0)


class QueueRegistry:
    def __init__(self, *, not_before: Callable[[str], int]) -> None:
        self.queues: dict[str, SenderQueue] = {}
        self.entries: dict[str, Entry] = {}  # held here: queued, or being submitted
        self.inflight: dict[str, Entry] = {}  # sent, awaiting a receipt
        self.senders: dict[str, SenderFacts | None] = {}  # sender SID → its details
        self.reservations = Reservations()
        self._not_before = not_before  # a new queue's first send (µs), by its key

    def backlog(self, key: str) -> int:
        """Segments waiting for the sender: queued here, and reserved by creates."""
        queue = self.queues.get(key)
        return (queue.backlog if queue is not None else 0) + self.reservations.segments(key)

    def reserve(self, conn: Connection, row: QueuedMessage, segments: int, horizon_s: int) -> bool:
        """Count a message about to be stored in its sender's backlog unless it would
        overflow the queue (False). Runs inside the create's write function."""
        if row.sender_sid and row.sender_sid not in self.senders:
            self.cache_senders(conn, {row.sender_sid})
        key = queue_key(row)
        queue = self.queues.get(key)
        queued = queue.backlog if queue is not None else 0
        mps = queue.mps if queue is not None else self.mps_of(row)
        return self.reservations.reserve_within(key, row.sid, segments, queued, mps, horizon_s)

    def cache_senders(self, conn: Connection, sids: set[str]) -> None:
        for sid in sids:
            self.senders[sid] = store.sender(conn, sid)

    def missing_senders(self, rows: list[QueuedMessage]) -> set[str]:
        return {r.sender_sid for r in rows if r.sender_sid and r.sender_sid not in self.senders}

    def mps_of(self, row: QueuedMessage) -> int:
        sender = self.senders.get(row.sender_sid or "")
        return INTERNATIONAL_MPS if sender is None else sender_mps(sender)

    def queue_for(self, row: QueuedMessage) -> SenderQueue:
        """The row's queue, made from the cached sender details if there is none yet."""
        key = queue_key(row)
        queue = self.queues.get(key)
        if queue is None:
            sender = self.senders.get(row.sender_sid or "")
            kind = SenderKind.ALPHANUMERIC if sender is None else sender.kind
            queue = SenderQueue(key=key, address=row.from_number, kind=kind, mps=self.mps_of(row))
            queue.not_before_us = self._not_before(key)
            self.queues[key] = queue
        return queue

    def hold(self, queue: SenderQueue, entry: Entry) -> None:
        queue.push(entry)
        self.entries[entry.sid] = entry
        self.reservations.release(entry.sid)

    def forget(self, entry: Entry) -> None:
        """The entry left its queue for good (sent, failed or expired)."""
        self.entries.pop(entry.sid, None)

    def drop_queue(self, key: str) -> None:
        """The queue is no longer this node's: it goes with every entry of its sender,
        those taken off it for a submit included (left behind, they would hide their
        messages from a later take)."""
        self.queues.pop(key, None)
        self.reservations.drop(key)
        for sid in [sid for sid, entry in self.entries.items() if queue_key(entry.row) == key]:
            del self.entries[sid]

    def view(self, now: int) -> list[tuple[str, str, int, float]]:
        """(sender key, address, backlog segments, seconds the head has waited) for
        /metrics."""
        view = []
        for q in self.queues.values():
            head = q.head_created_us()
            waited = (now - head) / SECOND_US if head else 0.0
            view.append((q.key, q.address, self.backlog(q.key), waited))
        return view
