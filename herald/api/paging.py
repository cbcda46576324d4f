"""Twilio's 2010 paging envelope (§2.4): relative URIs that echo the caller's filters,
then `PageSize` and `Page`, then `PageToken` on the next and previous links.

The helper library finds the records as the one key that is not an envelope key, so
the envelope carries nothing else.

A `PageToken` is `PA` (next page) or `PB` (previous page) and the key of a record of the
list (a SID, a dead letter's id, a mapping's number). Every list refuses, with 20001,
one that is malformed or that names no record of the caller's list (`check_token`):
an unknown token is an error, never an empty page.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from herald.api.forms import Form
from herald.domain import errors

MAX_PAGE_SIZE = 1000
DEFAULT_PAGE_SIZE = 50
MAX_PAGE = 10_000_000  # keeps the offset a 64-bit integer
_TOKEN = re.compile(r"P[AB][A-Za-z0-9+]{1,34}")


@dataclass(frozen=True, slots=True, kw_only=True)
class PageRequest:
    size: int
    number: int
    token: str | None

    @property
    def offset(self) -> int:
        return self.size * self.number

    @property
    def after_sid(self) -> str | None:
        return self.token[2:] if self.token and self.token.startswith("PA") else None

    @property
    def before_sid(self) -> str | None:
        return self.token[2:] if self.token and self.token.startswith("PB") else None


def page_request(query: Form) -> PageRequest:
    size = query.integer("PageSize")
    number = query.integer("Page")
    if size is None:
        size = DEFAULT_PAGE_SIZE
    if not 1 <= size <= MAX_PAGE_SIZE:
        raise errors.InvalidParameter(f"PageSize must be from 1 to {MAX_PAGE_SIZE}")
    if number is None:
        number = 0
    if not 0 <= number <= MAX_PAGE:
        raise errors.InvalidParameter(f"Page must be from 0 to {MAX_PAGE}")
    token = query.get("PageToken") or None
    if token is not None and not _TOKEN.fullmatch(token):
        raise invalid_token(token)
    return PageRequest(size=size, number=number, token=token)


def invalid_token(token: str) -> errors.InvalidParameter:
    return errors.InvalidParameter(f"PageToken {token!r} is not a valid page token")


def check_token(page: PageRequest, find: Callable[[str], object | None]) -> None:
    """Refuse the page's token unless `find` — a lookup in the caller's list, run in the
    list's own read — finds the record it names."""
    if page.token is not None and find(page.token[2:]) is None:
        raise invalid_token(page.token)


def envelope(
    key: str,
    records: list[dict[str, Any]],
    path: str,
    filters: list[tuple[str, str]],
    page: PageRequest,
    *,
    next_token: str | None,
    previous_token: str | None,
) -> dict[str, Any]:
    def link(number: int, token: str | None = None) -> str:
        params = [*filters, ("PageSize", str(page.size)), ("Page", str(number))]
        if token:
            params.append(("PageToken", token))
        return f"{path}?{urlencode(params)}"

    start = page.offset
    return {
        key: records,
        "end": start + len(records) - 1 if records else 0,
        "first_page_uri": link(0),
        "next_page_uri": link(page.number + 1, next_token) if next_token else None,
        "page": page.number,
        "page_size": page.size,
        "previous_page_uri": (
            link(page.number - 1, previous_token) if previous_token and page.number > 0 else None
        ),
        "start": start,
        "uri": link(page.number, page.token),
    }


def offset_envelope(
    key: str,
    records: list[dict[str, Any]],
    has_more: bool,
    path: str,
    filters: list[tuple[str, str]],
    page: PageRequest,
) -> dict[str, Any]:
    """The envelope for lists paged by offset (small collections)."""
    next_token = f"PA{records[-1]['sid']}" if has_more and records else None
    previous_token = f"PB{records[0]['sid']}" if page.number > 0 and records else None
    return envelope(
        key, records, path, filters, page, next_token=next_token, previous_token=previous_token
    )
