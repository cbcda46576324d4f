"""API keys (2010 `Keys.json`): an `SK…` SID and a secret usable instead of the Auth
Token. The secret is returned once, at creation; Herald keeps only its hash."""

from __future__ import annotations

from sqlalchemy.engine import Connection
from starlette.requests import Request
from starlette.responses import Response

from herald.api import render
from herald.api.paging import check_token, offset_envelope, page_request
from herald.api.requests import (
    account_of,
    delete_owned,
    fetch_owned,
    form_of,
    json,
    not_found,
    query_of,
    runtime_of,
)
from herald.domain import errors
from herald.domain.accounts import ApiKey
from herald.provisioning import new_key
from herald.store import accounts as store

MAX_NAME = 64


def _friendly_name(value: str | None) -> str:
    name = value or ""
    if len(name) > MAX_NAME:
        raise errors.InvalidParameter(f"FriendlyName must be at most {MAX_NAME} characters")
    return name


async def create(request: Request) -> Response:
    account = await account_of(request)
    form = await form_of(request)
    runtime = runtime_of(request)
    key, secret = new_key(runtime, account.sid, _friendly_name(form.get("FriendlyName")))
    await runtime.db.write(lambda conn: store.insert_key(conn, key))
    return json(render.new_api_key(key, secret), 201)


async def fetch(request: Request) -> Response:
    key = await fetch_owned(
        request, lambda conn, account_sid, sid: store.get_key(conn, sid, account_sid), "/Keys"
    )
    return json(render.api_key(key))


async def list_(request: Request) -> Response:
    account = await account_of(request)
    page = page_request(query_of(request))

    def read(conn: Connection) -> list[ApiKey]:
        check_token(page, lambda key: store.get_key(conn, key, account.sid))
        return store.list_keys(conn, account.sid, limit=page.size + 1, offset=page.offset)

    found = await runtime_of(request).db.read(read)
    records = [render.api_key(k) for k in found[: page.size]]
    return json(
        offset_envelope("keys", records, len(found) > page.size, request.url.path, [], page)
    )


async def update(request: Request) -> Response:
    account = await account_of(request)
    form = await form_of(request)
    runtime = runtime_of(request)
    sid = request.path_params["sid"]
    name = _friendly_name(form.get("FriendlyName"))

    def write(conn: Connection) -> ApiKey:
        key = store.get_key(conn, sid, account.sid)
        if key is None:
            raise not_found(f"/Keys/{sid}")
        return store.rename_key(conn, key, name, runtime.clock.now_us())

    return json(render.api_key(await runtime.db.write(write)))


async def delete(request: Request) -> Response:
    response = await delete_owned(request, store.delete_key, "/Keys")
    runtime_of(request).auth.forget(request.path_params["sid"])
    return response
