"""The SMPP connections' live state in `/metrics`, read when scraped (the connections keep
plain counters; nothing is paid per PDU for Prometheus). `herald carriers` reads these.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from herald.carriers.routes import CarrierRouter

COUNTED = (
    ("submits", "submit_sm sent"),
    ("accepted", "submit_sm the SMSC accepted"),
    ("refused", "submit_sm the SMSC refused (the message failed)"),
    ("pushback", "submit_sm answered with throttling, queue full or generic_nack (resent)"),
    ("ambiguous", "submit_sm whose submit_sm_resp never came (resent unless configured not to)"),
    ("inbound", "inbound messages stored"),
    ("inbound_incomplete", "inbound messages stored with a part missing (30009)"),
    ("receipts_unmatched", "receipts whose message id matched no submitted segment"),
)


class CarrierCollector(Collector):
    def __init__(self, router: CarrierRouter) -> None:
        self._router = router

    def collect(self) -> Iterator[Metric]:
        connections = self._router.connections.values()
        bound = GaugeMetricFamily(
            "herald_smpp_bound", "1 when the bind is up", labels=["connection", "bind"]
        )
        binds = CounterMetricFamily(
            "herald_smpp_binds", "Successful binds", labels=["connection", "bind"]
        )
        failures = GaugeMetricFamily(
            "herald_smpp_bind_failures",
            "Failed connects or binds in a row",
            labels=["connection", "bind"],
        )
        down = GaugeMetricFamily(
            "herald_smpp_down",
            "1 when the connection is marked down (its routes fail over)",
            labels=["connection"],
        )
        window = GaugeMetricFamily(
            "herald_smpp_window_in_use", "submit_sm awaiting their answer", labels=["connection"]
        )
        size = GaugeMetricFamily(
            "herald_smpp_window_size", "The connection's window", labels=["connection"]
        )
        counted = {
            key: CounterMetricFamily(
                f"herald_smpp_{key}" + ("_submits" if key == "ambiguous" else ""),
                doc,
                labels=["connection"],
            )
            for key, doc in COUNTED
        }
        receipts = CounterMetricFamily(
            "herald_smpp_receipts", "Receipts by stat", labels=["connection", "stat"]
        )
        for connection in connections:
            name = connection.name
            for link in connection.links:
                bound.add_metric([name, link.bind_type], 1.0 if link.bound else 0.0)
                binds.add_metric([name, link.bind_type], link.binds)
                failures.add_metric([name, link.bind_type], link.failures)
            down.add_metric([name], 1.0 if connection.is_down else 0.0)
            window.add_metric([name], connection.in_flight)
            size.add_metric([name], connection.config.window)
            for key, family in counted.items():
                family.add_metric([name], connection.counters.get(key, 0))
            for key, value in connection.counters.items():
                if key.startswith("receipts_") and key != "receipts_unmatched":
                    receipts.add_metric([name, key.removeprefix("receipts_").upper()], value)
        yield from (bound, binds, failures, down, window, size, receipts, *counted.values())
