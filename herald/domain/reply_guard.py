"""The reply-loop guard (Twilio 14107): more than `limit` replies between the same two
numbers within `window_s` fail that conversation's replies for `block_s`.

The pair is unordered, so two auto-responders answering each other count as one
conversation: the loop this exists to break. Memory stays bounded: a pair idle for a whole
window, and not blocked, is forgotten (it could not count against anything), and beyond
`max_pairs` the least recently active pair is dropped, which lifts its block early: a
lesser harm than growing without end.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from dataclasses import dataclass, field

SECOND_US = 1_000_000
MAX_PAIRS = 100_000


@dataclass(slots=True, kw_only=True)
class _Conversation:
    sent: deque[int] = field(default_factory=deque)  # reply times within the window, oldest first
    blocked_until: int
    last_seen: int


class ReplyGuard:
    """In-memory counts of replies per pair of numbers; times are microseconds, injected."""

    def __init__(
        self,
        *,
        limit: int = 30,
        window_s: float = 30.0,
        block_s: float = 30.0,
        max_pairs: int = MAX_PAIRS,
    ) -> None:
        if limit < 1 or window_s <= 0 or block_s < 0 or max_pairs < 1:
            raise ValueError("limit, window_s and max_pairs must be positive, block_s not negative")
        self.limit = limit
        self.window_us = round(window_s * SECOND_US)
        self.block_us = round(block_s * SECOND_US)
        self.max_pairs = max_pairs
        self._pairs: OrderedDict[tuple[str, str], _Conversation] = OrderedDict()

    def __len__(self) -> int:
        """How many pairs are remembered."""
        return len(self._pairs)

    def allow(self, sender: str, recipient: str, now_us: int) -> bool:
        """Whether a reply from `sender` to `recipient` may go now, recording it if so. The
        reply that would be the (limit+1)th within the window is refused and blocks the pair
        for `block_s` from now. Refused replies are not counted; the sent ones still are, so
        a block shorter than the window never lets more than `limit` through in a window."""
        self._forget_idle(now_us)
        pair = (sender, recipient) if sender <= recipient else (recipient, sender)
        talk = self._touch(pair, now_us)
        talk.last_seen = now_us
        if now_us < talk.blocked_until:
            return False
        while talk.sent and talk.sent[0] <= now_us - self.window_us:
            talk.sent.popleft()
        if len(talk.sent) >= self.limit:
            talk.blocked_until = now_us + self.block_us
            return False
        talk.sent.append(now_us)
        return True

    def _touch(self, key: tuple[str, str], now_us: int) -> _Conversation:
        """The pair's state, made the most recently active; a new pair may evict the oldest."""
        talk = self._pairs.get(key)
        if talk is not None:
            self._pairs.move_to_end(key)
            return talk
        talk = self._pairs[key] = _Conversation(blocked_until=now_us, last_seen=now_us)
        if len(self._pairs) > self.max_pairs:
            self._pairs.popitem(last=False)
        return talk

    def _forget_idle(self, now_us: int) -> None:
        """Drop pairs, least recently active first, whose window and block have both passed."""
        while self._pairs:
            key, talk = next(iter(self._pairs.items()))
            if max(talk.last_seen + self.window_us, talk.blocked_until) > now_us:
                return
            del self._pairs[key]
