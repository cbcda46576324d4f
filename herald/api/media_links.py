"""The links the MMS Converter sends instead of media (reference §12): `/m/{code}` leads to
the message's media for a year, without credentials, as Twilio's `p.twil.io` links do."""

from __future__ import annotations

from html import escape

from sqlalchemy import select
from sqlalchemy.engine import Connection
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from herald.api.requests import not_found, runtime_of
from herald.store import messages as message_store
from herald.store.schema import messages

LIFETIME_US = 365 * 86_400 * 1_000_000


def _media_of(conn: Connection, link: str, now: int) -> list[str] | None:
    m = messages.c
    row = conn.execute(
        select(m.sid, m.account_sid, m.date_created).where(m.mms_link == link)
    ).first()
    if row is None or now - row.date_created > LIFETIME_US:
        return None
    items = message_store.list_media(conn, row.account_sid, row.sid, limit=10, offset=0)
    return [item.url for item in items]


async def follow(request: Request) -> Response:
    runtime = runtime_of(request)
    link = runtime.settings.media_link(request.path_params["code"])
    urls = await runtime.db.read(lambda conn: _media_of(conn, link, runtime.clock.now_us()))
    if not urls:
        raise not_found(f"/m/{request.path_params['code']}")
    if len(urls) == 1:
        return RedirectResponse(urls[0], status_code=302)
    items = "".join(f'<li><a href="{escape(url)}">{escape(url)}</a></li>' for url in urls)
    return HTMLResponse(f"<!doctype html><title>Media</title><ul>{items}</ul>")


def routes() -> list[Route]:
    return [Route("/m/{code}", follow, methods=["GET"])]
