"""The Message resource (§2): create, fetch, list, update (redact, cancel), delete,
and its Media subresource.

A create is validated before anything is written; the store then checks that the
account owns `From` and inserts the message in the next group commit. Beyond Twilio,
an `Idempotency-Key` header makes a retried create return the first message.
"""

from __future__ import annotations

import hashlib
import mimetypes
from dataclasses import replace
from urllib.parse import urlsplit

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
from herald.dispatch.callback_sink import OutboxSink
from herald.dispatch.dispatcher import check_overflow_in_store
from herald.dispatch.transitions import Change
from herald.domain import errors, outbound, scheduling, timestamps
from herald.domain.encoding import encode_body
from herald.domain.message import Media, Message
from herald.domain.queued import queued_message
from herald.domain.services import Service
from herald.domain.sids import Prefix
from herald.domain.status import Direction, MessageStatus, is_complete
from herald.runtime import Runtime
from herald.store import messages as store
from herald.store import routing as routing_store
from herald.store import senders as sender_store

MAX_IDEMPOTENCY_KEY = 255
MAX_SCHEDULED = 500_000  # per account (35125)


async def create(request: Request) -> Response:
    account = await account_of(request)
    form = await form_of(request)
    runtime = runtime_of(request)
    draft = outbound.prepare(
        forms.send_request(form),
        test=account.is_test,
        allow_private=runtime.settings.webhook_allow_private,
    )
    now = runtime.clock.now_us()
    send_at = scheduling.send_at(
        draft.request.schedule_type,
        draft.request.send_at,
        now_us=now,
        min_ahead_s=runtime.settings.schedule_min_s,
    )
    sid = runtime.new_sid(Prefix.MEDIA_MESSAGE if draft.media_urls else Prefix.MESSAGE)
    if account.is_test:  # test credentials store and send nothing
        return json(render.message(_new_message(account.sid, draft, sid, now, None)), 201)
    key = _idempotency_key(request)
    creation = _Creation(
        runtime, account.sid, draft, sid, now, key, _fingerprint(form) if key else "", send_at
    )
    return json(render.message(await creation.run()), 201)


class _Creation:
    """One create's write (ownership, overflow rule, insert, idempotency key) and its
    hand-over to the dispatcher once durable."""

    def __init__(
        self,
        runtime: Runtime,
        account_sid: str,
        draft: outbound.Draft,
        sid: str,
        now: int,
        key: str | None,
        request_hash: str,
        send_at: int | None = None,
    ) -> None:
        self.runtime = runtime
        self.account_sid = account_sid
        self.draft = draft
        self.sid = sid
        self.now = now
        self.key = key
        self.request_hash = request_hash
        # A microsecond apart, so listing them by date gives them in `MediaUrl` order.
        self.items = [
            _media(runtime, account_sid, sid, url, now + n)
            for n, url in enumerate(draft.media_urls)
        ]
        self.send_at = send_at

    async def run(self) -> Message:
        dispatcher = self.runtime.dispatcher
        try:
            message, created = await self.runtime.db.write(self.write)
        except Exception as exc:
            if dispatcher is not None and not isinstance(exc, errors.TwilioError):
                dispatcher.release(self.sid)
            raise
        if created and dispatcher is not None:
            dispatcher.enqueue(queued_message(message))
        return message

    def write(self, conn: Connection) -> tuple[Message, bool]:
        key, account_sid = self.key, self.account_sid
        if key is not None:
            ttl_us = self.runtime.settings.idempotency_ttl_s * 1_000_000
            first = _replay(conn, account_sid, key, self.request_hash, self.now - ttl_us)
            if first is not None:
                return first, False
        service = _service_of(self.runtime, conn, account_sid, self.draft)
        sender_sid = _owned_sender(conn, account_sid, self.draft)
        message = _new_message(account_sid, self.draft, self.sid, self.now, sender_sid)
        if service is not None:
            message = _through_service(message, self.draft, service, self.send_at)
        if message.status is MessageStatus.SCHEDULED:
            if routing_store.count_scheduled(conn, account_sid) >= MAX_SCHEDULED:
                raise errors.TooManyScheduled()
        elif message.status is MessageStatus.QUEUED:
            self._check_overflow(conn, message)
        # (An `accepted` message has no sender yet: the router applies the overflow rule,
        # as 30001, once it has chosen one.)
        store.insert_message(conn, message, self.items)
        if key is not None:
            store.remember_key(conn, account_sid, key, message.sid, self.request_hash, self.now)
        return message, True

    def _check_overflow(self, conn: Connection, message: Message) -> None:
        """The overflow rule (21611), before writing: by the queue this node holds, or by
        the store's count on an API-only node."""
        if self.runtime.dispatcher is not None:
            self.runtime.dispatcher.reserve(conn, queued_message(message), message.num_segments)
        else:
            horizon = self.runtime.settings.queue_horizon_s
            check_overflow_in_store(conn, queued_message(message), message.num_segments, horizon)


def _fingerprint(form: forms.Form) -> str:
    return hashlib.sha256(repr(sorted(form.items())).encode()).hexdigest()


def _idempotency_key(request: Request) -> str | None:
    key = request.headers.get("idempotency-key")
    if key is None:
        return None
    if not key or len(key) > MAX_IDEMPOTENCY_KEY:
        raise errors.InvalidParameter(
            f"Idempotency-Key must be 1 to {MAX_IDEMPOTENCY_KEY} characters"
        )
    return key


def _replay(
    conn: Connection, account_sid: str, key: str, request_hash: str, not_before: int
) -> Message | None:
    found = store.find_idempotent(conn, account_sid, key, not_before)
    if found is None:
        return None
    sid, first_hash = found
    if first_hash != request_hash:
        raise errors.IdempotencyKeyReused()
    return store.get_message(conn, account_sid, sid)


def _service_of(
    runtime: Runtime, conn: Connection, account_sid: str, draft: outbound.Draft
) -> Service | None:
    """The Messaging Service the message goes through, if any (21701 when it is not one
    of the account's)."""
    sid = draft.from_value if draft.from_kind is outbound.FromKind.SERVICE else None
    sid = sid or draft.messaging_service_sid
    if sid is None:
        return None
    service = runtime.services.get(conn, account_sid, sid, runtime.clock.now_us())
    if service is None:
        raise errors.ServiceNotFound(
            f"The Messaging Service {sid} does not exist for this account."
        )
    return service


def _through_service(
    message: Message, draft: outbound.Draft, service: Service, send_at: int | None
) -> Message:
    """The service's settings where the request gave none (a message's own StatusCallback,
    ValidityPeriod and SmartEncoded win), and the service's first status: `accepted` while
    it chooses a sender, `scheduled` until SendAt (§2.2, §13)."""
    req = draft.request
    smart = req.smart_encoded if req.smart_encoded is not None else service.smart_encoding
    segments = message.num_segments
    if not message.num_media and smart != bool(req.smart_encoded):
        segments = encode_body(draft.body, smart=smart).num_segments
    chooses = draft.from_kind is outbound.FromKind.SERVICE
    if send_at is not None:
        status = MessageStatus.SCHEDULED
    else:
        status = MessageStatus.ACCEPTED if chooses else MessageStatus.QUEUED
    return replace(
        message,
        messaging_service_sid=service.sid,
        from_number=None if chooses else message.from_number,
        status=status,
        num_segments=segments,
        smart_encoded=smart,
        status_callback=req.status_callback or service.status_callback or None,
        validity_period=req.validity_period or service.validity_period,
        send_at=send_at,
    )


def _owned_sender(conn: Connection, account_sid: str, draft: outbound.Draft) -> str | None:
    """The SID of the account's sender named by `From` (21606 when it owns none fit to send)."""
    kind = draft.from_kind
    if kind is outbound.FromKind.PHONE:
        number = sender_store.number_sender(conn, account_sid, draft.from_value)
        if number is not None and number[1]:
            return number[0]
    elif kind is outbound.FromKind.SHORT_CODE:
        codes = sender_store.short_code_senders(conn, account_sid, draft.from_value)
        for sid, country, sms in codes:
            if country == draft.to.country and sms:
                return sid
        if codes:
            raise errors.FromNotOwned(
                f"The short code {draft.from_value} cannot send to {draft.to.e164}: a short "
                "code can only send to numbers in its own country."
            )
    else:  # an alphanumeric ID, or the service chooses
        return None
    raise errors.FromNotOwned(
        f"The From phone number {draft.from_value} is not a valid, SMS-capable inbound phone "
        "number or short code for your account."
    )


def _new_message(
    account_sid: str, draft: outbound.Draft, sid: str, now: int, sender_sid: str | None
) -> Message:
    req = draft.request
    has_media = bool(draft.media_urls)
    return Message(
        sid=sid,
        account_sid=account_sid,
        messaging_service_sid=None,
        direction=Direction.OUTBOUND_API,
        from_number=draft.from_value,
        to_number=draft.to.e164,
        sender_sid=sender_sid,
        body=draft.body,
        status=MessageStatus.QUEUED,
        encoding=draft.encoded.encoding.value,
        num_segments=1 if has_media else draft.encoded.num_segments,
        num_media=len(draft.media_urls),
        error_code=None,
        error_message=None,
        price=None,
        price_unit="USD",
        status_callback=req.status_callback or None,
        application_sid=req.application_sid,
        validity_period=req.validity_period,
        smart_encoded=req.smart_encoded,
        provide_feedback=req.provide_feedback,
        attempt=req.attempt,
        max_price=req.max_price,
        tags=req.tags,
        send_at=None,
        date_sent=None,
        date_created=now,
        date_updated=now,
    )


def _media(runtime: Runtime, account_sid: str, message_sid: str, url: str, now: int) -> Media:
    guessed, _ = mimetypes.guess_type(urlsplit(url).path)
    return Media(
        sid=runtime.new_sid(Prefix.MEDIA),
        account_sid=account_sid,
        message_sid=message_sid,
        content_type=guessed or "application/octet-stream",
        url=url,
        date_created=now,
        date_updated=now,
    )


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
                raise errors.CannotCancel()
            if not store.change_status(conn, sid, MessageStatus.CANCELED, now):
                raise errors.CannotCancel()
            change = Change(queued_message(message), MessageStatus.CANCELED)
            OutboxSink().enqueue(conn, [change], now)  # the `canceled` callback (§13)
        if body is not None:
            if not is_complete(message.status) and status is None:
                raise errors.NotComplete(
                    "Cannot redact the body of a message that is not yet complete"
                )
            store.redact_body(conn, message, now)
        return store.get_message(conn, account.sid, sid) or message

    updated = await runtime.db.write(write)
    if status is not None and runtime.delivery is not None:
        runtime.delivery.wake()
    return json(render.message(updated))


async def delete(request: Request) -> Response:
    account = await account_of(request)
    sid = request.path_params["sid"]

    def write(conn: Connection) -> None:
        message = store.get_message(conn, account.sid, sid)
        if message is None:
            raise not_found(f"/Messages/{sid}")
        if not is_complete(message.status):
            raise errors.NotComplete()
        store.delete_message(conn, account.sid, sid)

    await runtime_of(request).db.write(write)
    return no_content()


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
    sid, media_sid = request.path_params["sid"], request.path_params["media_sid"]

    def write(conn: Connection) -> None:
        message = store.get_message(conn, account.sid, sid)
        if message is None or store.get_media(conn, account.sid, sid, media_sid) is None:
            raise not_found(f"/Messages/{sid}/Media/{media_sid}")
        if not is_complete(message.status):
            raise errors.NotComplete()
        store.delete_media(conn, account.sid, sid, media_sid)

    await runtime_of(request).db.write(write)
    return no_content()
