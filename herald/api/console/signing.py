"""The sign-in form ("Account SID", "Auth Token", "Sign in"; an API key's SID and secret
work too) and sign-out. A refused sign-in says only that the credentials are wrong."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from herald.api.console import session
from herald.api.console.pages import Page, page, render
from herald.api.requests import form_of
from herald.domain import errors


def _next(raw: str | None) -> str:
    """Where to go after sign-in: a console path only (never another site)."""
    if raw and raw.startswith("/console/") and not raw.startswith("/console//"):
        return raw
    return "/console/live"


async def sign_in_form(request: Request) -> Response:
    return render(request, "sign_in.html", next=_next(request.query_params.get("next")),
                  error="", username="")  # fmt: skip


async def sign_in(request: Request) -> Response:
    form = await form_of(request)
    username = (form.get("AccountSid") or "").strip()
    password = form.get("AuthToken") or ""
    target = _next(form.get("next"))
    origin = request.headers.get("origin")
    if origin is not None and origin != f"{request.url.scheme}://{request.url.netloc}":
        return render(request, "error.html", 403, title="Refused",
                      message="Sign in from the console's own page.")  # fmt: skip
    try:
        token, _signed = await session.sign_in(request, username, password)
    except errors.TwilioError:
        return render(request, "sign_in.html", 401, next=target, username=username,
                      error="The Account SID or Auth Token is not right.")  # fmt: skip
    response = RedirectResponse(target, status_code=303)
    session.set_cookie(request, response, token)
    return response


@page
async def sign_out(p: Page) -> Response:
    await session.sign_out(p.request)
    response = RedirectResponse("/console/sign-in", status_code=303)
    session.clear_cookie(response)
    return response


async def home(_request: Request) -> Response:
    return RedirectResponse("/console/live", status_code=303)
