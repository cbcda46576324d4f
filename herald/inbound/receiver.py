"""Where a carrier's inbound message lands (the handler given to `Transport.start`).

One write stores everything the message causes, so that a crash loses nothing and a
repeated hand-over (the carrier's id already known) changes nothing: the message, its
media, the carrier's id, the opt-out ledger's change and its confirmation, the Sticky
Sender mapping, and the webhook owed. After the commit the confirmation joins its
sender's queue and webhook delivery is woken. The simulator's endpoint answers with the
message it just handed over: the receiver keeps the last ones it stored for that, rather
than read each back.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from dataclasses import dataclass, replace

from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from herald.clock import Clock
from herald.domain import errors, ledger, optout
from herald.domain.encoding import encode_body
from herald.domain.inbound import InboundMessage, inbound_price, webhook_params
from herald.domain.inbound import webhook_target as choose_target
from herald.domain.message import Media, Message
from herald.domain.numbers import country_of
from herald.domain.queued import queued_message
from herald.domain.senders import SenderKind
from herald.domain.sids import Prefix
from herald.domain.status import Direction, MessageStatus
from herald.inbound.replies import Conversation, NewSid, Reply, media_rows, reply_message
from herald.intake import Intake
from herald.metrics import Metrics
from herald.store import inbound as store
from herald.store import messages as message_store
from herald.store import opt_outs
from herald.store import routing as routing_store
from herald.store import services as service_store
from herald.store.db import Database
from herald.store.inbound import Receiver

log = logging.getLogger("herald.inbound")

KEPT = 1024  # messages just stored, kept for `received` (a carrier's hand-overs never ask)


class UnknownRecipient(errors.TwilioError):
    """The To number is not a phone number or short code of any account"""

    code = errors.FromNotOwned.code
    status = 404


@dataclass(frozen=True, slots=True)
class Received:
    message: Message
    created: bool  # False: the carrier handed over a message already stored


class InboundReceiver:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        *,
        new_sid: NewSid,
        new_token: Callable[[], str],
        intake: Callable[[], Intake],
        on_webhooks: Callable[[], None],
        metrics: Metrics,
    ) -> None:
        self._db = db
        self._clock = clock
        self._new_sid = new_sid
        self._new_token = new_token
        self._intake = intake  # read at each use: the runtime swaps in the dispatcher's
        self._on_webhooks = on_webhooks
        self._metrics = metrics
        self._kept: dict[str, Message] = {}  # by SID, oldest first

    async def handle(self, message: InboundMessage) -> str:
        """The `Transport`'s inbound handler: the stored message's SID."""
        return (await self.receive(message)).message.sid

    async def receive(self, message: InboundMessage, *, account_sid: str | None = None) -> Received:
        """Store `message` and all it causes; `account_sid`, when given, must own `To`."""
        write = functools.partial(self._write, inbound=message, account_sid=account_sid)
        try:
            received, confirmation, owed = await self._db.write(write)
        except IntegrityError:  # the same hand-over, stored meanwhile by another node
            received, confirmation, owed = await self._db.write(write)
        self._keep(received.message)
        if received.created:
            self._metrics.inbound.inc()
            if confirmation is not None:
                self._intake().announce(queued_message(confirmation))
            if owed:
                self._on_webhooks()
        return received

    async def check_owner(self, message: InboundMessage, account_sid: str) -> None:
        """Refuse (404) a message to a number that is not `account_sid`'s."""
        country = _country_of(message.from_number)

        def read(conn: Connection) -> None:
            receiver = store.receiver_of(conn, message.to_number, country)
            if receiver is None or receiver.account_sid != account_sid:
                raise _unknown(message)

        await self._db.read(read)

    async def received(self, sid: str, account_sid: str) -> Received:
        """The message a transport's hand-over stored: as `receive` committed or found it
        (kept), else read from the database."""
        kept = self._kept.pop(sid, None)
        if kept is not None and kept.account_sid == account_sid:
            return Received(kept, True)
        found = await self._db.read(lambda conn: message_store.get_message(conn, account_sid, sid))
        if found is None:
            raise errors.NotFound(f"The requested resource {sid} was not found")
        return Received(found, True)

    def _keep(self, message: Message) -> None:
        if len(self._kept) >= KEPT:
            del self._kept[next(iter(self._kept))]
        self._kept[message.sid] = message

    def _write(
        self, conn: Connection, inbound: InboundMessage, account_sid: str | None
    ) -> tuple[Received, Message | None, bool]:
        """The message (and whether it is new), its confirmation, whether a webhook is owed."""
        now = self._clock.now_us()
        known = store.stored_as(conn, inbound.carrier, inbound.carrier_id)
        if known is not None:
            stored = message_store.get_message(conn, account_sid or _any(conn, known), known)
            if stored is None:  # another account's, or deleted since: not this caller's
                raise errors.InvalidParameter(
                    f"The carrier's message id {inbound.carrier_id!r} was already handed over"
                )
            return Received(stored, False), None, False
        from_country = _country_of(inbound.from_number)
        receiver = store.receiver_of(conn, inbound.to_number, from_country)
        if receiver is None or (account_sid is not None and receiver.account_sid != account_sid):
            raise _unknown(inbound)
        service = (
            service_store.get_service(conn, receiver.account_sid, receiver.service_sid)
            if receiver.service_sid
            else None
        )
        config = opt_outs.settings_of(conn, service.sid) if service is not None else None
        scope = ledger.scope_of(receiver.address, receiver.service_sid)
        was_out = opt_outs.is_opted_out(conn, receiver.account_sid, inbound.from_number, scope)
        match = optout.classify(
            inbound.body,
            config,
            country=from_country or None,
            toll_free=receiver.kind is SenderKind.TOLL_FREE,
            opted_out=was_out,
        )
        message, media = self._message(receiver, inbound, now)
        message_store.insert_message(conn, message, media)
        store.remember(conn, inbound.carrier, inbound.carrier_id, message.sid, now)
        confirmation = None
        if match is not None and match.reply:
            confirmation, _ = reply_message(
                Reply(
                    to_number=inbound.from_number,
                    from_number=receiver.address,
                    sender_sid=receiver.sid,
                    body=match.reply,
                ),
                conversation_of(receiver, inbound.from_number),
                self._new_sid,
                now,
            )
            confirmation = replace(confirmation, price="0.00000")  # keyword replies are free
            message_store.insert_message(conn, confirmation)
        if match is not None:
            self._apply(conn, receiver, inbound, message, match, scope, confirmation, now)
        if service is not None and service.sticky_sender:
            _map_texter(conn, service.sid, inbound.from_number, receiver.sid, now)
        target = choose_target(receiver.webhook, service)
        if target is not None:
            params = webhook_params(
                message_sid=message.sid,
                account_sid=receiver.account_sid,
                service_sid=receiver.service_sid,
                message=inbound,
                opt_out_type=optout.opt_out_type_param(match, config),
            )
            store.owe_webhook(
                conn,
                account_sid=receiver.account_sid,
                message_sid=message.sid,
                token=self._new_token(),
                target=target,
                params=params,
                now=now,
            )
        return Received(message, True), confirmation, target is not None

    def _apply(
        self,
        conn: Connection,
        receiver: Receiver,
        inbound: InboundMessage,
        message: Message,
        match: optout.Match,
        scope: ledger.Scope,
        confirmation: Message | None,
        now: int,
    ) -> None:
        """The keyword's effect on the ledger: an opt-out recorded, an opt-in clearing the
        recipient's entries at this scope and the account's."""
        if match.type is optout.OptOutType.STOP:
            entry = ledger.OptOut(
                sid=self._new_sid(Prefix.OPT_OUT),
                account_sid=receiver.account_sid,
                recipient=inbound.from_number,
                scope=scope,
                source=ledger.Source.KEYWORD,
                keyword=match.keyword,
                sender=receiver.address,
                messaging_service_sid=receiver.service_sid,
                message_sid=message.sid,
                confirmation_sid=confirmation.sid if confirmation is not None else None,
                date_created=now,
                date_updated=now,
            )
            opt_outs.record(conn, [entry])
        elif match.type is optout.OptOutType.START:
            opt_outs.remove(
                conn, receiver.account_sid, inbound.from_number, [scope, ledger.ACCOUNT_SCOPE]
            )

    def _message(
        self, receiver: Receiver, inbound: InboundMessage, now: int
    ) -> tuple[Message, list[Media]]:
        sid = self._new_sid(Prefix.MEDIA_MESSAGE if inbound.media else Prefix.MESSAGE)
        encoded = encode_body(inbound.body, smart=False)
        message = Message(
            sid=sid,
            account_sid=receiver.account_sid,
            messaging_service_sid=receiver.service_sid,
            direction=Direction.INBOUND,
            from_number=inbound.from_number,
            to_number=inbound.to_number,
            sender_sid=receiver.sid,
            body=inbound.body,
            status=MessageStatus.RECEIVED,
            encoding=encoded.encoding.value,
            num_segments=inbound.num_segments,
            num_media=len(inbound.media),
            price=inbound_price(inbound.num_segments),
            error_code=inbound.error_code,
            date_sent=now,
            date_created=now,
            date_updated=now,
        )
        media = media_rows(
            self._new_sid,
            receiver.account_sid,
            sid,
            [(item.url, item.content_type) for item in inbound.media],
            now,
        )
        return message, media


def conversation_of(receiver: Receiver, their_address: str) -> Conversation:
    return Conversation(
        account_sid=receiver.account_sid,
        service_sid=receiver.service_sid,
        our_address=receiver.address,
        our_sid=receiver.sid,
        their_address=their_address,
    )


def _map_texter(conn: Connection, service_sid: str, texter: str, sender_sid: str, now: int) -> None:
    """The service answers the texter from the number they texted (Sticky Sender), unless
    their mapping was pinned by hand: a pin moves only when its sender is ineligible."""
    mapped = routing_store.sticky_for(conn, service_sid, [texter]).get(texter)
    if mapped is None or not mapped.pinned:
        routing_store.save_mappings(conn, service_sid, {texter: sender_sid}, now)


def _country_of(address: str) -> str:
    """`place_of(address).country`, without the geocoder's city (only the webhook's form
    needs that)."""
    return country_of(address) or ""


def _unknown(inbound: InboundMessage) -> UnknownRecipient:
    return UnknownRecipient(
        f"{inbound.to_number} is not a phone number or short code of this account."
    )


def _any(conn: Connection, message_sid: str) -> str:
    return message_store.account_of(conn, message_sid) or ""
