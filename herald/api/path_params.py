"""Path parameters are checked for shape before any handler runs, for every route at
once (`guard`): a value that cannot name a resource is answered 20404 without reaching
the database, where it might not fit (issue 10: a 23-digit dead letter id overflowed
PostgreSQL's bigint, and `"²".isdigit()` is true).

A parameter named like a SID must be two capital letters and 32 hex digits (§1.3); an
`id` is a decimal number of at most 18 ASCII digits; anything else is at most
`MAX_LENGTH` characters (a phone number, a media link's code).
"""

from __future__ import annotations

import re
from collections.abc import Callable

from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from herald.api.errors import error_response
from herald.domain import errors
from herald.domain.sids import is_sid

MAX_LENGTH = 64
_ID = re.compile(r"[0-9]{1,18}")  # inside a signed 64-bit integer


def fits(name: str, value: str) -> bool:
    return _check_for(name)(str(value))


def _check_for(name: str) -> Callable[[str], bool]:
    """The shape check of the parameter called `name`."""
    if name == "sid" or name.endswith("_sid"):
        return is_sid
    if name == "id":
        return lambda value: _ID.fullmatch(value) is not None
    return lambda value: len(value) <= MAX_LENGTH


def guard(routes: list[BaseRoute]) -> list[BaseRoute]:
    """The routes, each refusing a malformed path parameter before its handler runs."""
    for route in routes:
        if isinstance(route, Route) and route.param_convertors:
            route.app = _guarded(route.app, tuple(route.param_convertors))
    return routes


def _guarded(app: ASGIApp, names: tuple[str, ...]) -> ASGIApp:
    checks = tuple((name, _check_for(name)) for name in names)  # once a route, not a request

    async def checked(scope: Scope, receive: Receive, send: Send) -> None:
        params = scope["path_params"]
        for name, check in checks:
            if not check(str(params[name])):
                path = scope["path"]
                shown = path if len(path) <= 100 else f"{path[:100]}…"
                refusal = errors.NotFound(f"The requested resource {shown} was not found")
                await error_response(refusal)(scope, receive, send)
                return
        await app(scope, receive, send)

    return checked
