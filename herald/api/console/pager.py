"""Paging a console list by page number (`?page=`, or another key when a page shows two
lists): links to the previous and next pages keep the filters in the address, so a page
of results can be bookmarked and shared like Twilio's console lists."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request

PAGE_SIZE = 50
MAX_PAGE = 100_000  # far past any list; keeps the offset the API is asked for small


@dataclass(frozen=True, slots=True, kw_only=True)
class Pager:
    number: int  # from 0, as the API counts
    previous: str | None
    next: str | None


def page_number(request: Request, key: str = "page") -> int:
    raw = request.query_params.get(key, "")
    return min(int(raw), MAX_PAGE) if raw.isascii() and raw.isdigit() and len(raw) < 9 else 0


def has_more(body: Any) -> bool:
    """Whether an API list answer says there is a next page (2010 or v1 envelope)."""
    if not isinstance(body, dict):
        return False
    meta = body.get("meta")
    return bool(body.get("next_page_uri") or (isinstance(meta, dict) and meta.get("next_page_url")))


def pager(request: Request, number: int, more: bool, key: str = "page") -> Pager:
    def link(n: int) -> str:
        kept = [(k, v) for k, v in request.query_params.multi_items() if k not in (key, "notice")]
        params = kept + ([(key, str(n))] if n else [])
        return request.url.path + ("?" + urlencode(params) if params else "")

    return Pager(
        number=number,
        previous=link(number - 1) if number > 0 else None,
        next=link(number + 1) if more else None,
    )
