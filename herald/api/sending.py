"""Sending: `POST Messages.json` (§2.3). A create is validated before anything is
written; the store then checks that the account owns `From` and inserts the message in
the next group commit, and the engine's intake takes it from there. An MMS's media are
fetched, checked and kept first (`mms.py`), once its sender is known to send media.
Beyond Twilio, an `Idempotency-Key` header makes a retried create return the first
message.
"""

from __future__ import annotations

import hashlib
import mimetypes
from dataclasses import replace
from urllib.parse import urlsplit

from sqlalchemy.engine import Connection
from starlette.requests import Request
from starlette.responses import Response

from herald.api import forms, mms, render
from herald.api.requests import (
    account_of,
    form_of,
    json,
    runtime_of,
)
from herald.domain import errors, outbound, scheduling, service_errors
from herald.domain.encoding import encode_body
from herald.domain.message import Message
from herald.domain.queued import queued_message
from herald.domain.services import Service
from herald.domain.sids import Prefix
from herald.domain.status import Direction, MessageStatus
from herald.runtime import Runtime
from herald.store import messages as store
from herald.store import opt_outs
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
    if draft.media_urls:
        first = await runtime.db.read(creation.check_before_fetch)
        if first is not None:
            return json(render.message(first), 201)
        creation.kept = await mms.collect(runtime, account.sid, draft, sid)
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
        self.send_at = send_at
        self.kept = mms.Kept()  # an MMS's media, fetched and kept (`mms.collect`)

    async def run(self) -> Message:
        intake = self.runtime.intake
        try:
            message, created = await self.runtime.db.write(self.write)
        except Exception as exc:
            if not isinstance(exc, errors.TwilioError):  # admitted, then not stored
                intake.abandon(self.sid)
            # Not stored: its media's files go. (Cancelled, it may still be: they stay.)
            await mms.discard(self.runtime, self.kept)
            raise
        if created:
            intake.announce(queued_message(message))
        else:  # a replay: the first message's media are its own
            await mms.discard(self.runtime, self.kept)
        return message

    def check_before_fetch(self, conn: Connection) -> Message | None:
        """An MMS create's checks before its media are fetched: a replay answers the first
        message, fetching nothing; the service and the sender are checked as the write
        checks them, so a create refused for them fetches nothing either."""
        first = self._replayed(conn)
        if first is None:
            _service_of(self.runtime, conn, self.account_sid, self.draft)
            _check_mms(conn, self.draft, _owned_sender(conn, self.account_sid, self.draft))
        return first

    def _replayed(self, conn: Connection) -> Message | None:
        if self.key is None:
            return None
        ttl_us = self.runtime.settings.idempotency_ttl_s * 1_000_000
        return _replay(conn, self.account_sid, self.key, self.request_hash, self.now - ttl_us)

    def write(self, conn: Connection) -> tuple[Message, bool]:
        account_sid = self.account_sid
        first = self._replayed(conn)
        if first is not None:
            return first, False
        service = _service_of(self.runtime, conn, account_sid, self.draft)
        sender_sid = _owned_sender(conn, account_sid, self.draft)
        if self.draft.media_urls:
            _check_mms(conn, self.draft, sender_sid)
        message = _new_message(account_sid, self.draft, self.sid, self.now, sender_sid)
        if service is not None:
            message = _through_service(message, self.draft, service, self.send_at)
        if opt_outs.opted_out(conn, [opt_outs.Outgoing.of(message)]):
            raise errors.RecipientOptedOut()
        if message.status is MessageStatus.SCHEDULED:
            if routing_store.count_scheduled(conn, account_sid) >= MAX_SCHEDULED:
                raise service_errors.TooManyScheduled()
        elif message.status is MessageStatus.QUEUED:  # the overflow rule (21611)
            self.runtime.intake.admit(conn, queued_message(message))
        # (An `accepted` message has no sender yet: the router applies the overflow rule,
        # as 30001, once it has chosen one.)
        store.insert_message(conn, message, self.kept.items, self.kept.contents)
        if self.key is not None:
            store.remember_key(
                conn, account_sid, self.key, message.sid, self.request_hash, self.now
            )
        return message, True


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
        raise service_errors.ServiceNotFound(
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


def _check_mms(conn: Connection, draft: outbound.Draft, sender_sid: str | None) -> None:
    """21621 for media from an alphanumeric sender ID, or from a number or short code
    without the MMS capability. (A service that chooses the sender chooses one that can
    send them, or its MMS Converter sends a link.)"""
    if draft.from_kind is outbound.FromKind.ALPHANUMERIC:
        raise errors.FromNotMmsCapable(
            f"The 'From' {draft.from_value} is an alphanumeric sender ID: it cannot send media."
        )
    if sender_sid is not None and not sender_store.can_send_mms(conn, sender_sid):
        raise errors.FromNotMmsCapable(
            f"The 'From' number {draft.from_value} is not MMS-capable: it cannot send media."
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


def content_type_of(url: str) -> str:
    """A media URL's type as its name suggests, for media Herald does not fetch (the
    simulator's inbound media)."""
    guessed, _ = mimetypes.guess_type(urlsplit(url).path)
    return guessed or "application/octet-stream"
