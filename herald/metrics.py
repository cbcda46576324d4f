"""Prometheus metrics, one registry per runtime (so tests can build several).

Counters and histograms are updated where things happen; queue depths and waits are
read from the dispatcher's queues when `/metrics` is scraped, so they cost nothing
between scrapes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from herald.domain.health import LATENCY_BOUNDS_S, Outcome

LATENCY_BUCKETS = (0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300)
WAIT_BUCKETS = (0.01, 0.1, 1, 10, 60, 600, 3600, 14_400, 36_000)

# A queue's key (its sender's SID, or account/alpha-ID: unique), its address, the segments
# waiting and how long its head has waited (s).
QueueView = Callable[[], list[tuple[str, str, int, float]]]
CallbackView = Callable[[], dict[str, int]]  # delivered, failed_attempts, dead, in_flight
# Sender health: (kind, key, address, impaired, failure rate in the window or None).
HealthView = Callable[[], list[tuple[str, str, str, bool, float | None]]]
HEALTH_KINDS = ("sender", "connection")  # what health counts outcomes for


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.messages = Counter(
            "herald_messages",
            "Messages that reached each status",
            ["status"],
            registry=self.registry,
        )
        self.submit_seconds = Histogram(
            "herald_submit_seconds",
            "Time for the carrier to answer a submit batch",
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.receipt_seconds = Histogram(
            "herald_receipt_seconds",
            "Time from sent to the carrier's delivery receipt",
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.queue_wait_seconds = Histogram(
            "herald_queue_wait_seconds",
            "Time a message waited in its sender's queue before submission",
            buckets=WAIT_BUCKETS,
            registry=self.registry,
        )

        self.routing = Counter(
            "herald_routing_decisions",
            "Messaging Service messages routed, by the rule that chose the sender (none: failed)",
            ["rule"],
            registry=self.registry,
        )
        self.inbound = Counter(
            "herald_inbound_messages", "Inbound messages stored", registry=self.registry
        )
        self.inbound_webhooks = Counter(
            "herald_inbound_webhooks",
            "Inbound webhook attempts, by outcome (done, retry, dead)",
            ["outcome"],
            registry=self.registry,
        )

        # Per sender (label `sender`, its queue key) and per carrier connection.
        self.health_outcomes = {
            kind: Counter(
                f"herald_{kind}_outcomes",
                f"Final outcomes per {kind}: delivered, undelivered or failed, by error code",
                [kind, "address", "outcome", "error_code"],
                registry=self.registry,
            )
            for kind in HEALTH_KINDS
        }
        self.health_receipt_seconds = {
            kind: Histogram(
                f"herald_{kind}_receipt_seconds",
                f"Time from sent to the delivery receipt, per {kind}",
                [kind, "address"],
                buckets=LATENCY_BOUNDS_S,
                registry=self.registry,
            )
            for kind in HEALTH_KINDS
        }

    def count_health(self, kind: str, key: str, address: str, outcome: Outcome) -> None:
        """One final outcome of a sender's (or a connection's) message."""
        if kind not in self.health_outcomes:
            return
        if outcome.delivered:
            result, code = "delivered", ""
        else:
            result = "failed" if outcome.refused else "undelivered"
            code = str(outcome.error_code or "")
        self.health_outcomes[kind].labels(key, address, result, code).inc()
        if outcome.latency_us is not None:
            self.health_receipt_seconds[kind].labels(key, address).observe(
                outcome.latency_us / 1_000_000
            )

    def watch_health(self, view: HealthView) -> None:
        self.registry.register(_HealthCollector(view))

    def watch_queues(self, view: QueueView) -> None:
        self.registry.register(_QueueCollector(view))

    def watch_leases(self, node: str, owned: Callable[[], list[str]]) -> None:
        self.registry.register(_LeaseCollector(node, owned))

    def watch_callbacks(self, view: CallbackView) -> None:
        self.registry.register(_CallbackCollector(view))

    def render(self) -> bytes:
        return generate_latest(self.registry)


class _QueueCollector(Collector):
    def __init__(self, view: QueueView) -> None:
        self._view = view

    def collect(self) -> Iterator[GaugeMetricFamily]:
        labels = ["sender", "address"]  # the sender's SID (or account/ID), what it sends as
        depth = GaugeMetricFamily(
            "herald_queue_depth_segments", "Segments waiting per sender", labels=labels
        )
        wait = GaugeMetricFamily(
            "herald_queue_oldest_wait_seconds",
            "How long the oldest waiting message of each sender has waited",
            labels=labels,
        )
        for key, address, backlog, head_wait in self._view():
            depth.add_metric([key, address], backlog)
            wait.add_metric([key, address], head_wait)
        yield depth
        yield wait

    def describe(self) -> Iterator[GaugeMetricFamily]:
        return iter(())


class _LeaseCollector(Collector):
    """Which senders this process dispatches (with several nodes: those it leases)."""

    def __init__(self, node: str, owned: Callable[[], list[str]]) -> None:
        self._node = node
        self._owned = owned

    def collect(self) -> Iterator[GaugeMetricFamily]:
        owned = self._owned()
        count = GaugeMetricFamily(
            "herald_owned_senders", "Senders this node dispatches", labels=["node"]
        )
        count.add_metric([self._node], len(owned))
        yield count
        each = GaugeMetricFamily(
            "herald_sender_owned",
            "1 for each sender this node dispatches",
            labels=["node", "sender"],
        )
        for sender in owned:
            each.add_metric([self._node, sender], 1)
        yield each

    def describe(self) -> Iterator[GaugeMetricFamily]:
        return iter(())


class _CallbackCollector(Collector):
    def __init__(self, view: CallbackView) -> None:
        self._view = view

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        stats = self._view()
        attempts = CounterMetricFamily(
            "herald_callbacks",
            "Status callback attempts by result (delivered; failed, to be retried; dead)",
            labels=["result"],
        )
        for result in ("delivered", "failed_attempts", "dead"):
            attempts.add_metric([result.removesuffix("_attempts")], stats.get(result, 0))
        yield attempts
        yield GaugeMetricFamily(
            "herald_callbacks_in_flight", "Callbacks being delivered now", stats.get("in_flight", 0)
        )

    def describe(self) -> Iterator[GaugeMetricFamily]:
        return iter(())


class _HealthCollector(Collector):
    """Each sender's (and connection's) health state and failure rate, read at scrape."""

    def __init__(self, view: HealthView) -> None:
        self._view = view

    def collect(self) -> Iterator[GaugeMetricFamily]:
        families: dict[str, tuple[GaugeMetricFamily, GaugeMetricFamily]] = {
            kind: (
                GaugeMetricFamily(
                    f"herald_{kind}_impaired",
                    f"1 while the {kind} is out of routing (sender health), else 0",
                    labels=[kind, "address"],
                ),
                GaugeMetricFamily(
                    f"herald_{kind}_failure_ratio",
                    f"Share of the {kind}'s judged messages that failed, over the window",
                    labels=[kind, "address"],
                ),
            )
            for kind in HEALTH_KINDS
        }
        for kind, key, address, impaired, rate in self._view():
            if kind not in families:
                continue
            state, ratio = families[kind]
            state.add_metric([key, address], 1 if impaired else 0)
            if rate is not None:
                ratio.add_metric([key, address], rate)
        for pair in families.values():
            yield from pair

    def describe(self) -> Iterator[GaugeMetricFamily]:
        return iter(())
