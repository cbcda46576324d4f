"""The links the MMS Converter sends instead of media (reference §12): `/m/{code}` leads to
the message's media for a year, without credentials, as Twilio's `p.twil.io` links do.

Two rules keep a link from being more than its media. Herald serves the media itself
(the copy kept at the create; without one, fetched through the webhook client, so the
target policy applies) and never reveals its URL, which may carry the sender's access
token; several media are listed as `/m/{code}/{n}`, each served the same way. And each
client address may make only a few requests a second (20429 with `Retry-After` beyond),
found or not, so codes cannot be guessed by the thousand. A failed fetch is a 502 with
Twilio's error JSON (11200), never the upstream's answer; what the upstream said goes to
the log.
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

from herald.api.mms import SAFE_HEADERS, content_of
from herald.api.requests import not_found, runtime_of
from herald.domain import errors
from herald.domain.message import Media
from herald.runtime import Runtime
from herald.store import messages as message_store
from herald.store.schema import messages

log = logging.getLogger("herald.api")

LIFETIME_US = 365 * 86_400 * 1_000_000


def _media_of(conn: Connection, link: str, now: int) -> list[Media] | None:
    m = messages.c
    row = conn.execute(
        select(m.sid, m.account_sid, m.date_created).where(m.mms_link == link)
    ).first()
    if row is None or now - row.date_created > LIFETIME_US:
        return None
    return message_store.list_media(conn, row.account_sid, row.sid, limit=10, offset=0)


async def _items(request: Request, runtime: Runtime) -> list[Media]:
    """The link's media: 20429 with `Retry-After` when the client has had its
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
    items = await runtime.db.read(lambda conn: _media_of(conn, link, runtime.clock.now_us()))
    if not items:
        raise not_found(f"/m/{code}")
    return items


async def _serve(runtime: Runtime, item: Media) -> Response:
    content_type, body = await content_of(runtime, item)  # 11200 when there is none
    return Response(body, media_type=content_type, headers=SAFE_HEADERS)


async def follow(request: Request) -> Response:
    """One media: the media itself. Several: a page listing `/m/{code}/{n}`."""
    runtime = runtime_of(request)
    items = await _items(request, runtime)
    if len(items) == 1:
        return await _serve(runtime, items[0])
    code = escape(request.path_params["code"])
    listed = "".join(
        f'<li><a href="{code}/{n}">Media {n}</a></li>' for n in range(1, len(items) + 1)
    )
    page = f"<!doctype html><title>Media</title><ul>{listed}</ul>"
    return HTMLResponse(page, headers=SAFE_HEADERS)


async def follow_one(request: Request) -> Response:
    """The link's `n`th media (from 1)."""
    runtime = runtime_of(request)
    items = await _items(request, runtime)
    n = request.path_params["n"]
    if not 1 <= n <= len(items):
        raise not_found(f"/m/{request.path_params['code']}/{n}")
    return await _serve(runtime, items[n - 1])


def routes() -> list[Route]:
    return [
        Route("/m/{code}", follow, methods=["GET"]),
        Route("/m/{code}/{n:int}", follow_one, methods=["GET"]),
    ]
