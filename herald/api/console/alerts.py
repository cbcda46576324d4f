"""The alerts in the console, as Twilio's Monitor shows them: the Sender ID pre-registration
warning (30018), inbound webhook errors (11xxx) and TwiML errors (12xxx), sender health
(900100 taken out of routing, 900101 back), filtered and paged, and one alert's details.
The REST list (`/v1/Alerts`) takes no filters, so the list reads the store
(`store/alert_search.py`), always within the signed-in account; one alert is the API's."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from herald.api.console.pager import PAGE_SIZE, page_number, pager
from herald.api.console.pages import Page, page
from herald.api.requests import runtime_of
from herald.domain import timestamps
from herald.domain.alerts import Alert
from herald.domain.sids import Prefix, is_sid
from herald.store import alert_search

LEVELS = ("error", "warning", "notice")
# Which kind of alert a code is: (key, label, first code, last code).
KINDS = (
    ("pre-registration", "Sender ID pre-registration", 30018, 30018),
    ("webhook", "Webhook error", 11000, 11999),
    ("twiml", "TwiML error", 12000, 12999),
    ("health", "Sender health", 900100, 900199),
)
FILTERS = ("kind", "level", "code", "resource", "from", "to")
NOTHING = (1, 0)  # a code range no alert is in


def kind_of(code: int) -> str:
    return next((label for _, label, low, high in KINDS if low <= code <= high), "Other")


def link_of(sid: str | None) -> str | None:
    """The console page of the resource an alert names, if it has one."""
    pages = {"SM": "messages", "MM": "messages", "PN": "numbers", "SC": "short-codes",
             "MG": "services"}  # fmt: skip
    if not sid or not is_sid(sid) or sid[:2] not in pages:
        return None
    return f"/console/{pages[sid[:2]]}/{sid}"


@dataclass(frozen=True, slots=True, kw_only=True)
class Shown:
    """One alert as the list shows it."""

    sid: str
    date: str
    level: str
    code: int
    kind: str
    text: str
    resource_sid: str | None
    resource_link: str | None
    service_sid: str | None


def _shown(alert: Alert) -> Shown:
    return Shown(
        sid=alert.sid, date=timestamps.iso8601(alert.date_created) or "", level=alert.log_level,
        code=alert.error_code, kind=kind_of(alert.error_code), text=alert.alert_text,
        resource_sid=alert.resource_sid, resource_link=link_of(alert.resource_sid),
        service_sid=alert.service_sid,
    )  # fmt: skip


def _codes(kind: str, code: str) -> tuple[int, int] | None:
    """The code range the kind and code filters leave (ValueError for a code that is not
    a number)."""
    span = next(((low, high) for key, _, low, high in KINDS if key == kind), None)
    if code:
        if not code.isascii() or not code.isdigit() or len(code) > 9:
            raise ValueError(f"The error code {code!r} is not a number")
        wanted = int(code)
        return (wanted, wanted) if span is None or span[0] <= wanted <= span[1] else NOTHING
    return span


def _where(filters: dict[str, str]) -> alert_search.AlertFilter:
    """The filters as the store takes them (ValueError, said for a person, if one is not)."""
    try:
        start = timestamps.parse_filter(filters["from"])[0] if filters["from"] else None
        end = timestamps.parse_filter(filters["to"])[1] if filters["to"] else None
    except ValueError:
        raise ValueError("Dates are YYYY-MM-DD") from None
    codes = _codes(filters["kind"], filters["code"])
    return alert_search.AlertFilter(
        log_level=filters["level"] if filters["level"] in LEVELS else None,
        codes=codes,
        resource_sid=filters["resource"] or None,
        created_from=start,
        created_before=end,
    )


@page
async def list_alerts(p: Page) -> Response:
    query = p.request.query_params
    filters = {name: query.get(name, "").replace("\x00", "").strip()[:64] for name in FILTERS}
    number = page_number(p.request)
    account = p.signed.account_sid
    found: list[Alert] = []
    error = ""
    try:
        where = _where(filters)
    except ValueError as exc:
        error = str(exc)
    else:
        found = await runtime_of(p.request).db.read(
            lambda conn: alert_search.find_alerts(
                conn, account, where, limit=PAGE_SIZE + 1, offset=number * PAGE_SIZE
            )
        )
    return p.render(
        "alerts.html", 400 if error else 200, section="alerts", title="Alerts",
        filters=filters, levels=LEVELS, kinds=KINDS, error=error,
        searched=any(filters.values()), alerts=[_shown(a) for a in found[:PAGE_SIZE]],
        pager=pager(p.request, number, len(found) > PAGE_SIZE),
    )  # fmt: skip


@page
async def show_alert(p: Page) -> Response:
    sid = p.request.path_params["sid"]
    answer = await p.api.get(f"/v1/Alerts/{sid}") if is_sid(sid, Prefix.ALERT) else None
    if answer is None or not answer.ok:
        return p.render("error.html", 404, title="Not found",
                        message="There is no such alert in this account.")  # fmt: skip
    alert: dict[str, Any] = answer.body
    code = int(alert["error_code"])
    return p.render(
        "alerts_alert.html", section="alerts", title=f"Alert {code}", alert=alert,
        kind=kind_of(code), resource_link=link_of(alert["resource_sid"]),
        service_link=link_of(alert["service_sid"]),
    )  # fmt: skip


def routes() -> list[BaseRoute]:
    return [
        Route("/console/alerts", list_alerts, methods=["GET"]),
        Route("/console/alerts/{sid}", show_alert, methods=["GET"]),
    ]
