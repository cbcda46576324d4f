"""The composition root: `build(settings)` wires the store, clock and authenticator.

Nothing happens at import; the API's lifespan closes what `build` opened.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass, field

from herald.api.auth import Authenticator
from herald.clock import Clock, SystemClock
from herald.config import Settings
from herald.domain.sids import Prefix, format_sid
from herald.store import migrate
from herald.store.db import Database, is_sqlite


@dataclass(kw_only=True)
class Runtime:
    settings: Settings
    db: Database
    clock: Clock
    auth: Authenticator
    random_bytes: Callable[[int], bytes] = field(default=secrets.token_bytes)

    def new_sid(self, prefix: Prefix) -> str:
        return format_sid(prefix, self.random_bytes(16))

    def new_secret(self) -> str:
        return self.random_bytes(16).hex()

    def close(self) -> None:
        self.db.close()


def build(settings: Settings, *, clock: Clock | None = None) -> Runtime:
    """Open the database (creating the data directory and migrating) and wire the parts."""
    url = settings.resolved_database_url
    if is_sqlite(url):
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    db = Database(url, synchronous=settings.sqlite_synchronous, max_batch=settings.group_commit_max)
    migrate.upgrade(db.write_engine)
    clock = clock or SystemClock()
    auth = Authenticator(db, clock, settings.auth_cache_s)
    return Runtime(settings=settings, db=db, clock=clock, auth=auth)
