"""An MMS's media (reference §12). At the create Herald fetches every `MediaUrl` (the
webhook client: the target policy at every hop), refuses what Twilio refuses
(domain/media_types.py: 21620, 63019, 11751) and keeps a copy of each: in its database
row up to 64 KiB, else a file in HERALD_MEDIA_DIR named by its Media SID, written before
the message and removed again if the message is not stored. Only an MMS create waits
for this; an SMS create does none of it.

The Media subresource without `.json` serves that copy, with its type, to the account's
own credentials; so do the MMS Converter's links. The URL given stays the media's `url`
and is what the carrier is handed. A media without a copy (an inbound message's) is
fetched from its URL when asked for.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from starlette.requests import Request
from starlette.responses import Response

from herald.api.requests import account_of, not_found, runtime_of
from herald.domain import media_types
from herald.domain.message import Media
from herald.domain.outbound import Draft
from herald.domain.sids import Prefix
from herald.runtime import Runtime
from herald.store import media as media_store
from herald.store import messages as message_store

log = logging.getLogger("herald.api")

# What a media may do in a browser on Herald's own address: nothing. A page served as
# media runs in a sandbox with no origin, so it cannot use the API as the reader.
SAFE_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; img-src 'self'; media-src 'self'; sandbox",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "private, max-age=3600",
}


@dataclass(frozen=True, slots=True)
class Kept:
    """A create's media: their rows, the copies that go in them (by Media SID), and the
    Media SIDs whose copies are files."""

    items: Sequence[Media] = ()
    contents: Mapping[str, bytes] = field(default_factory=dict)
    files: Sequence[str] = ()


async def collect(runtime: Runtime, account_sid: str, draft: Draft, message_sid: str) -> Kept:
    """Fetch, judge and keep the media of a create whose sender may send them; raises the
    first refusal with nothing kept."""
    assert runtime.media is not None and runtime.media_files is not None
    urls = draft.media_urls
    fetched = await runtime.media.fetch_all(urls, max_total=media_types.MAX_TOTAL)
    types = media_types.judge(fetched, draft.body)
    now = runtime.clock.now_us()
    items = [
        Media(
            sid=runtime.new_sid(Prefix.MEDIA),
            account_sid=account_sid,
            message_sid=message_sid,
            content_type=media_type,
            url=item.url,
            # A microsecond apart, so listing them by date gives them in `MediaUrl` order.
            date_created=now + n,
            date_updated=now + n,
            size=len(item.body),
        )
        for n, (item, media_type) in enumerate(zip(fetched, types, strict=True))
    ]
    bodies = {media.sid: item.body for media, item in zip(items, fetched, strict=True)}
    small = {sid: body for sid, body in bodies.items() if len(body) <= media_store.INLINE_MAX}
    kept = Kept(items, small, [sid for sid in bodies if sid not in small])
    try:
        for sid in kept.files:
            await runtime.media_files.write(sid, bodies[sid])
    except BaseException:
        await discard(runtime, kept)
        raise
    return kept


async def discard(runtime: Runtime, kept: Kept) -> None:
    """Remove the files of a create whose message was not stored."""
    if kept.files:
        assert runtime.media_files is not None
        await runtime.media_files.remove(kept.files)


async def content_of(runtime: Runtime, item: Media) -> tuple[str, bytes]:
    """The media's type and bytes: its kept copy, else (no copy, or its file gone) what
    its URL serves now (11200 when nothing)."""
    assert runtime.media is not None and runtime.media_files is not None
    if item.size is not None:
        body = await runtime.db.read(lambda conn: media_store.content(conn, item.sid))
        if body is None:
            body = await runtime.media_files.read(item.sid)
        if body is not None:
            return item.content_type, body
        log.warning("media %s: its kept copy is missing; fetching its URL", item.sid)
    fetched = await runtime.media.fetch(item.url)
    return fetched.content_type, fetched.body


async def fetch_content(request: Request) -> Response:
    """`GET …/Messages/{sid}/Media/{media_sid}` without `.json`: the media itself, as an
    inbound message's `MediaUrl{N}` points at Twilio (§2.6)."""
    account = await account_of(request)
    runtime = runtime_of(request)
    sid, media_sid = request.path_params["sid"], request.path_params["media_sid"]
    item = await runtime.db.read(
        lambda conn: message_store.get_media(conn, account.sid, sid, media_sid)
    )
    if item is None:
        raise not_found(f"/Messages/{sid}/Media/{media_sid}")
    content_type, body = await content_of(runtime, item)
    return Response(body, media_type=content_type, headers=SAFE_HEADERS)
