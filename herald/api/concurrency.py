"""An account may have at most `HERALD_API_CONCURRENCY` requests in flight on this node,
as Twilio limits an account's concurrent REST requests (reference §8.4): one more is
answered 429, 20429 with `Retry-After: 1`, before it is processed, so it is safe to retry.

A request counts from the moment its credentials are proved (`requests.caller_of`) until
it ends however it ends: its response sent, an error, its client gone, its task
cancelled. Counting only proved requests means a caller without the account's credentials
cannot hold its slots. Each counted request's response says in
`Twilio-Concurrent-Requests` how many the account had in flight, itself included (on a
429: those it waits behind). The counts are a dict on this node's event loop: no lock.
"""

from __future__ import annotations

from starlette.types import Scope

from herald.domain import errors

SCOPE_KEY = "herald.concurrency"  # the request's `Slot`, put in its ASGI scope
HEADER = b"twilio-concurrent-requests"
RETRY_AFTER_S = 1


class Limiter:
    """The requests each account has in flight on this node; `limit` 0: no limit (they
    are still counted, for the header)."""

    __slots__ = ("_in_flight", "limit")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._in_flight: dict[str, int] = {}

    def slot(self) -> Slot:
        return Slot(self)


class Slot:
    """One request's place in its account's count: taken at most once, given back once."""

    __slots__ = ("_account_sid", "_limiter", "seen")

    def __init__(self, limiter: Limiter) -> None:
        self._limiter = limiter
        self._account_sid: str | None = None
        self.seen = 0  # the account's requests in flight when this one came; 0: not counted

    def take(self, account_sid: str) -> None:
        """Count this request against `account_sid`, or refuse it with 20429. Taking again
        (a handler may authenticate twice) changes nothing."""
        if self._account_sid is not None:
            return
        counts = self._limiter._in_flight
        count = counts.get(account_sid, 0)
        limit = self._limiter.limit
        if limit and count >= limit:
            self.seen = count
            raise errors.TooManyRequests(
                f"Too Many Requests: the account already has {count} requests in flight, "
                "its limit. Retry after a moment.",
                retry_after_s=RETRY_AFTER_S,
            )
        counts[account_sid] = count + 1
        self._account_sid = account_sid
        self.seen = count + 1

    def release(self) -> None:
        account_sid = self._account_sid
        if account_sid is None:
            return
        self._account_sid = None
        counts = self._limiter._in_flight
        left = counts[account_sid] - 1
        if left:
            counts[account_sid] = left
        else:
            del counts[account_sid]  # the dict holds only accounts with requests in flight


def take(scope: Scope, account_sid: str) -> None:
    """Count the request of `scope` against `account_sid` (20429 beyond the limit)."""
    slot: Slot | None = scope.get(SCOPE_KEY)
    if slot is not None:
        slot.take(account_sid)
