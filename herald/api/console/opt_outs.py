"""The opt-out ledger in the console: search it, remove an entry, export it, import one,
each through Herald's ledger API (`api/opt_out_ledger.py`), whose refusals show in place.
The exports are served at console addresses because the API's need Basic auth, which a
link cannot carry; an import's file is read into its textarea by `opt_outs.js`, so the
console takes a plain form (never multipart) and hands the text on as CSV or JSON."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import orjson
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from herald.api.console.pager import PAGE_SIZE, has_more, page_number, pager
from herald.api.console.pages import Page, page
from herald.api.requests import runtime_of
from herald.domain.numbers import NumberError, parse_number
from herald.domain.sids import Prefix, is_sid

FILTERS = ("PhoneNumber", "Sender", "MessagingServiceSid", "DateCreated>", "DateCreated<")
HOME = "/console/opt-outs"


def _ledger(p: Page, tail: str = ".json") -> str:
    return f"/herald/v1/Accounts/{p.signed.account_sid}/OptOuts{tail}"


def _as_number(raw: str) -> str:
    """A number typed as a person would ("(415) 555-0100" is read as NANP) in E.164, as
    the ledger stores it; anything else (a short code, a partial number) as typed."""
    try:
        return parse_number(raw, default_region="US").e164
    except NumberError:
        return raw


async def _page(p: Page, status: int = 200, text: str = "", error: str = "") -> Response:
    query = p.request.query_params
    filters = {name: query.get(name, "").strip() for name in FILTERS}
    wanted = {k: _as_number(v) if k in ("PhoneNumber", "Sender") else v
              for k, v in filters.items() if v}  # fmt: skip
    number = page_number(p.request)
    answer = await p.api.get(
        _ledger(p), {**wanted, "PageSize": str(PAGE_SIZE), "Page": str(number)}
    )
    return p.render(
        "opt_outs.html", status, section="opt-outs", title="Opt-outs", filters=filters,
        searched=bool(wanted), entries=answer.body["opt_outs"] if answer.ok else [],
        list_error="" if answer.ok else answer.error,
        pager=pager(p.request, number, has_more(answer.body)),
        back=_here(p),
        import_text=text, import_error=error,
        max_body=runtime_of(p.request).settings.max_body_bytes,
    )  # fmt: skip


def _here(p: Page) -> str:
    """This page's address with its search, less a notice: where a removal returns to."""
    kept = [(k, v) for k, v in p.request.query_params.multi_items() if k != "notice"]
    return HOME + ("?" + urlencode(kept) if kept else "")


@page
async def ledger(p: Page) -> Response:
    return await _page(p)


@page
async def remove(p: Page) -> Response:
    sid = p.request.path_params["sid"]
    back = p.form.get("back") or HOME
    if back != HOME and not back.startswith(HOME + "?"):
        back = HOME
    if not is_sid(sid, Prefix.OPT_OUT):
        return _missing(p)
    entry = await p.api.get(_ledger(p, f"/{sid}.json"))
    answer = await p.api.delete(_ledger(p, f"/{sid}.json")) if entry.ok else entry
    if not answer.ok:
        return _missing(p)
    number = entry.body["phone_number"]
    return p.redirect(back, f"Removed the opt-out of {number}: it may be sent to again.")


def _missing(p: Page) -> Response:
    return p.render("error.html", 404, title="Not found",
                    message="There is no such opt-out in this account's ledger.")  # fmt: skip


def _kind(text: str) -> str:
    """JSON if the text opens as JSON does (a list or an object), else CSV: a CSV ledger
    opens with its header row, which names `phone_number`."""
    return "application/json" if text.lstrip()[:1] in ("[", "{") else "text/csv"


@page
async def import_(p: Page) -> Response:
    text = p.form.get("Import") or ""
    answer = await p.api.call(
        "POST", _ledger(p, "/Import"), body=text.encode(), content_type=_kind(text)
    )
    if not answer.ok:
        return await _page(p, 400, text, answer.error)
    scopes = ", ".join(f"{kind}: {n}" for kind, n in sorted(answer.body["by_scope"].items()))
    count = answer.body["imported"]
    noun = "entry" if count == 1 else "entries"
    return p.redirect(HOME, f"Imported {count} {noun}" + (f" ({scopes})." if scopes else "."))


def _download(content: bytes, media_type: str, filename: str) -> Response:
    return Response(
        content,
        media_type=media_type,
        headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
        },
    )


@page
async def export_csv(p: Page) -> Response:
    answer = await p.api.get(_ledger(p, "/Export.csv"))
    if not answer.ok or not isinstance(answer.body, str):
        return _failed(p, answer.status, answer.error)
    name = f"opt-outs-{p.signed.account_sid}.csv"
    return _download(answer.body.encode(), "text/csv; charset=utf-8", name)


@page
async def export_json(p: Page) -> Response:
    answer = await p.api.get(_ledger(p, "/Export.json"))
    if not answer.ok:
        return _failed(p, answer.status, answer.error)
    name = f"opt-outs-{p.signed.account_sid}.json"
    return _download(orjson.dumps(answer.body), "application/json", name)


def _failed(p: Page, status: int, error: Any) -> Response:
    return p.render("error.html", status if status >= 400 else 500,
                    title="Export failed", message=str(error))  # fmt: skip


def routes() -> list[BaseRoute]:
    return [
        Route(HOME, ledger, methods=["GET"]),
        Route(f"{HOME}/export.csv", export_csv, methods=["GET"]),
        Route(f"{HOME}/export.json", export_json, methods=["GET"]),
        Route(f"{HOME}/import", import_, methods=["POST"]),
        Route(f"{HOME}/{{sid}}/delete", remove, methods=["POST"]),
    ]
