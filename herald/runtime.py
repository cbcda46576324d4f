"""The composition root: `build(settings)` wires the store, clock, authenticator, carrier
transport, intake, dispatcher and callback delivery; `background(stop)` runs the loops
under one TaskGroup. Nothing happens at import; the API's lifespan starts and closes what
`build` made. The API reaches the engine only through what this holds: the `intake` seam,
the transport's carrier facts, `wake_callbacks`.
"""

from __future__ import annotations

import asyncio
import dataclasses
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field

from herald.auth import Authenticator
from herald.carriers.base import Transport
from herald.carriers.routes import CarrierRouter, load_carriers_file
from herald.carriers.simulator import CarrierSimulator
from herald.carriers.smpp_metrics import CarrierCollector
from herald.clock import Clock, SystemClock
from herald.config import Settings
from herald.dispatch.dispatcher import Dispatcher
from herald.domain.health import Policy, Subject
from herald.domain.inbound import InboundMessage
from herald.domain.sids import Prefix, format_sid
from herald.inbound.delivery import InboundDelivery
from herald.inbound.receiver import InboundReceiver, Received
from herald.intake import Intake, StoreIntake
from herald.metrics import Metrics
from herald.node import new_node_id
from herald.store import migrate
from herald.store.db import Database, is_sqlite
from herald.store.media_files import MediaFiles
from herald.store.outbox import OutboxSink
from herald.store.service_cache import ServiceCache
from herald.throttle import ClientThrottle
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
    transport: Transport  # carrier facts for Preview on every node; submits on dispatching ones
    intake: Intake
    node: str = field(default_factory=new_node_id)
    dispatcher: Dispatcher | None = None
    delivery: CallbackDelivery | None = None
    inbound: InboundReceiver | None = None  # set by `build`
    inbound_delivery: InboundDelivery | None = None
    random_bytes: Callable[[int], bytes] = field(default=secrets.token_bytes)
    services: ServiceCache = field(default_factory=lambda: ServiceCache(5.0))
    media: MediaFetcher | None = None  # MMS media at the create, and the Converter's links
    media_files: MediaFiles | None = None  # the kept copies too large for the database
    link_throttle: ClientThrottle = field(
        default_factory=lambda: ClientThrottle(per_second=LINK_REQUESTS_PER_S)
    )

    @property
    def health_policy(self) -> Policy:
        """Sender health's window, thresholds and probe share, from the settings."""
        s = self.settings
        return Policy(
            window_s=s.health_window_s,
            min_messages=s.health_min_messages,
            failure_threshold=s.health_failure_threshold,
            recovery_threshold=s.health_recovery_threshold,
            probe_share=s.health_probe_share,
        )

    def new_sid(self, prefix: Prefix) -> str:
        return format_sid(prefix, self.random_bytes(16))

    def new_secret(self) -> str:
        return self.random_bytes(16).hex()

    def wake_callbacks(self) -> None:
        """Callbacks were just committed: have delivery claim them now, not at its poll."""
        if self.delivery is not None:
            self.delivery.wake()

    def wake_inbound(self) -> None:
        if self.inbound_delivery is not None:
            self.inbound_delivery.wake()

    async def simulate_inbound(self, message: InboundMessage, account_sid: str) -> Received:
        """The simulator's test endpoint: a simulated handset's message, which must be to
        one of `account_sid`'s numbers. On a dispatching node the started simulator hands
        it over as a carrier would (`Transport.start`'s handler); elsewhere it is stored
        by the same receiver directly."""
        assert self.inbound is not None
        simulator = self.transport
        if isinstance(simulator, CarrierRouter):
            simulator = simulator.simulator
        if self.dispatcher is not None and isinstance(simulator, CarrierSimulator):
            await self.inbound.check_owner(message, account_sid)
            sid = await simulator.hand_over(message)
            return await self.inbound.received(sid, account_sid)
        return await self.inbound.receive(message, account_sid=account_sid)

    async def background(self, stop: asyncio.Event) -> None:
        """Dispatch, callback and inbound webhook delivery until `stop` is set."""
        async with asyncio.TaskGroup() as group:
            if self.dispatcher is not None:
                group.create_task(self.dispatcher.run(stop))
            if self.delivery is not None:
                group.create_task(self.delivery.run(stop))
            if self.inbound_delivery is not None:
                group.create_task(self.inbound_delivery.run(stop))

    def close(self) -> None:
        self.db.close()


def build(
    settings: Settings, *, clock: Clock | None = None, transport: Transport | None = None
) -> Runtime:
    """Open the database (creating the data directory and migrating) and wire the parts.
    A carriers file that says something Herald cannot use stops it here
    (`CarrierConfigError`, naming the file and the key), before anything is opened."""
    carriers = load_carriers_file(settings.carriers_file) if settings.carriers_file else None
    url = settings.resolved_database_url
    if is_sqlite(url):
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    db = Database(url, synchronous=settings.sqlite_synchronous, max_batch=settings.group_commit_max)
    with db.bootstrap_lock():  # several nodes may start at once
        migrate.upgrade(db.write_engine)
    clock = clock or SystemClock()
    simulator = CarrierSimulator(
        db, clock, seed=settings.simulator_seed, latency=settings.simulator_latency
    )
    if transport is None and carriers is not None:
        transport = CarrierRouter(
            carriers, simulator, db, clock, new_id=lambda: secrets.token_hex(16)
        )
    runtime = Runtime(
        settings=settings,
        db=db,
        clock=clock,
        auth=Authenticator(db, clock, settings.auth_cache_s),
        metrics=Metrics(),
        transport=transport or simulator,
        intake=StoreIntake(horizon_s=settings.queue_horizon_s),
        services=ServiceCache(settings.auth_cache_s),
        media=MediaFetcher(allow_private=settings.webhook_allow_private),
        media_files=MediaFiles(settings.resolved_media_dir),
    )
    runtime.inbound = InboundReceiver(
        db,
        clock,
        new_sid=runtime.new_sid,
        new_token=runtime.new_secret,
        intake=lambda: runtime.intake,
        on_webhooks=runtime.wake_inbound,
        metrics=runtime.metrics,
    )
    if settings.dispatch:
        _wire_dispatch(runtime)
        if isinstance(runtime.transport, CarrierRouter) and runtime.dispatcher is not None:
            runtime.metrics.registry.register(CarrierCollector(runtime.transport))
            health = runtime.dispatcher.health
            runtime.transport.observe(
                lambda name, outcome: health.record(
                    Subject(key=f"smpp:{name}", kind="connection", address=name), outcome
                )
            )
    return runtime


def _wire_dispatch(runtime: Runtime) -> None:
    settings, db, clock = runtime.settings, runtime.db, runtime.clock
    sole_node = is_sqlite(settings.resolved_database_url)
    delivery = runtime.delivery = CallbackDelivery(
        db,
        clock,
        max_attempts=settings.callback_max_attempts,
        backoff_s=settings.callback_backoff_s,
        timeout_s=settings.callback_timeout_s,
        concurrency=settings.callback_concurrency,
        per_host=settings.callback_per_host,
        processes=settings.callback_processes,
        allow_private=settings.webhook_allow_private,
        sole_node=sole_node,
        node=runtime.node,
    )
    dispatcher = runtime.dispatcher = Dispatcher(
        db,
        clock,
        runtime.transport,
        OutboxSink(),
        horizon_s=settings.queue_horizon_s,
        metrics=runtime.metrics,
        on_callbacks=delivery.wake,
        leased=not sole_node,
        node=runtime.node,
        new_sid=runtime.new_sid,
        media_link=settings.media_link,
        on_inbound=runtime.inbound.handle if runtime.inbound is not None else None,
        health=runtime.health_policy,
    )
    runtime.inbound_delivery = InboundDelivery(
        db,
        clock,
        node=runtime.node,
        new_sid=runtime.new_sid,
        intake=lambda: runtime.intake,
        metrics=runtime.metrics,
        allow_private=settings.webhook_allow_private,
        max_attempts=settings.callback_max_attempts,
        backoff_s=settings.callback_backoff_s,
        sole_node=sole_node,
        timeout_s=settings.callback_timeout_s,
    )
    runtime.intake = dispatcher.intake
    runtime.metrics.watch_queues(dispatcher.queue_view)
    runtime.metrics.watch_leases(dispatcher.node, dispatcher.owned_senders)
    runtime.metrics.watch_callbacks(lambda: dataclasses.asdict(delivery.stats))
    runtime.metrics.watch_health(dispatcher.health.view)
