"""Sender health (Herald's, beyond Twilio): how each of the account's senders is doing
over the health window, and whether it is in service routing. Under
`/herald/v1/Accounts/{AC}/SenderHealth`:

- `GET .json` lists the senders with outcomes in the window, and every impaired one, by
  address (paged like the opt-out ledger).
- `GET /{sender}.json` fetches one by its health SID (`HS…`), its own SID (`PN…`, `SC…`)
  or its address (`+14155550100`, a short code, an alphanumeric ID).

Each gives the state (`healthy`, or `impaired`: out of service routing but for probes)
and since when, the delivery and failure rates, the error mix and receipt latency
percentiles, and the thresholds it is judged by (`domain/health.py`).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.engine import Connection
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from herald.api.paging import check_token, offset_envelope, page_request
from herald.api.paths import HERALD
from herald.api.requests import account_of, json, not_found, query_of, runtime_of
from herald.domain import timestamps
from herald.domain.health import Health, Policy, Report, window_start
from herald.store import health as store

PATH = f"{HERALD}/SenderHealth"


def _rate(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def render(report: Report, policy: Policy) -> dict[str, Any]:
    subject, window, state = report.subject, report.window, report.state
    return {
        "sid": report.sid,
        "account_sid": subject.account_sid,
        "sender_sid": subject.resource_sid,
        "address": subject.address,
        "state": state.health.value,
        "in_routing": state.health is Health.HEALTHY,
        "date_state_changed": timestamps.iso8601(state.changed_at) if state.changed_at else None,
        "window_s": policy.window_s,
        "messages": window.total,
        "delivered": window.delivered,
        "failed": window.failed,
        "failed_not_judged": window.not_judged,
        "delivery_rate": _rate(window.delivery_rate),
        "failure_rate": _rate(window.failure_rate),
        "error_mix": {str(code): n for code, n in window.errors},
        "receipt_latency_p50_s": window.percentile(0.5),
        "receipt_latency_p95_s": window.percentile(0.95),
        "thresholds": {
            "min_messages": policy.min_messages,
            "failure": policy.failure_threshold,
            "recovery": policy.recovery_threshold,
            "probe_share": policy.probe_share,
        },
        "url": f"/herald/v1/Accounts/{subject.account_sid}/SenderHealth/{report.sid}.json",
    }


async def list_(request: Request) -> Response:
    account = await account_of(request)
    page = page_request(query_of(request))
    runtime = runtime_of(request)
    policy = runtime.health_policy
    since = window_start(runtime.clock.now_us(), policy)

    def read(conn: Connection) -> list[Report]:
        check_token(page, lambda key: store.get_report(conn, account.sid, key, since=since))
        return store.list_reports(
            conn, account.sid, since=since, limit=page.size + 1, offset=page.offset
        )

    found = await runtime.db.read(read)
    records = [render(r, policy) for r in found[: page.size]]
    return json(
        offset_envelope(
            "sender_health", records, len(found) > page.size, request.url.path, [], page
        )
    )


async def fetch(request: Request) -> Response:
    account = await account_of(request)
    ident = request.path_params["sender"]
    runtime = runtime_of(request)
    policy = runtime.health_policy
    since = window_start(runtime.clock.now_us(), policy)
    found = await runtime.db.read(
        lambda conn: store.get_report(conn, account.sid, ident, since=since)
    )
    if found is None:
        raise not_found(f"/SenderHealth/{ident}")
    return json(render(found, policy))


def routes() -> list[Route]:
    return [
        Route(f"{PATH}.json", list_, methods=["GET"]),
        Route(f"{PATH}/{{sender}}.json", fetch, methods=["GET"]),
    ]
