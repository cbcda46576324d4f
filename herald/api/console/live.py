"""The live view: queue depth and oldest wait per sender, messages per second, delivered
and failed rates, the callback backlog and the carriers' connections, updating itself.

One snapshot feeds both the page (server-rendered, so it reads without JavaScript) and
`/console/live.json`, which `static/live.js` polls; the charts' points are computed here
too, so the page and its updates draw the same thing. Everything but the carriers is the
signed-in account's alone (`store/console_live.py`); the carriers' connections are the
process's, read from its Prometheus registry as `/metrics` reads them."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from herald.api.console.pages import Page, page
from herald.api.requests import runtime_of
from herald.runtime import Runtime
from herald.store import console_live as store

SECOND_US = 1_000_000
WINDOW_S = 180  # what the charts and the outcome shares cover
BUCKET_S = 5
BUCKETS = WINDOW_S // BUCKET_S
POLL_S = 2  # how often live.js asks again
CHART_W, CHART_H = 360, 80
SMPP = ("herald_smpp_bound", "herald_smpp_down", "herald_smpp_window_in_use",
        "herald_smpp_window_size", "herald_smpp_bind_failures")  # fmt: skip


@page
async def live(p: Page) -> Response:
    return p.render("live.html", section="live", title="Live", live=await snapshot(p),
                    poll_s=POLL_S, chart_w=CHART_W, chart_h=CHART_H)  # fmt: skip


@page
async def live_json(p: Page) -> Response:
    response = JSONResponse(await snapshot(p))
    response.headers["Cache-Control"] = "no-store"
    return response


async def snapshot(p: Page) -> dict[str, Any]:
    """Everything the page shows, as plain values (the JSON as sent)."""
    runtime = runtime_of(p.request)
    account = p.signed.account_sid
    now = runtime.clock.now_us()
    since = now - WINDOW_S * SECOND_US

    found = await runtime.db.read(
        lambda conn: store.everything(
            conn, account, since=since, bucket_us=BUCKET_S * SECOND_US, buckets=BUCKETS
        )
    )
    traffic, backlog, next_at = found.traffic, found.backlog, found.next_scheduled
    return {
        "updated": time.strftime("%H:%M:%S", time.gmtime(now / SECOND_US)) + " UTC",
        "rates": _rates(traffic),
        "outcomes": _outcomes(traffic),
        "queues": [_queue(q, now) for q in found.queues],
        "scheduled": {
            "count": found.scheduled,
            "next_in": _duration((next_at - now) / SECOND_US) if next_at else "",
        },
        "callbacks": {
            "owed": backlog.callbacks,
            "retrying": backlog.retrying,
            "oldest": _duration((now - backlog.oldest) / SECOND_US) if backlog.oldest else "",
            "inbound": backlog.inbound_webhooks,
        },
        "carriers": carriers(runtime),
        "charts": _charts(traffic),
    }


def _rates(t: store.Traffic) -> dict[str, Any]:
    """Per second over the last 10 and 60 s (whole buckets, the newest ending now)."""

    def last(series: list[int], seconds: int) -> int:
        return sum(series[-(seconds // BUCKET_S) :])

    return {
        "sent_10s": _per_second(last(t.sent, 10), 10),
        "sent_60s": _per_second(last(t.sent, 60), 60),
        "sent_minute": last(t.sent, 60),
        "received_10s": _per_second(last(t.received, 10), 10),
        "received_60s": _per_second(last(t.received, 60), 60),
        "received_minute": last(t.received, 60),
    }


def _per_second(count: int, seconds: int) -> str:
    """Two figures where they matter: 0.02/s, 0.4/s, 3.5/s, 120/s."""
    rate = count / seconds
    if not count:
        return "0"
    return f"{rate:.2f}" if rate < 1 else f"{rate:.1f}" if rate < 10 else f"{rate:.0f}"


def _outcomes(t: store.Traffic) -> dict[str, Any]:
    delivered = t.outcomes.get("delivered", 0)
    undelivered = t.outcomes.get("undelivered", 0)
    failed = t.outcomes.get("failed", 0)
    final = delivered + undelivered + failed
    return {
        "delivered": delivered,
        "undelivered": undelivered,
        "failed": failed,
        "not_delivered": undelivered + failed,
        "awaiting": t.awaiting,
        "delivered_share": _share(delivered, final),
        "failed_share": _share(undelivered + failed, final),
    }


def _share(part: int, whole: int) -> str:
    return f"{100 * part / whole:.0f}%" if whole else "–"


def _queue(q: store.Queue, now: int) -> dict[str, Any]:
    wait_s = max(0.0, (now - q.since) / SECOND_US) if q.since is not None else 0.0
    return {
        "sender": q.address,
        "routing": q.routing,
        "waiting": q.waiting,
        "segments": q.segments,
        "in_flight": q.in_flight,
        "oldest_wait": _duration(wait_s) if q.since is not None else "–",
        "oldest_wait_s": round(wait_s, 1),
        "rate": f"{q.mps}/s" if q.mps else "routing",
        "drains_in": _duration(q.segments / q.mps) if q.mps and q.segments else "–",
    }


def _duration(seconds: float) -> str:
    """A wait as a person reads it: 4 s, 2 min 5 s, 3 h 10 min."""
    s = max(0, round(seconds))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60} s" if s % 60 else f"{s // 60} min"
    return f"{s // 3600} h {s % 3600 // 60} min"


def _charts(t: store.Traffic) -> dict[str, Any]:
    """Two sparklines over the window, per second, each pair on one scale."""
    per_s = {name: [n / BUCKET_S for n in getattr(t, name)]
             for name in ("sent", "received", "delivered", "failed")}  # fmt: skip
    charts: dict[str, Any] = {"window": _duration(WINDOW_S)}
    for chart, pair in (
        ("throughput", ("sent", "received")),
        ("outcomes", ("delivered", "failed")),
    ):
        top = max(1.0, *(v for name in pair for v in per_s[name]))
        charts[chart] = {name: points(per_s[name], top) for name in pair}
        charts[chart]["peak"] = f"{max(v for name in pair for v in per_s[name]):.1f}/s"
    return charts


def points(values: Sequence[float], top: float) -> str:
    """An SVG polyline's points: the values left (oldest) to right, 0 at the bottom."""
    step = CHART_W / max(1, len(values) - 1)
    usable = CHART_H - 4
    return " ".join(
        f"{i * step:.1f},{CHART_H - 2 - usable * v / top:.1f}" for i, v in enumerate(values)
    )


def carriers(runtime: Runtime) -> dict[str, Any]:
    """The SMPP connections' state as the process's `/metrics` shows it
    (`carriers/smpp_metrics.py`); without a carriers file, the simulator carries all."""
    if runtime.settings.carriers_file is None:
        return {"mode": "simulator", "connections": []}
    found: dict[str, dict[str, Any]] = {}
    for metric in runtime.metrics.registry.collect():
        if metric.name not in SMPP:
            continue
        for sample in metric.samples:
            entry = found.setdefault(sample.labels["connection"], _blank())
            _count(entry, metric.name, sample.value)
    return {"mode": "smpp", "connections": [_connection(n, e) for n, e in sorted(found.items())]}


def _blank() -> dict[str, Any]:
    return {"bound": 0, "binds": 0, "down": False, "failures": 0, "in_use": 0, "size": 0}


def _count(entry: dict[str, Any], name: str, value: float) -> None:
    if name == "herald_smpp_bound":
        entry["binds"] += 1
        entry["bound"] += int(value)
    elif name == "herald_smpp_down":
        entry["down"] = value > 0
    elif name == "herald_smpp_bind_failures":
        entry["failures"] = max(entry["failures"], int(value))
    else:
        entry["in_use" if name.endswith("in_use") else "size"] = int(value)


def _connection(name: str, e: dict[str, Any]) -> dict[str, Any]:
    if e["down"]:
        state = "down"
    elif e["binds"] and e["bound"] == e["binds"]:
        state = "bound"
    else:
        state = "connecting"
    return {
        "name": name,
        "state": state,
        "binds": f"{e['bound']} of {e['binds']}",
        "failures": e["failures"],
        "window": f"{e['in_use']} of {e['size']}",
    }


def routes() -> list[Route]:
    return [
        Route("/console/live", live, methods=["GET"]),
        Route("/console/live.json", live_json, methods=["GET"]),
    ]
