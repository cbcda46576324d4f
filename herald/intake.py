"""The one seam from the API into the engine: how a message the API creates reaches
dispatch. Inside the create's transaction the API `admit`s a message that goes straight
to its sender's queue (the overflow rule, 21611, counts it there); after the commit it
`announce`s every message it created; if the transaction fails it `abandon`s it.

A dispatching node's intake (`herald.dispatch.intake`) holds the queues and routes
service sends at once. An API-only node's (`StoreIntake`, here) counts the sender's
backlog in the store and leaves the messages to the dispatching nodes, which poll.
"""

from __future__ import annotations

from typing import Protocol

from sqlalchemy.engine import Connection

from herald.domain import errors
from herald.domain.queued import QueuedMessage
from herald.store import dispatch as store


class Intake(Protocol):
    def admit(self, conn: Connection, message: QueuedMessage) -> None:
        """In the create's transaction: refuse (21611) a message its sender's queue has
        no room for, else count it there until it is queued."""
        ...

    def announce(self, message: QueuedMessage) -> None:
        """After the commit: the message is stored; dispatch (or route) it."""
        ...

    def abandon(self, sid: str) -> None:
        """The create's transaction failed: forget what `admit` counted."""
        ...


class StoreIntake:
    """An API-only node's intake: the store's count is the backlog; nothing is held."""

    def __init__(self, *, horizon_s: int) -> None:
        self._horizon_s = horizon_s

    def admit(self, conn: Connection, message: QueuedMessage) -> None:
        if not store.fits_queue(conn, message, message.num_segments, self._horizon_s):
            raise errors.QueueFull()

    def announce(self, message: QueuedMessage) -> None:
        """Nothing to do: a dispatching node's poll finds it."""

    def abandon(self, sid: str) -> None:
        """Nothing was held."""
