"""The copies of outbound media Herald keeps (fetched at the create, reference §12): a
small one in the `media` row itself, a larger one as a file (`media_files`). This module
reads the one and names the other; the rows themselves are `messages`'."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.engine import Connection

from herald.store.schema import media

INLINE_MAX = 64 * 1024  # a copy up to this size is kept in the database


def content(conn: Connection, sid: str) -> bytes | None:
    """The bytes kept in the database for this media; None when there are none (a copy
    kept as a file, or no copy)."""
    row = conn.execute(select(media.c.content).where(media.c.sid == sid)).first()
    return None if row is None or row.content is None else bytes(row.content)


def kept_as_files(conn: Connection, message_sid: str, sid: str | None = None) -> list[str]:
    """The SIDs of a message's media (or of one of them) whose copy is a file: what is to
    be removed from the media directory once their rows are deleted."""
    query = select(media.c.sid).where(
        media.c.message_sid == message_sid,
        media.c.size.is_not(None),
        media.c.content.is_(None),
    )
    if sid is not None:
        query = query.where(media.c.sid == sid)
    return [row.sid for row in conn.execute(query)]
