"""Messaging Services as the API's sends read them: from memory for a few seconds.

Every send through a service reads the service (its settings apply to the message); the
row changes rarely, so this node keeps it for `ttl_s`, as it keeps credentials, and
forgets it at once when this node updates or deletes it. Another node's change is seen
within `ttl_s`.
"""

from __future__ import annotations

import threading

from sqlalchemy.engine import Connection

from herald.domain.services import Service
from herald.store import services as store


class ServiceCache:
    def __init__(self, ttl_s: float) -> None:
        self._ttl_us = round(ttl_s * 1_000_000)
        self._found: dict[tuple[str, str], tuple[int, Service | None]] = {}
        self._lock = threading.Lock()  # creates' writes run on the committer's thread too

    def get(self, conn: Connection, account_sid: str, sid: str, now_us: int) -> Service | None:
        key = (account_sid, sid)
        with self._lock:
            cached = self._found.get(key)
        if cached is not None and now_us - cached[0] < self._ttl_us and cached[1] is not None:
            return cached[1]
        service = store.get_service(conn, account_sid, sid)
        with self._lock:
            if len(self._found) > 10_000:
                self._found.clear()
            self._found[key] = (now_us, service)
        return service

    def forget(self, sid: str) -> None:
        with self._lock:
            for key in [key for key in self._found if key[1] == sid]:
                del self._found[key]
