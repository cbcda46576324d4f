"""The links the MMS Converter sends instead of media (reference §12): `/m/{code}` leads to
the message's media for a year, without credentials, as Twilio's `p.twil.io` links do.

Two rules keep a link from being more than its media. Herald serves the media itself
(fetched through the webhook client, so the target policy applies) and never reveals its
URL, which may carry the sender's access token; several media are listed as
`/m/{code}/{n}`, each served the same way. And each client address may make only a few
requests a second (20429 with `Retry-After` beyond), found or not, so codes cannot be
guessed by the thousand. A failed fetch is a 502 with Twilio's error JSON (11200), never
the upstream's answer; what the upstream said goes to the log.
"""

from __future__ import annotations

import logging
import math
from html import escape

from sqlalchemy import select
from sqlalchemy.engine import Connection
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from herald.api.requests import not_found, runtime_of
from herald.domain import errors
from herald.runtime import Runtime
from herald.store import messages as message_store
from herald.store.schema import messages

log = logging.getLogger("herald.api")

LIFETIME_US = 365 * 86_400 * 1_000_000
# What the media may do in a browser on Herald's own address: nothing. A page served as
# media runs in a sandbox with no origin, so it cannot use the API as the reader.
SAFE_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; img-src 'self'; media-src 'self'; sandbox",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "private, max-age=3600",
}


def _media_of(conn: Connection, link: str, now: int) -> list[str] | None:
    m = messages.c
    row = conn.execute(
        select(m.sid, m.account_sid, m.date_created).where(m.mms_link == link)
    ).first()
    if row is None or now - row.date_created > LIFETIME_US:
        return None
    items = message_store.list_media(conn, row.account_sid, row.sid, limit=10, offset=0)
    return [item.url for item in items]


async def _urls(request: Request, runtime: Runtime) -> list[str]:
    """The link's media URLs: 20429 with `Retry-After` when the client has had its
    requests for this second, 20404 when the link is unknown or expired."""
    host = request.client.host if request.client else None
    wait_us = runtime.link_throttle.admit(host, runtime.clock.now_us())
    if wait_us:
        raise errors.TooManyRequests(
            "Too many requests for media links from this address.",
            retry_after_s=max(1, math.ceil(wait_us / 1e6)),
        )
    code = request.path_params["code"]
    link = runtime.settings.media_link(code)
    urls = await runtime.db.read(lambda conn: _media_of(conn, link, runtime.clock.now_us()))
    if not urls:
        raise not_found(f"/m/{code}")
    return urls


async def _serve(runtime: Runtime, url: str) -> Response:
    assert runtime.media is not None
    media = await runtime.media.fetch(url)  # 11200 when there is none
    return Response(media.body, media_type=media.content_type, headers=SAFE_HEADERS)


async def follow(request: Request) -> Response:
    """One media: the media itself. Several: a page listing `/m/{code}/{n}`."""
    runtime = runtime_of(request)
    urls = await _urls(request, runtime)
    if len(urls) == 1:
        return await _serve(runtime, urls[0])
    code = escape(request.path_params["code"])
    items = "".join(f'<li><a href="{code}/{n}">Media {n}</a></li>' for n in range(1, len(urls) + 1))
    page = f"<!doctype html><title>Media</title><ul>{items}</ul>"
    return HTMLResponse(page, headers=SAFE_HEADERS)


async def follow_one(request: Request) -> Response:
    """The link's `n`th media (from 1)."""
    runtime = runtime_of(request)
    urls = await _urls(request, runtime)
    n = request.path_params["n"]
    if not 1 <= n <= len(urls):
        raise not_found(f"/m/{request.path_params['code']}/{n}")
    return await _serve(runtime, urls[n - 1])


def routes() -> list[Route]:
    return [
        Route("/m/{code}", follow, methods=["GET"]),
        Route("/m/{code}/{n:int}", follow_one, methods=["GET"]),
    ]
