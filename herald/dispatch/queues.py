"""Per-sender queues in memory: FIFO entries, the segments still to go, and each sender's
rate window. The store is the durable truth; these are rebuilt from it at start. A queue
is touched on the event loop's thread only (`registry.Reservations` is what creates
count from the committer's thread)."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from decimal import Decimal

from herald.domain.queued import QueuedMessage
from herald.domain.ratelimit import Window
from herald.domain.senders import SenderKind


@dataclass(slots=True, kw_only=True)
class Entry:
    """A message in its sender's queue; `next_part` advances as segments are submitted."""

    row: QueuedMessage
    deadline_us: int
    parts: tuple[str, ...] = ()
    encoding: str = "GSM-7"
    next_part: int = 1
    accepted_parts: int = 0
    price: Decimal = Decimal(0)
    price_known: bool = False
    price_unit: str = "USD"
    carrier: str | None = None
    media_urls: tuple[str, ...] = ()
    expired: bool = False
    sent_at_us: int = 0
    # Found `sending` at start: some parts may have reached the carrier. Its parts are
    # reconciled with the carrier (asked, not sent) before any is submitted again.
    uncertain: bool = False
    intent_recorded: bool = False  # marked `sending` by this node (pushed back, it goes again)

    @property
    def sid(self) -> str:
        return self.row.sid

    @property
    def segments(self) -> int:
        return len(self.parts) if self.parts else self.row.num_segments

    @property
    def remaining(self) -> int:
        return self.segments - self.next_part + 1


@dataclass(slots=True, kw_only=True)
class SenderQueue:
    key: str  # the sender's SID, or account/alpha-ID for an alphanumeric sender
    address: str
    kind: SenderKind
    mps: int
    entries: deque[Entry] = field(default_factory=deque)
    window: Window = field(default_factory=Window)
    backlog: int = 0  # segments queued and not yet submitted
    # Nothing goes out before this: a second after the queue was taken on, so that sends
    # of its previous owner (a crashed run, another node) and ours never share a window.
    not_before_us: int = 0

    def push(self, entry: Entry) -> None:
        self.entries.append(entry)
        self.backlog += entry.remaining

    def push_front(self, entry: Entry) -> None:
        self.entries.appendleft(entry)
        self.backlog += entry.remaining

    def drop(self, entry: Entry) -> None:
        """An entry leaves without being sent (expired)."""
        entry.expired = True
        self.backlog -= entry.remaining

    def unqueue(self, entry: Entry) -> None:
        """Take an entry back out of the queue (to put it back at the head)."""
        if entry in self.entries:
            self.entries.remove(entry)
            self.backlog -= entry.remaining

    def wanted(self, limit: int) -> int:
        """Segments at the head worth asking the rate window for (at most `limit`)."""
        total = 0
        for entry in self.entries:
            if entry.expired:
                continue
            total += entry.remaining
            if total >= limit:
                return limit
        return total

    def take(self, segments: int) -> list[tuple[Entry, int, int]]:
        """Up to `segments` segments from the head: (entry, first part, last part)."""
        taken: list[tuple[Entry, int, int]] = []
        while segments > 0 and self.entries:
            entry = self.entries[0]
            if entry.expired:
                self.entries.popleft()
                continue
            count = min(segments, entry.remaining)
            first = entry.next_part
            taken.append((entry, first, first + count - 1))
            entry.next_part += count
            segments -= count
            self.backlog -= count
            if entry.remaining == 0:
                self.entries.popleft()
        return taken

    def head_created_us(self) -> int | None:
        for entry in self.entries:
            if not entry.expired:
                return entry.row.date_created
        return None
