"""What every handler needs from a request: the runtime, the caller's account, its
parameters, and a JSON response."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import orjson
from sqlalchemy.engine import Connection
from starlette.requests import Request
from starlette.responses import Response

from herald.api import concurrency, limits
from herald.api.forms import Form
from herald.api.paths import resource_of
from herald.domain import access, errors
from herald.domain.access import Caller
from herald.domain.accounts import Account
from herald.runtime import Runtime

T = TypeVar("T")
Loader = Callable[[Connection, str, str], T | None]
Change = Callable[[T, Form, int], T]  # the resource, the request's form, now (µs)
Saver = Callable[[Connection, T], T]


def runtime_of(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


async def account_of(request: Request) -> Account:
    """Authenticate the caller for the account in the path (v1 paths name none: the
    credentials' own), count the request against that account's concurrency limit (20429
    beyond it, `concurrency`), and refuse credentials this route is not open to (20003 for
    a standard API key on the account, its keys or tokens; 20008 for test credentials)."""
    return (await caller_of(request)).account


async def caller_of(request: Request) -> Caller:
    runtime = runtime_of(request)
    account_sid = request.path_params.get("account_sid")
    caller = request.scope.get(CONSOLE_CALLER)  # set only in-process, by the console
    if caller is None:
        caller = await runtime.auth.authenticate(request.headers.get("authorization"), account_sid)
    elif account_sid is not None and account_sid != caller.account.sid:
        raise errors.NotFound(f"The requested resource /Accounts/{account_sid} was not found")
    concurrency.take(request.scope, caller.account.sid)  # 20429 beyond the account's limit
    route = request.scope.get("route")
    template = route.path if route is not None else request.scope["path"]
    refused = access.refusal(
        caller.credential,
        is_test=caller.account.is_test,
        resource=resource_of(request.method, template),
    )
    if refused is not None:
        raise refused
    return caller


FORM_TYPE = "application/x-www-form-urlencoded"
# The ASGI scope key under which the console hands the REST API its signed-in caller:
# scope keys cannot come from the network, so this is never a client's claim.
CONSOLE_CALLER = "herald.console.caller"


async def form_of(request: Request) -> Form:
    """The request's form, within the limits of every parameter (`limits`). The body's
    own size and deadline are enforced as it streams in (`http_protocol`)."""
    body = await request.body()
    if body and not is_form_type(request.headers.get("content-type", "")):
        raise errors.InvalidParameter(
            f"Request bodies must be {FORM_TYPE}, in UTF-8 (charset=utf-8 or none)"
        )
    return _checked(request, Form.parse(body))


def query_of(request: Request) -> Form:
    return _checked(request, Form.parse(request.scope.get("query_string", b"")))


def _checked(request: Request, form: Form) -> Form:
    limits.check(form, send=limits.is_send_path(request.scope["path"]))
    return form


def is_form_type(content_type: str) -> bool:
    """Whether a Content-Type names a form (RFC 9110 §8.3.1: a media type, then
    `;name=value` parameters), whose charset, if one is named, is UTF-8."""
    media_type, *parameters = content_type.split(";")
    if media_type.strip().lower() != FORM_TYPE:
        return False
    for parameter in parameters:
        name, equals, value = parameter.partition("=")
        if not name.strip() and not equals:
            continue  # an empty parameter, as after a trailing `;`
        if not equals or not name.strip():
            return False
        if name.strip().lower() == "charset" and value.strip().strip('"').lower() != "utf-8":
            return False
    return True


def json(data: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(data), status_code=status, media_type="application/json")


def no_content() -> Response:
    return Response(status_code=204)


def not_found(what: str) -> errors.NotFound:
    return errors.NotFound(f"The requested resource {what} was not found")


async def fetch_owned(request: Request, load: Loader[T], what: str, param: str = "sid") -> T:
    """The caller's resource named by the path's `param`; 20404 when it has none by that
    SID."""
    account = await account_of(request)
    sid = request.path_params[param]
    found = await runtime_of(request).db.read(lambda conn: load(conn, account.sid, sid))
    if found is None:
        raise not_found(f"{what}/{sid}")
    return found


async def update_owned(
    request: Request, load: Loader[T], change: Change[T], save: Saver[T], what: str
) -> T:
    """Apply the request's form to the caller's resource named by the path's `sid` and
    store it, in one write; 20404 when the caller has none by that SID."""
    account = await account_of(request)
    form = await form_of(request)
    runtime = runtime_of(request)
    sid = request.path_params["sid"]

    def write(conn: Connection) -> T:
        current = load(conn, account.sid, sid)
        if current is None:
            raise not_found(f"{what}/{sid}")
        return save(conn, change(current, form, runtime.clock.now_us()))

    return await runtime.db.write(write)


async def delete_owned(request: Request, remove: Loader[bool], what: str) -> Response:
    """Delete the caller's resource named by the path's `sid` (204), or 20404."""
    account = await account_of(request)
    sid = request.path_params["sid"]
    if not await runtime_of(request).db.write(lambda conn: remove(conn, account.sid, sid)):
        raise not_found(f"{what}/{sid}")
    return no_content()
