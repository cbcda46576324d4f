"""The Message resource (§2): fetch, list, update (redact, cancel), delete, feedback,
and its Media subresource. Creating one, a send, is `sending.py`'s; a media's bytes are
`mms.py`'s. Deleting a message or a media deletes the copies Herald kept of its media."""

from __future__ import annotations

from dataclasses import replace

from sqlalchemy.engine import Connection
from starlette.requests import Request
from starlette.responses import Response

from herald.api import forms, render
from herald.api.paging import check_token, envelope, offset_envelope, page_request
from herald.api.requests import (
    account_of,
    fetch_owned,
    form_of,
    json,
    no_content,
    not_found,
    query_of,
    runtime_of,
)
from herald.domain import errors, service_errors, timestamps
from herald.domain.message import Media, Message
from herald.domain.queued import StatusChange, queued_message
from herald.domain.status import MessageStatus, is_complete
from herald.runtime import Runtime
from herald.store import media as media_store
from herald.store import messages as store
from herald.store.outbox import OutboxSink


async def fetch(request: Request) -> Response:
    return json(render.message(await fetch_owned(request, store.get_message, "/Messages")))


_LIST_FILTERS = ("To", "From", "DateSent", "DateSent<", "DateSent>")


def _message_filter(query: forms.Form) -> tuple[store.MessageFilter, list[tuple[str, str]]]:
    """`DateSent` names a whole GMT day (the helper sends dates as midnight date-times);
    `DateSent>` and `DateSent<` are inclusive bounds: a date names its whole day, a
    date-time its second (§2.4)."""
    echoed = [(name, query.get(name) or "") for name in _LIST_FILTERS if query.get(name)]
    bounds: list[tuple[int | None, int | None]] = []
    try:
        if query.get("DateSent"):
            bounds.append(timestamps.day_of(query.get("DateSent") or ""))
        if query.get("DateSent>"):
            bounds.append((timestamps.parse_filter(query.get("DateSent>") or "")[0], None))
        if query.get("DateSent<"):
            bounds.append((None, timestamps.parse_filter(query.get("DateSent<") or "")[1]))
    except ValueError as exc:
        raise errors.InvalidParameter(f"DateSent filter: {exc}") from None
    starts = [start for start, _ in bounds if start is not None]
    ends = [end for _, end in bounds if end is not None]
    where = store.MessageFilter(
        to_number=query.get("To") or None,
        from_number=query.get("From") or None,
        sent_from=max(starts) if starts else None,
        sent_before=min(ends) if ends else None,
    )
    return where, echoed


async def list_(request: Request) -> Response:
    account = await account_of(request)
    query = query_of(request)
    page = page_request(query)
    where, echoed = _message_filter(query)

    def read(conn: Connection) -> list[Message]:
        check_token(page, lambda key: store.get_message(conn, account.sid, key))
        return store.list_messages(
            conn,
            account.sid,
            where,
            limit=page.size + 1,
            after_sid=page.after_sid,
            before_sid=page.before_sid,
            offset=0 if page.token else page.offset,
        )

    rows = await runtime_of(request).db.read(read)
    has_more = len(rows) > page.size or (page.before_sid is not None and bool(rows))
    rows = rows[-page.size :] if page.before_sid else rows[: page.size]
    records = [render.message(m) for m in rows]
    body = envelope(
        "messages",
        records,
        request.url.path,
        echoed,
        page,
        next_token=f"PA{rows[-1].sid}" if has_more and rows else None,
        previous_token=f"PB{rows[0].sid}" if rows and page.number > 0 else None,
    )
    return json(body)


async def update(request: Request) -> Response:
    """Redact (`Body=""`, final messages only) or cancel (`Status=canceled`, scheduled only)."""
    account = await account_of(request)
    form = await form_of(request)
    runtime = runtime_of(request)
    sid = request.path_params["sid"]
    status = form.choice("Status", ("canceled",))
    body = form.get("Body")
    if body is not None and body != "":
        raise errors.InvalidParameter("Body can only be updated to an empty string (redaction)")

    def write(conn: Connection) -> Message:
        message = store.get_message(conn, account.sid, sid)
        if message is None:
            raise not_found(f"/Messages/{sid}")
        now = runtime.clock.now_us()
        if status is not None:
            if message.status is not MessageStatus.SCHEDULED:
                raise service_errors.CannotCancel()
            if not store.change_status(conn, sid, MessageStatus.CANCELED, now):
                raise service_errors.CannotCancel()
            change = StatusChange(queued_message(message), MessageStatus.CANCELED)
            OutboxSink().enqueue(conn, [change], now)  # the `canceled` callback (§13)
        if body is not None:
            if not is_complete(message.status) and status is None:
                raise errors.NotComplete(
                    "Cannot redact the body of a message that is not yet complete"
                )
            store.redact_body(conn, message, now)
        return store.get_message(conn, account.sid, sid) or message

    updated = await runtime.db.write(write)
    if status is not None:
        runtime.wake_callbacks()
    return json(render.message(updated))


async def delete(request: Request) -> Response:
    account = await account_of(request)
    runtime = runtime_of(request)
    sid = request.path_params["sid"]

    def write(conn: Connection) -> list[str]:
        message = store.get_message(conn, account.sid, sid)
        if message is None:
            raise not_found(f"/Messages/{sid}")
        if not is_complete(message.status):
            raise errors.NotComplete()
        files = media_store.kept_as_files(conn, sid)
        store.delete_message(conn, account.sid, sid)
        return files

    await _remove_files(runtime, await runtime.db.write(write))
    return no_content()


async def _remove_files(runtime: Runtime, sids: list[str]) -> None:
    """The kept copies of deleted media, once their rows are gone (a crash between the
    two leaves a file no row names, never a row without its file)."""
    assert runtime.media_files is not None
    await runtime.media_files.remove(sids)


async def create_feedback(request: Request) -> Response:
    """Delivery feedback (`Outcome=confirmed|unconfirmed`) for a message sent with
    `ProvideFeedback=true`, as Twilio's Message Feedback resource records it."""
    account = await account_of(request)
    form = await form_of(request)
    runtime = runtime_of(request)
    sid = request.path_params["sid"]
    outcome = form.choice("Outcome", ("confirmed", "unconfirmed")) or "confirmed"

    def write(conn: Connection) -> Message:
        message = store.get_message(conn, account.sid, sid)
        if message is None:
            raise not_found(f"/Messages/{sid}")
        if not message.provide_feedback:
            raise errors.InvalidParameter(
                "Feedback can only be given for a message sent with ProvideFeedback=true"
            )
        now = runtime.clock.now_us()
        store.record_feedback(conn, sid, outcome, now)
        return replace(message, feedback_outcome=outcome, feedback_date=now)

    return json(render.feedback(await runtime.db.write(write)))


async def list_media(request: Request) -> Response:
    account = await account_of(request)
    page = page_request(query_of(request))
    sid = request.path_params["sid"]

    def read(conn: Connection) -> list[Media] | None:
        if store.get_message(conn, account.sid, sid) is None:
            return None
        check_token(page, lambda key: store.get_media(conn, account.sid, sid, key))
        return store.list_media(conn, account.sid, sid, limit=page.size + 1, offset=page.offset)

    items = await runtime_of(request).db.read(read)
    if items is None:
        raise not_found(f"/Messages/{sid}")
    records = [render.media(m) for m in items[: page.size]]
    body = offset_envelope(
        "media_list", records, len(items) > page.size, request.url.path, [], page
    )
    return json(body)


async def fetch_media(request: Request) -> Response:
    account = await account_of(request)
    sid, media_sid = request.path_params["sid"], request.path_params["media_sid"]
    item = await runtime_of(request).db.read(
        lambda conn: store.get_media(conn, account.sid, sid, media_sid)
    )
    if item is None:
        raise not_found(f"/Messages/{sid}/Media/{media_sid}")
    return json(render.media(item))


async def delete_media(request: Request) -> Response:
    account = await account_of(request)
    runtime = runtime_of(request)
    sid, media_sid = request.path_params["sid"], request.path_params["media_sid"]

    def write(conn: Connection) -> list[str]:
        message = store.get_message(conn, account.sid, sid)
        if message is None or store.get_media(conn, account.sid, sid, media_sid) is None:
            raise not_found(f"/Messages/{sid}/Media/{media_sid}")
        if not is_complete(message.status):
            raise errors.NotComplete()
        files = media_store.kept_as_files(conn, sid, media_sid)
        store.delete_media(conn, account.sid, sid, media_sid)
        return files

    await _remove_files(runtime, await runtime.db.write(write))
    return no_content()
