"""The opt-out ledger (Herald's, beyond Twilio): who may not be sent to, and why, so a
marketing platform can suppress before sending instead of reading 13 months of inbound
messages. Under `/herald/v1/Accounts/{AC}/OptOuts`:

- `GET .json` lists newest first, filtered by `PhoneNumber` (the recipient), `Sender`,
  `MessagingServiceSid`, `DateCreated>` / `DateCreated<`; `GET /{OO…}.json` fetches one;
  `DELETE /{OO…}.json` removes one (the recipient may be sent to again).
- `GET /Export.csv` and `/Export.json` give the whole ledger with its provenance.
- `POST /Import` takes CSV (a header row naming at least `phone_number`) or JSON (a list,
  or `{"opt_outs": [...]}`) with `phone_number` and, optionally, `messaging_service_sid`,
  `sender`, `keyword`. An entry counts for the named service if it is this account's,
  else for the named sender if it is this account's number (its service if it is in
  one), else for the whole account: a ledger exported elsewhere still suppresses here.
  Every row is checked before any is stored; importing the same file twice stores it
  once.
"""

from __future__ import annotations

import csv
import functools
import io
from typing import Any

import orjson
from sqlalchemy.engine import Connection
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from herald.api.paging import check_token, offset_envelope, page_request
from herald.api.paths import HERALD
from herald.api.requests import account_of, json, not_found, query_of, runtime_of
from herald.domain import errors, ledger, timestamps
from herald.domain.numbers import NumberError, is_short_code, parse_number
from herald.domain.sids import Prefix, is_sid
from herald.runtime import Runtime
from herald.store import opt_outs as store
from herald.store import senders as sender_store
from herald.store import services as service_store

PATH = f"{HERALD}/OptOuts"
MAX_IMPORT = 100_000  # rows in one import
EXPORT_PAGE = 1000
COLUMNS = ("sid", "phone_number", "scope", "messaging_service_sid", "sender", "source",
           "keyword", "message_sid", "date_created")  # fmt: skip


def render(entry: ledger.OptOut) -> dict[str, Any]:
    return {
        "sid": entry.sid,
        "account_sid": entry.account_sid,
        "phone_number": entry.recipient,
        "scope": entry.scope.kind.value,
        "messaging_service_sid": entry.messaging_service_sid,
        "sender": entry.sender,
        "source": entry.source.value,
        "keyword": entry.keyword,
        "message_sid": entry.message_sid,
        "date_created": timestamps.iso8601(entry.date_created),
        "date_updated": timestamps.iso8601(entry.date_updated),
        "url": f"/herald/v1/Accounts/{entry.account_sid}/OptOuts/{entry.sid}.json",
    }


_FILTERS = ("PhoneNumber", "Sender", "MessagingServiceSid", "DateCreated>", "DateCreated<")


def _filter(query: Any) -> tuple[store.LedgerFilter, list[tuple[str, str]]]:
    echoed = [(name, query.get(name)) for name in _FILTERS if query.get(name)]
    try:
        start = query.get("DateCreated>")
        end = query.get("DateCreated<")
        created_from = timestamps.parse_filter(start)[0] if start else None
        created_before = timestamps.parse_filter(end)[1] if end else None
    except ValueError as exc:
        raise errors.InvalidParameter(f"DateCreated filter: {exc}") from None
    where = store.LedgerFilter(
        recipient=query.get("PhoneNumber") or None,
        sender=query.get("Sender") or None,
        service_sid=query.get("MessagingServiceSid") or None,
        created_from=created_from,
        created_before=created_before,
    )
    return where, echoed


async def list_(request: Request) -> Response:
    account = await account_of(request)
    query = query_of(request)
    page = page_request(query)
    where, echoed = _filter(query)

    def read(conn: Connection) -> list[ledger.OptOut]:
        check_token(page, lambda key: store.get_opt_out(conn, account.sid, key))
        return store.list_opt_outs(
            conn, account.sid, where, limit=page.size + 1, offset=page.offset
        )

    found = await runtime_of(request).db.read(read)
    records = [render(e) for e in found[: page.size]]
    return json(
        offset_envelope("opt_outs", records, len(found) > page.size, request.url.path, echoed, page)
    )


async def fetch(request: Request) -> Response:
    account = await account_of(request)
    sid = request.path_params["sid"]
    found = await runtime_of(request).db.read(lambda c: store.get_opt_out(c, account.sid, sid))
    if found is None:
        raise not_found(f"/OptOuts/{sid}")
    return json(render(found))


async def delete(request: Request) -> Response:
    account = await account_of(request)
    sid = request.path_params["sid"]
    gone = await runtime_of(request).db.write(
        lambda conn: store.delete_opt_out(conn, account.sid, sid)
    )
    if not gone:
        raise not_found(f"/OptOuts/{sid}")
    return Response(status_code=204)


async def _everything(runtime: Runtime, account_sid: str) -> list[ledger.OptOut]:
    entries: list[ledger.OptOut] = []
    while True:
        batch = await runtime.db.read(
            functools.partial(
                store.list_opt_outs,
                account_sid=account_sid,
                where=store.LedgerFilter(),
                limit=EXPORT_PAGE,
                offset=len(entries),
            )
        )
        entries.extend(batch)
        if len(batch) < EXPORT_PAGE:
            return entries


async def export_csv(request: Request) -> Response:
    account = await account_of(request)
    entries = await _everything(runtime_of(request), account.sid)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for entry in entries:
        row = render(entry)
        writer.writerow([row[name] or "" for name in COLUMNS])
    return Response(out.getvalue(), media_type="text/csv; charset=utf-8")


async def export_json(request: Request) -> Response:
    account = await account_of(request)
    entries = await _everything(runtime_of(request), account.sid)
    return json({"opt_outs": [render(e) for e in entries]})


def _rows(content_type: str, body: bytes) -> list[dict[str, str]]:
    """The import's rows as dicts of strings (20001 for a body that is neither)."""
    if "json" in content_type:
        try:
            data = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise errors.InvalidParameter(f"The import is not valid JSON: {exc}") from None
        if isinstance(data, dict):
            data = data.get("opt_outs")
        if not isinstance(data, list) or not all(isinstance(r, dict) for r in data):
            raise errors.InvalidParameter(
                'A JSON import is a list of objects, or {"opt_outs": [...]}'
            )
        return [{str(k): "" if v is None else str(v) for k, v in r.items()} for r in data]
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise errors.InvalidParameter("A CSV import must be UTF-8") from None
    try:
        reader = csv.DictReader(io.StringIO(text))
        rows = [{k or "": v or "" for k, v in row.items()} for row in reader]
    except csv.Error as exc:
        raise errors.InvalidParameter(f"The CSV import cannot be read: {exc}") from None
    if "phone_number" not in (reader.fieldnames or []):
        raise errors.InvalidParameter("A CSV import needs a header row naming phone_number")
    return rows


def _without_nul(rows: list[dict[str, str]]) -> list[dict[str, str]]:
    """The rows, unless one holds a NUL character, which no database stores in text."""
    for n, row in enumerate(rows, 1):
        if any("\x00" in text for item in row.items() for text in item):
            raise errors.InvalidParameter(f"Row {n} contains a NUL character")
    return rows


def _recipient(raw: str, row: int) -> str:
    raw = raw.strip()
    try:
        return parse_number(raw).e164
    except NumberError as exc:
        raise errors.InvalidParameter(
            f"Row {row}: phone_number {raw!r} is not a number: {exc}"
        ) from None


def _entry(
    conn: Connection, runtime: Runtime, account_sid: str, row: dict[str, str], n: int, now: int
) -> ledger.OptOut:
    recipient = _recipient(row.get("phone_number", ""), n)
    service_sid = row.get("messaging_service_sid", "").strip() or None
    sender = row.get("sender", "").strip() or None
    keyword = row.get("keyword", "").strip() or None
    if keyword is not None and len(keyword) > 32:
        raise errors.InvalidParameter(f"Row {n}: keyword is longer than 32 characters")
    scope = ledger.ACCOUNT_SCOPE
    if (
        service_sid
        and is_sid(service_sid, Prefix.SERVICE)
        and service_store.get_service(conn, account_sid, service_sid)
    ):
        scope = ledger.scope_of("", service_sid)
    elif sender and (sender.startswith("+") or is_short_code(sender)):
        number = sender_store.find_number(conn, account_sid, sender)
        if number is not None:
            in_service = store.services_of(conn, [number.sid]).get(number.sid)
            scope = ledger.scope_of(sender, in_service)
    return ledger.OptOut(
        sid=runtime.new_sid(Prefix.OPT_OUT),
        account_sid=account_sid,
        recipient=recipient,
        scope=scope,
        source=ledger.Source.IMPORT,
        keyword=keyword.upper() if keyword else None,
        sender=sender[:64] if sender else None,
        messaging_service_sid=service_sid[:34] if service_sid else None,
        message_sid=None,
        confirmation_sid=None,
        date_created=now,
        date_updated=now,
    )


async def import_(request: Request) -> Response:
    account = await account_of(request)
    runtime = runtime_of(request)
    rows = _without_nul(
        _rows(request.headers.get("content-type", "").lower(), await request.body())
    )
    if len(rows) > MAX_IMPORT:
        raise errors.InvalidParameter(f"At most {MAX_IMPORT} rows in one import")
    now = runtime.clock.now_us()

    def write(conn: Connection) -> list[ledger.OptOut]:
        entries = [_entry(conn, runtime, account.sid, row, n, now) for n, row in enumerate(rows, 1)]
        store.record(conn, entries)
        return entries

    entries = await runtime.db.write(write)
    distinct = {(e.recipient, e.scope): e for e in entries}.values()  # a number twice is once
    scopes: dict[str, int] = {}
    for entry in distinct:
        scopes[entry.scope.kind.value] = scopes.get(entry.scope.kind.value, 0) + 1
    return json({"imported": len(distinct), "by_scope": scopes}, 201)


def routes() -> list[Route]:
    return [
        Route(f"{PATH}.json", list_, methods=["GET"]),
        Route(f"{PATH}/Export.csv", export_csv, methods=["GET"]),
        Route(f"{PATH}/Export.json", export_json, methods=["GET"]),
        Route(f"{PATH}/Import", import_, methods=["POST"]),
        Route(f"{PATH}/{{sid}}.json", fetch, methods=["GET"]),
        Route(f"{PATH}/{{sid}}.json", delete, methods=["DELETE"]),
    ]
