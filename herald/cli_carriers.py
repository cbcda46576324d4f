"""`herald carriers`: the carriers file's connections and routes, with each connection's
live state read from the running Herald's `/metrics` (two scrapes a second apart give
the rates). The file is checked as `herald serve` checks it.
"""

from __future__ import annotations

import json
import sys
import time
import urllib.error
import urllib.request
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from herald import config
from herald.carriers.routes import load_carriers_file
from herald.domain.carrier_config import CarrierConfig, CarrierConfigError

RATE_WINDOW_S = 1.0

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def show_carriers(settings: config.Settings, *, url: str | None, as_json: bool) -> int:
    if settings.carriers_file is None:
        print("No carriers file (HERALD_CARRIERS_FILE): every message goes to the simulator.")
        return 0
    try:
        carriers = load_carriers_file(settings.carriers_file)
    except CarrierConfigError as exc:
        print(f"herald: {exc}", file=sys.stderr)
        return 2
    base = (url or f"http://{settings.host}:{settings.port}").rstrip("/")
    live = _live(base, settings.metrics_token)
    listed = _listing(carriers, live)
    if as_json:
        print(json.dumps({"reachable": live is not None, **listed}))
        return 0
    if live is None:
        print(f"(Herald is not reachable at {base}: live state unknown)")
    print(f"{'connection':<16} {'host':<24} {'state':<10} {'window':>9} {'submit/s':>9} "
          f"{'receipt/s':>9} {'ambiguous':>9} {'delivered':>9}  failover")  # fmt: skip
    for c in listed["connections"]:
        window = f"{c['window_in_use']}/{c['window']}" if c["state"] != "unknown" else "-"
        print(
            f"{c['name']:<16} {c['host'] + ':' + str(c['port']):<24} {c['state']:<10} "
            f"{window:>9} {c['submits_per_s']:>9} {c['receipts_per_s']:>9} "
            f"{c['ambiguous']:>9} {_percent(c['delivery_rate']):>9}  {c['failover'] or '-'}"
        )
    print("\nroutes (first match wins; anything unmatched goes to the simulator):")
    for i, r in enumerate(listed["routes"], 1):
        countries = ",".join(r["countries"]) or "any country"
        senders = ",".join(r["senders"]) or "any sender"
        print(f"  {i}. {countries} / {senders} -> {r['connection']}")
    return 0


def _listing(carriers: CarrierConfig, live: tuple[Samples, Samples] | None) -> dict[str, Any]:
    connections = []
    for c in carriers.connections:
        entry: dict[str, Any] = {
            "name": c.name,
            "host": c.host,
            "port": c.port,
            "bind": c.bind,
            "window": c.window,
            "failover": c.failover,
            "state": "unknown",
            "window_in_use": None,
            "submits_per_s": None,
            "receipts_per_s": None,
            "ambiguous": None,
            "delivery_rate": None,
        }
        if live is not None:
            entry.update(_state(c.name, *live))
        connections.append(entry)
    routes = [
        {
            "connection": r.connection,
            "countries": sorted(r.countries),
            "senders": sorted(r.senders),
        }
        for r in carriers.routes
    ]
    return {"connections": connections, "routes": routes}


def _state(name: str, before: Samples, after: Samples) -> dict[str, Any]:
    def total(samples: Samples, metric: str) -> float:
        return sum(
            v
            for (n, labels), v in samples.items()
            if n == metric and ("connection", name) in labels
        )

    bound = total(after, "herald_smpp_bound")
    binds = sum(
        1 for (n, labels) in after if n == "herald_smpp_bound" and ("connection", name) in labels
    )
    if total(after, "herald_smpp_down"):
        state = "down"
    elif binds and bound == binds:
        state = "bound"
    else:
        state = "binding"
    receipts = total(after, "herald_smpp_receipts_total") - total(
        before, "herald_smpp_receipts_total"
    )
    submits = total(after, "herald_smpp_submits_total") - total(before, "herald_smpp_submits_total")
    outcomes = {
        labels: v
        for (n, labels), v in after.items()
        if n == "herald_connection_outcomes_total" and ("connection", f"smpp:{name}") in labels
    }
    finished = sum(outcomes.values())
    delivered = sum(v for labels, v in outcomes.items() if ("outcome", "delivered") in labels)
    return {
        "state": state,
        "delivery_rate": round(delivered / finished, 4) if finished else None,
        "window_in_use": int(total(after, "herald_smpp_window_in_use")),
        "submits_per_s": round(submits / RATE_WINDOW_S, 1),
        "receipts_per_s": round(receipts / RATE_WINDOW_S, 1),
        "ambiguous": int(total(after, "herald_smpp_ambiguous_submits_total")),
    }


def _live(base: str, token: str | None) -> tuple[Samples, Samples] | None:
    try:
        before = _scrape(base, token)
        time.sleep(RATE_WINDOW_S)
        return before, _scrape(base, token)
    except (OSError, urllib.error.URLError, ValueError):
        return None


def _scrape(base: str, token: str | None) -> Samples:
    request = urllib.request.Request(f"{base}/metrics")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(request, timeout=5) as answer:
        text = answer.read().decode()
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        if family.name.startswith(("herald_smpp", "herald_connection_outcomes")):
            for s in family.samples:
                samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return samples


def _percent(rate: float | None) -> str:
    return "-" if rate is None else f"{rate:.1%}"
