"""Dead letters (Herald-only, `/herald/v1/Accounts/{AC}/DeadLetters…`): status callbacks
that failed every attempt, listed newest first, each retryable once the receiver is fixed.

Twilio drops such callbacks after logging error 11200; Herald keeps them so nothing a
receiver should have heard is lost silently. Authentication is the 2010 API's. As in
Twilio's debugger, an item tells only the last answer's HTTP status (null when none came)
and the generic 11200 wording: never why no answer came, which would tell what listens at
an address. The server log has the precise cause.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.engine import Connection
from starlette.requests import Request
from starlette.responses import Response

from herald.api.paging import check_token, envelope, page_request
from herald.api.path_params import fits
from herald.api.requests import account_of, json, not_found, query_of, runtime_of
from herald.domain.callbacks import RETRIEVAL_FAILURE, Callback
from herald.domain.timestamps import rfc2822
from herald.store import dead_letters as store


def render(callback: Callback) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for name, value in callback.params:  # a repeated name becomes a list, as a form would
        if name not in params:
            params[name] = value
        elif isinstance(params[name], list):
            params[name].append(value)
        else:
            params[name] = [params[name], value]
    return {
        "id": callback.id,
        "message_sid": callback.message_sid,
        "sequence": callback.sequence,
        "url": callback.url,
        "method": callback.method,
        "params": params,
        "state": callback.state.value,
        "attempts": callback.attempts,
        # Rows stored before this wording was generic are shown with it too.
        "last_error": RETRIEVAL_FAILURE if callback.last_error is not None else None,
        "last_status_code": callback.last_status_code,
        "date_created": rfc2822(callback.date_created),
        "date_updated": rfc2822(callback.date_updated),
    }


def _dead_letter(conn: Connection, account_sid: str, key: str) -> Callback | None:
    if not fits("id", key):
        return None
    return store.get_callback(conn, account_sid, int(key))


async def list_(request: Request) -> Response:
    account = await account_of(request)
    page = page_request(query_of(request))

    def read(conn: Connection) -> list[Callback]:
        check_token(page, lambda key: _dead_letter(conn, account.sid, key))
        return store.list_dead(conn, account.sid, limit=page.size + 1, offset=page.offset)

    found = await runtime_of(request).db.read(read)
    records = [render(c) for c in found[: page.size]]
    has_more = len(found) > page.size
    return json(
        envelope(
            "dead_letters",
            records,
            request.url.path,
            [],
            page,
            next_token=f"PA{records[-1]['id']}" if has_more else None,
            previous_token=f"PB{records[0]['id']}" if records and page.number > 0 else None,
        )
    )


async def retry(request: Request) -> Response:
    """Re-queue one dead letter: pending, attempts reset, due now (200 with the item)."""
    account = await account_of(request)
    runtime = runtime_of(request)
    raw = str(request.path_params["id"])
    what = f"/DeadLetters/{raw}"
    if not raw.isdigit():
        raise not_found(what)
    callback_id = int(raw)
    now = runtime.clock.now_us()

    def write(conn: Connection) -> Callback | None:
        if not store.requeue(conn, account.sid, callback_id, now):
            return None
        return store.get_callback(conn, account.sid, callback_id)

    found = await runtime.db.write(write)
    if found is None:
        raise not_found(what)
    runtime.wake_callbacks()
    return json(render(found))
