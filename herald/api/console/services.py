"""Messaging Services in the console, laid out as Twilio's console lays a service out:
Properties, Sender Pool (with its sender selection settings), Integration, Content
settings, Compliance and Opt-Out management. Every change is a request to the REST API
(`/v1/Services…`, its `PhoneNumbers`, `ShortCodes`, `AlphaSenders` and `OptOut`) as the
signed-in account, so its checks and messages are the API's, shown beside the form that
caused them (`service_page.Refusal`)."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from herald.api.console.pager import has_more, page_number, pager
from herald.api.console.pages import Page, page
from herald.api.console.service_page import (
    BOOLEAN_FIELDS,
    OPT_OUT_KEYWORDS,
    OPT_OUT_LISTS,
    OPT_OUT_REPLIES,
    PARTS,
    POOL,
    SERVICE_SID,
    SERVICES,
    Part,
    Refusal,
    missing,
    service_path,
    show_service,
    when,
)
from herald.api.requests import runtime_of
from herald.store import pools

PAGE_SIZE = 50


# What each add-a-sender form posts to the pool, by the kind it adds.
ADD_PARAMS = {
    "phone_number": ("PhoneNumberSid",),
    "short_code": ("ShortCodeSid",),
    "alpha_sender": ("AlphaSender", "RegisteredIn"),
}
ADDED = {"phone_number": "Number added.", "short_code": "Short code added.",
         "alpha_sender": "Sender ID added."}  # fmt: skip


# The list and the create form


async def _list(p: Page, status: int = 200, error: str = "", name: str = "") -> Response:
    number = page_number(p.request)
    answer = await p.api.get(SERVICES, {"PageSize": str(PAGE_SIZE), "Page": str(number)})
    if not answer.ok:
        return p.render("error.html", answer.status, title="Services", message=answer.error)
    found = answer.body["services"]
    sids = [s["sid"] for s in found]
    account_sid = p.signed.account_sid
    sizes = await runtime_of(p.request).db.read(
        lambda conn: pools.pool_sizes(conn, account_sid, sids)
    )
    rows = [
        {"sid": s["sid"], "name": s["friendly_name"], "senders": sizes.get(s["sid"], 0),
         "created": when(s["date_created"])}
        for s in found
    ]  # fmt: skip
    return p.render(
        "services.html", status, section="services", title="Messaging Services",
        services=rows, pager=pager(p.request, number, has_more(answer.body)),
        error=error, friendly_name=name,
    )  # fmt: skip


@page
async def list_services(p: Page) -> Response:
    return await _list(p)


@page
async def create(p: Page) -> Response:
    name = p.form.get("FriendlyName") or ""
    answer = await p.api.post(SERVICES, {"FriendlyName": name})
    if not answer.ok:
        return await _list(p, 400, answer.error, name)
    sid = answer.body["sid"]
    return p.redirect(f"/console/services/{sid}", notice=f"Service “{name}” created.")


# One service: its settings, and deleting it


@page
async def show(p: Page) -> Response:
    return await show_service(p)


def _forwarded(form: Any, part: Part) -> list[tuple[str, str]]:
    """The part's parameters from the posted form (never its csrf or anything else)."""
    pairs = [(name, form.get(name) or "") for name in part.fields if name in form]
    pairs += [(name, "true" if form.get(name) else "false") for name in part.flags]
    return pairs


@page
async def save(p: Page) -> Response:
    sid = p.request.path_params["sid"]
    name = p.form.get("part") or ""
    part = PARTS.get(name)
    if not SERVICE_SID.fullmatch(sid) or part is None:
        return missing(p)
    pairs = _forwarded(p.form, part)
    answer = await p.api.post(service_path(sid), pairs)
    if not answer.ok:
        booleans = BOOLEAN_FIELDS | set(part.flags)
        typed = {k: (v == "true" if k in booleans else v) for k, v in pairs}
        return await show_service(p, 400, Refusal(part=name, error=answer.error, typed=typed))
    return p.redirect(f"/console/services/{sid}#{name}", notice="Settings saved.")


@page
async def delete(p: Page) -> Response:
    sid = p.request.path_params["sid"]
    if not SERVICE_SID.fullmatch(sid):
        return missing(p)
    answer = await p.api.delete(service_path(sid))
    if answer.status == 404:
        return missing(p)
    if not answer.ok:
        return await show_service(p, 400, Refusal(part="delete", error=answer.error))
    return p.redirect("/console/services", notice="Service deleted.")


# The sender pool


@page
async def add_sender(p: Page) -> Response:
    sid = p.request.path_params["sid"]
    kind = p.form.get("kind") or ""
    if not SERVICE_SID.fullmatch(sid) or kind not in ADD_PARAMS:
        return missing(p)
    pairs = [(k, v) for k, v in p.form.items() if k in ADD_PARAMS[kind]]
    segment, _, _ = POOL[kind]
    answer = await p.api.post(service_path(sid, f"/{segment}"), pairs)
    if not answer.ok:
        refused = Refusal(part=f"pool-{kind}", error=answer.error, typed=dict(pairs))
        return await show_service(p, 400, refused)
    return p.redirect(f"/console/services/{sid}#sender-pool", notice=ADDED[kind])


@page
async def remove_sender(p: Page) -> Response:
    sid = p.request.path_params["sid"]
    sender = p.request.path_params["sender"]
    kind = next((k for k, (_, _, shape) in POOL.items() if shape.fullmatch(sender)), None)
    if not SERVICE_SID.fullmatch(sid) or kind is None:
        return missing(p)
    segment, _, _ = POOL[kind]
    answer = await p.api.delete(service_path(sid, f"/{segment}/{sender}"))
    if not answer.ok:
        return await show_service(p, 400, Refusal(part="pool", error=answer.error))
    return p.redirect(f"/console/services/{sid}#sender-pool", notice="Sender removed.")


# Advanced Opt-Out


@page
async def save_opt_out(p: Page) -> Response:
    sid = p.request.path_params["sid"]
    if not SERVICE_SID.fullmatch(sid):
        return missing(p)
    form = p.form
    pairs = [("Enabled", "true" if form.get("Enabled") else "false")]
    pairs += [(k, form.get(k) or "") for k in (*OPT_OUT_KEYWORDS, *OPT_OUT_REPLIES)]
    pairs += [(k, (form.get(k) or "").strip() or "[]") for k in OPT_OUT_LISTS]
    answer = await p.api.post(service_path(sid, "/OptOut"), pairs)
    if not answer.ok:
        typed: dict[str, Any] = {k: form.get(k) or "" for k, _ in pairs}
        typed["Enabled"] = pairs[0][1] == "true"
        refused = Refusal(part="opt-out", error=answer.error, typed=typed)
        return await show_service(p, 400, refused)
    return p.redirect(f"/console/services/{sid}#opt-out", notice="Advanced Opt-Out saved.")


def routes() -> list[BaseRoute]:
    one = "/console/services/{sid}"
    return [
        Route("/console/services", list_services, methods=["GET"]),
        Route("/console/services", create, methods=["POST"]),
        Route(one, show, methods=["GET"]),
        Route(f"{one}/settings", save, methods=["POST"]),
        Route(f"{one}/delete", delete, methods=["POST"]),
        Route(f"{one}/senders", add_sender, methods=["POST"]),
        Route(f"{one}/senders/{{sender}}/remove", remove_sender, methods=["POST"]),
        Route(f"{one}/opt-out", save_opt_out, methods=["POST"]),
    ]
