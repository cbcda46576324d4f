"""Rendering a console page, and the decorator every signed-in page goes through: it
finds the session (else the sign-in page), checks a post's CSRF token (else 403), and
hands the page its `Inner` API, so a page is only what it shows and does."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

import jinja2
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from herald.api.console import session
from herald.api.console.inner import Inner
from herald.api.console.session import ForgedPost, SignedIn, SignInRequired
from herald.api.requests import form_of

TEMPLATES = Path(__file__).parent / "templates"
environment = jinja2.Environment(
    loader=jinja2.FileSystemLoader(TEMPLATES),
    autoescape=jinja2.select_autoescape(default=True),
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
NAV = (
    ("live", "Live", "/console/live"),
    ("messages", "Messages", "/console/messages"),
    ("send", "Send a test", "/console/send"),
    ("services", "Services", "/console/services"),
    ("numbers", "Numbers", "/console/numbers"),
    ("opt-outs", "Opt-outs", "/console/opt-outs"),
    ("alerts", "Alerts", "/console/alerts"),
)


class Page:
    """What a page handler gets: the request, the session, the API, and the posted form."""

    def __init__(self, request: Request, signed: SignedIn, form: Any) -> None:
        self.request = request
        self.signed = signed
        self.api = Inner(request, signed)
        self.form = form  # herald.api.forms.Form for a POST, else None

    def render(self, template: str, status: int = 200, **context: Any) -> HTMLResponse:
        return render(self.request, template, status, signed=self.signed, **context)

    def redirect(self, path: str, notice: str = "") -> RedirectResponse:
        path, hash_, fragment = path.partition("#")  # the notice goes before a #fragment
        target = path + (
            ("&" if "?" in path else "?") + "notice=" + quote(notice) if notice else ""
        )
        return RedirectResponse(target + hash_ + fragment, status_code=303)


def render(request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
    signed: SignedIn | None = context.pop("signed", None)
    html = environment.get_template(template).render(
        request=request, nav=NAV, signed=signed,
        csrf=signed.csrf if signed else "", account_sid=signed.account_sid if signed else "",
        notice=request.query_params.get("notice", ""), **context,
    )  # fmt: skip
    response = HTMLResponse(html, status_code=status)
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Content-Security-Policy"] = (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        "frame-ancestors 'none'; form-action 'self'"
    )
    response.headers["Referrer-Policy"] = "same-origin"
    return response


Handler = Callable[[Page], Awaitable[Response]]


def page(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    @functools.wraps(handler)
    async def endpoint(request: Request) -> Response:
        try:
            signed = await session.signed_in(request)
        except SignInRequired:
            ended = "Your session has ended. Sign in again."
            if request.url.path.endswith(".json"):  # the pages' own scripts read these
                return JSONResponse({"message": ended, "status": 401}, status_code=401)
            if request.method != "GET":
                return render(request, "error.html", 401, title="Signed out", message=ended)
            next_path = quote(
                request.url.path + ("?" + request.url.query if request.url.query else "")
            )
            return RedirectResponse(f"/console/sign-in?next={next_path}", status_code=303)
        form = None
        if request.method == "POST":
            form = await form_of(request)
            try:
                session.check_post(request, signed, form.get("csrf"))
            except ForgedPost:
                why = "This form was not sent from your console session."
                return render(request, "error.html", 403, signed=signed, title="Refused",
                              message=why)  # fmt: skip
        return await handler(Page(request, signed, form))

    return endpoint
