"""The Messaging v1 paging envelope (reference §4.3): the records under their key and a
`meta` object whose URLs are absolute.

The helper libraries follow `meta.next_page_url` verbatim, so every URL names Herald's
own address: `HERALD_PUBLIC_URL` when set (behind a proxy), else the request's own
scheme, host and port. The query parameters and their limits are the 2010 API's.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request

from herald.api import paging
from herald.api.forms import Form
from herald.api.paging import PageRequest
from herald.api.requests import runtime_of
from herald.domain import errors

MAX_OFFSET = 10**12  # far beyond any list, and inside the databases' 64-bit OFFSET


def page_request(query: Form) -> PageRequest:
    """`PageSize` (1–1000, default 50), `Page` and `PageToken`, as the 2010 API has them;
    a page past any list is refused with 20001 rather than sent to the database."""
    page = paging.page_request(query)
    if page.offset > MAX_OFFSET:
        raise errors.InvalidParameter(f"Page {page.number} is too large")
    return page


def base_url(request: Request) -> str:
    """Herald's address as clients reach it, without a trailing slash."""
    public = runtime_of(request).settings.public_url
    if public:
        return public.rstrip("/")
    return f"{request.url.scheme}://{request.url.netloc}"


def envelope(
    request: Request,
    key: str,
    records: list[dict[str, Any]],
    page: PageRequest,
    *,
    has_more: bool,
    token_key: str = "sid",
) -> dict[str, Any]:
    """A page of a list paged by offset: `Page` and `PageSize` choose the records; the
    `PageToken` in the links (`PA`/`PB` and a SID, as Twilio writes them) is a courtesy."""
    path = f"{base_url(request)}{request.url.path}"

    def link(number: int, token: str | None = None) -> str:
        params = [("PageSize", str(page.size)), ("Page", str(number))]
        if token:
            params.append(("PageToken", token))
        return f"{path}?{urlencode(params)}"

    next_url = (
        link(page.number + 1, f"PA{records[-1][token_key]}") if has_more and records else None
    )
    previous_url = None
    if page.number > 0:
        previous_url = link(page.number - 1, f"PB{records[0][token_key]}" if records else None)
    return {
        key: records,
        "meta": {
            "page": page.number,
            "page_size": page.size,
            "first_page_url": link(0),
            "previous_page_url": previous_url,
            "url": link(page.number, page.token),
            "next_page_url": next_url,
            "key": key,
        },
    }
