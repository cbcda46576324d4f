"""The composition root: `build(settings)` wires the store, clock, authenticator, carrier
transport, dispatcher and callback delivery; `background(stop)` runs the loops under one
TaskGroup. Nothing happens at import; the API's lifespan starts and closes what `build`
made.
"""

from __future__ import annotations

import asyncio
import dataclasses
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field

from herald.api.auth import Authenticator
from herald.api.service_cache import ServiceCache
from herald.api.throttle import ClientThrottle
from herald.carriers.base import Transport
from herald.carriers.simulator import CarrierSimulator
from herald.clock import Clock, SystemClock
from herald.config import Settings
from herald.dispatch.callback_sink import OutboxSink
from herald.dispatch.dispatcher import Dispatcher
from herald.dispatch.router import Router
from herald.domain.sids import Prefix, format_sid
from herald.metrics import Metrics
from herald.store import migrate
from herald.store.db import Database, is_sqlite
from herald.webhooks.delivery import CallbackDelivery
from herald.webhooks.media import MediaFetcher

LINK_REQUESTS_PER_S = 5  # per client, on the MMS Converter's links (a burst of as many)


@dataclass(kw_only=True)
class Runtime:
    settings: Settings
    db: Database
    clock: Clock
    auth: Authenticator
    metrics: Metrics
    transport: Transport | None = None
    dispatcher: Dispatcher | None = None
    delivery: CallbackDelivery | None = None
    random_bytes: Callable[[int], bytes] = field(default=secrets.token_bytes)
    services: ServiceCache = field(default_factory=lambda: ServiceCache(5.0))
    media: MediaFetcher | None = None  # for the MMS Converter's links
    link_throttle: ClientThrottle = field(
        default_factory=lambda: ClientThrottle(per_second=LINK_REQUESTS_PER_S)
    )

    def new_sid(self, prefix: Prefix) -> str:
        return format_sid(prefix, self.random_bytes(16))

    def new_secret(self) -> str:
        return self.random_bytes(16).hex()

    async def background(self, stop: asyncio.Event) -> None:
        """Dispatch and callback delivery until `stop` is set."""
        async with asyncio.TaskGroup() as group:
            if self.dispatcher is not None:
                group.create_task(self.dispatcher.run(stop))
            if self.delivery is not None:
                group.create_task(self.delivery.run(stop))

    def close(self) -> None:
        self.db.close()


def build(
    settings: Settings, *, clock: Clock | None = None, transport: Transport | None = None
) -> Runtime:
    """Open the database (creating the data directory and migrating) and wire the parts."""
    url = settings.resolved_database_url
    if is_sqlite(url):
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    db = Database(url, synchronous=settings.sqlite_synchronous, max_batch=settings.group_commit_max)
    with db.bootstrap_lock():  # several nodes may start at once
        migrate.upgrade(db.write_engine)
    clock = clock or SystemClock()
    runtime = Runtime(
        settings=settings,
        db=db,
        clock=clock,
        auth=Authenticator(db, clock, settings.auth_cache_s),
        metrics=Metrics(),
        services=ServiceCache(settings.auth_cache_s),
        media=MediaFetcher(allow_private=settings.webhook_allow_private),
    )
    if settings.dispatch:
        _wire_dispatch(runtime, transport)
    return runtime


def _wire_dispatch(runtime: Runtime, transport: Transport | None) -> None:
    settings, db, clock = runtime.settings, runtime.db, runtime.clock
    runtime.transport = transport or CarrierSimulator(
        db, clock, seed=settings.simulator_seed, latency=settings.simulator_latency
    )
    runtime.delivery = CallbackDelivery(
        db,
        clock,
        max_attempts=settings.callback_max_attempts,
        backoff_s=settings.callback_backoff_s,
        timeout_s=settings.callback_timeout_s,
        concurrency=settings.callback_concurrency,
        per_host=settings.callback_per_host,
        processes=settings.callback_processes,
        allow_private=settings.webhook_allow_private,
        sole_node=is_sqlite(settings.resolved_database_url),
    )
    runtime.dispatcher = Dispatcher(
        db,
        clock,
        runtime.transport,
        OutboxSink(),
        horizon_s=settings.queue_horizon_s,
        metrics=runtime.metrics,
        on_callbacks=runtime.delivery.wake,
        leased=not is_sqlite(settings.resolved_database_url),
    )
    runtime.dispatcher.router = Router(runtime.dispatcher, runtime.new_sid, settings.media_link)
    runtime.metrics.watch_queues(runtime.dispatcher.queue_view)
    runtime.metrics.watch_leases(runtime.dispatcher.node, runtime.dispatcher.owned_senders)
    delivery = runtime.delivery
    runtime.metrics.watch_callbacks(lambda: dataclasses.asdict(delivery.stats))
