"""The caller's own Account resource (`GET /2010-04-01/Accounts/{AC}.json`), which the
helper libraries use as a credentials check."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from herald.api import render
from herald.api.requests import account_of, json


async def fetch(request: Request) -> Response:
    return json(render.account(await account_of(request)))
