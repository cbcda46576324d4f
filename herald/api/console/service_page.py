"""What one Messaging Service's console page shows: its settings, its sender pool with
the senders it could still take, and its Advanced Opt-Out; after a refused post, the
API's message in the form that was posted, with what the user had typed kept there.
The pool and the settings come from the REST API; which numbers and short codes are in
no service yet (the only ones a pool takes) from `herald.store.pools`."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.engine import Connection
from starlette.responses import Response

from herald.api.console.pages import Page
from herald.api.requests import runtime_of
from herald.domain.services import SCAN_CHOICES, USECASES
from herald.store import pools

SERVICES = "/v1/Services"
SERVICE_SID = re.compile(r"MG[0-9a-f]{32}")
# A pool's kinds: the API's subresource, its list's key, and the SID of its senders.
POOL = {
    "phone_number": ("PhoneNumbers", "phone_numbers", re.compile(r"PN[0-9a-f]{32}")),
    "short_code": ("ShortCodes", "short_codes", re.compile(r"SC[0-9a-f]{32}")),
    "alpha_sender": ("AlphaSenders", "alpha_senders", re.compile(r"AI[0-9a-f]{32}")),
}
MAX_POOL_LIST = 1000  # the API's largest page: a pool holds 400 numbers and short codes
MAX_CHOICES = 1000  # unpooled numbers (and short codes) offered to add
OPT_OUT_KEYWORDS = ("OptOutKeywords", "OptInKeywords", "HelpKeywords")
OPT_OUT_REPLIES = ("OptOutReply", "OptInReply", "HelpReply")
OPT_OUT_LISTS = ("Languages", "Countries")
BOOLEAN_FIELDS = frozenset({"UseInboundWebhookOnNumber"})  # a radio: true or false
_CAPITAL = re.compile(r"(?<!^)(?=[A-Z])")


@dataclass(frozen=True, slots=True)
class Part:
    """One settings form of a service's page: the parameters it posts as typed, and its
    checkboxes, sent as true or false whether ticked or not (a browser sends an unticked
    box not at all, and the API keeps a parameter it is not given)."""

    fields: tuple[str, ...] = ()
    flags: tuple[str, ...] = ()


PARTS = {
    "properties": Part(fields=("FriendlyName", "Usecase")),
    "sender-selection": Part(flags=("StickySender", "AreaCodeGeomatch", "FallbackToLongCode")),
    "integration": Part(
        fields=(
            "UseInboundWebhookOnNumber",
            "InboundRequestUrl",
            "InboundMethod",
            "FallbackUrl",
            "FallbackMethod",
            "StatusCallback",
            "ValidityPeriod",
        ),
    ),
    "content": Part(flags=("SmartEncoding", "MmsConverter")),
    "compliance": Part(
        fields=("ScanMessageContent",), flags=("SynchronousValidation", "SkipUnregisteredAlpha")
    ),
}


@dataclass(frozen=True, slots=True, kw_only=True)
class Refusal:
    """A post the API refused: the form it came from (the page shows `error` there),
    and what the user had typed, kept in that form."""

    part: str
    error: str
    typed: dict[str, Any] = field(default_factory=dict)


def snake(param: str) -> str:
    """A Twilio parameter's name as the API's JSON spells it (`InboundRequestUrl` →
    `inbound_request_url`)."""
    return _CAPITAL.sub("_", param).lower()


def when(iso: str | None) -> str:
    """`2024-05-01T12:00:00Z` as `2024-05-01 12:00 UTC`."""
    return f"{iso[:10]} {iso[11:16]} UTC" if iso else ""


def service_path(sid: str, tail: str = "") -> str:
    return f"{SERVICES}/{sid}{tail}"


def missing(p: Page) -> Response:
    return p.render("error.html", 404, title="No such service",
                    message="This account has no such Messaging Service.")  # fmt: skip


def opt_out_view(body: dict[str, Any]) -> dict[str, Any]:
    """Advanced Opt-Out as its form shows it, by parameter: keywords comma-separated,
    language sets and country overrides as JSON (empty when there are none)."""
    lists = {p: body.get(snake(p)) or [] for p in OPT_OUT_LISTS}
    return {
        "Enabled": bool(body.get("enabled")),
        **{p: ", ".join(body.get(snake(p)) or []) for p in OPT_OUT_KEYWORDS},
        **{p: body.get(snake(p)) or "" for p in OPT_OUT_REPLIES},
        **{p: json.dumps(v, indent=2, ensure_ascii=False) if v else "" for p, v in lists.items()},
    }


async def pool_of(p: Page, sid: str) -> dict[str, Any]:
    """The pool's senders by kind (the API's records), and the account's numbers and
    short codes in no service, to choose from."""
    found: dict[str, Any] = {}
    for kind, (segment, key, _) in POOL.items():
        answer = await p.api.get(service_path(sid, f"/{segment}"), {"PageSize": str(MAX_POOL_LIST)})
        found[kind] = answer.body[key] if answer.ok else []
    account_sid = p.signed.account_sid

    def read(conn: Connection) -> tuple[list[pools.Unpooled], list[pools.Unpooled]]:
        return (
            pools.unpooled_numbers(conn, account_sid, limit=MAX_CHOICES),
            pools.unpooled_short_codes(conn, account_sid, limit=MAX_CHOICES),
        )

    found["free_numbers"], found["free_short_codes"] = await runtime_of(p.request).db.read(read)
    return found


def _overlaid(
    service: dict[str, Any], opt_out: dict[str, Any], refused: Refusal | None
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """The settings, the opt-out form and the pool's drafts, with a refused post's typing."""
    values, view = dict(service), opt_out_view(opt_out)
    if refused is None:
        return values, view, {}
    if refused.part in PARTS:
        values.update({snake(k): v for k, v in refused.typed.items()})
    elif refused.part == "opt-out":
        view.update(refused.typed)
    return values, view, refused.typed if refused.part.startswith("pool") else {}


async def show_service(p: Page, status: int = 200, refused: Refusal | None = None) -> Response:
    """The service's page (a foreign or unknown service: the 404 page)."""
    sid = p.request.path_params["sid"]
    if not SERVICE_SID.fullmatch(sid):
        return missing(p)
    answer = await p.api.get(service_path(sid))
    if answer.status == 404:
        return missing(p)
    if not answer.ok:
        return p.render("error.html", answer.status, title="Service", message=answer.error)
    opt_out = await p.api.get(service_path(sid, "/OptOut"))
    values, view, drafts = _overlaid(answer.body, opt_out.body if opt_out.ok else {}, refused)
    return p.render(
        "services_page.html", status, section="services", title=answer.body["friendly_name"],
        service=answer.body, values=values, opt_out=view, drafts=drafts,
        pool=await pool_of(p, sid), created=when(answer.body["date_created"]),
        refused_part=refused.part if refused else "", error=refused.error if refused else "",
        usecases=USECASES, scan_choices=SCAN_CHOICES,
    )  # fmt: skip
