"""A plain Twilio-shaped stub of the 2010-04-01 Messages API, sharing no code with Herald.

The `herald campaign` tests point the tool at it to prove it speaks only Twilio's public
REST API. One account in memory, HTTP Basic auth, statuses derived lazily from the
creation time (no background task), planted inbound replies, and faults a test switches
on: 429 or 503 without creating, or a connection dropped after creating. Like Twilio, it
ignores `Idempotency-Key`, so a client cannot lean on it here.
"""

from __future__ import annotations

import base64
import binascii
import collections
import functools
import json
import operator
import re
import secrets
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

API_VERSION = "2010-04-01"
E164 = re.compile(r"^\+[1-9]\d{1,14}$")
_ACCOUNT_SID = re.compile(r"^AC[0-9a-fA-F]{32}$")
_PATH = re.compile(rf"^/{API_VERSION}/Accounts/(?P<account>[^/]+)/(?P<rest>.+)$")
_MESSAGE_PATH = re.compile(r"^Messages/(?P<sid>[A-Z]{2}[0-9a-fA-F]{32})\.json$")
_DATE_SENT = ("DateSent", "DateSent<", "DateSent>")
_COMPARE = {"DateSent<": operator.le, "DateSent>": operator.ge}
# Outbound life after queued/accepted; the last step is the outcome.
_STEPS = {
    "delivered": ("sending", "sent", "delivered"),
    "undelivered": ("sending", "sent", "undelivered"),
    "failed": ("sending", "failed"),
}
_DELIVERY_ERRORS = {
    "undelivered": (30003, "Unreachable destination handset"),
    "failed": (30008, "Unknown error"),
}
# An IncomingPhoneNumber's fields that the stub never varies.
# fmt: off
_NUMBER_FIELDS: dict[str, Any] = {
    "address_requirements": "none", "address_sid": None, "api_version": API_VERSION,
    "beta": False, "capabilities": {"voice": True, "sms": True, "mms": True, "fax": False},
    "identity_sid": None, "origin": "twilio", "sms_application_sid": "",
    "sms_fallback_method": "POST", "sms_fallback_url": "", "sms_method": "POST", "sms_url": "",
    "status_callback": "", "status_callback_method": "POST", "trunk_sid": None,
    "voice_receive_mode": "voice", "voice_application_sid": "", "voice_caller_id_lookup": False,
    "voice_fallback_method": "POST", "voice_fallback_url": "", "voice_method": "POST",
    "voice_url": "", "emergency_status": "Inactive", "emergency_address_sid": None,
    "emergency_address_status": "unregistered", "bundle_sid": None, "status": "in-use",
    "type": "local",
}
# fmt: on
_GSM7 = (
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_GSM7_EXTENSION = "^{}\\[~]|€\f"  # each costs an escape septet too


class StubError(Exception):
    """A Twilio error answer, rendered as `{code, message, more_info, status}`."""

    def __init__(
        self, status: int, code: int, message: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.headers = headers or {}

    def answer(self) -> Answer:
        more_info = f"https://www.twilio.com/docs/errors/{self.code}"
        body = {"code": self.code, "message": self.message, "more_info": more_info}
        return Answer(
            status=self.status, body={**body, "status": self.status}, headers=self.headers
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class Answer:
    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class StubMessage:
    """A message as stored; what it looks like at a given time comes from `state_at`."""

    sid: str
    to: str
    from_: str | None  # None until a Messaging Service picks a sender
    body: str
    direction: str  # "outbound-api" or "inbound"
    created_at: datetime
    outcome: str  # "delivered", "undelivered", "failed", or "received" (inbound)
    messaging_service_sid: str | None = None
    status_callback: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class MessageState:
    status: str
    from_: str | None
    date_sent: datetime | None
    date_updated: datetime
    error_code: int | None = None
    error_message: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class _Request:
    path: str
    query: dict[str, str]
    form: dict[str, str]
    sid: str | None


def state_at(message: StubMessage, now: datetime, step: float, sender: str | None) -> MessageState:
    """Step i of the message's life is reached `i * step` seconds after it was created."""
    if message.direction == "inbound":
        at = message.created_at
        return MessageState(status="received", from_=message.from_, date_sent=at, date_updated=at)
    statuses = ("queued" if message.from_ else "accepted", *_STEPS[message.outcome])
    elapsed = (now - message.created_at).total_seconds()
    reached = len(statuses) - 1 if step <= 0 else int(max(elapsed, 0) / step)
    reached = min(reached, len(statuses) - 1)
    status = statuses[reached]
    sent_step = statuses.index("sent") if "sent" in statuses else len(statuses)
    error_code, error_message = _DELIVERY_ERRORS.get(status, (None, None))
    return MessageState(
        status=status,
        from_=message.from_ or (sender if reached else None),
        date_sent=_after(message, sent_step, step) if reached >= sent_step else None,
        date_updated=_after(message, reached, step),
        error_code=error_code,
        error_message=error_message,
    )


def _after(message: StubMessage, steps: int, step: float) -> datetime:
    return message.created_at + timedelta(seconds=max(step, 0) * steps)


def count_segments(body: str) -> int:
    """GSM-7 fits 160 septets alone or 153 per part, UCS-2 70 / 67 units; a part never
    splits an escape pair or a surrogate pair, so a long body may need one part more."""
    if all(char in _GSM7 or char in _GSM7_EXTENSION for char in body):
        costs, single, part = [1 + (char in _GSM7_EXTENSION) for char in body], 160, 153
    else:
        costs, single, part = [len(char.encode("utf-16-le")) // 2 for char in body], 70, 67
    if sum(costs) <= single:
        return 1
    parts, used = 1, 0
    for cost in costs:
        if used + cost > part:
            parts, used = parts + 1, 0
        used += cost
    return parts


def _rfc2822(moment: datetime | None) -> str | None:
    """Twilio's `Fri, 09 Jul 2021 15:58:57 +0000`, always GMT, whole seconds."""
    return None if moment is None else format_datetime(_to_second(moment))


def _to_second(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(microsecond=0)


def _not_found(path: str) -> StubError:
    return StubError(404, 20404, f"The requested resource {path} was not found")


def _new_sid(prefix: str) -> str:
    return prefix + secrets.token_hex(16)


def _date_test(name: str, raw: str) -> Callable[[datetime], bool]:
    """Inclusive, like Twilio. `DateSent` matches a day (the twilio client sends a date as
    its midnight); `DateSent<`/`DateSent>` compare days for a date, whole seconds for a
    date-time."""
    try:
        if len(raw) == 10 or name == "DateSent":
            day = date.fromisoformat(raw[:10])
        else:
            moment = datetime.fromisoformat(raw)
    except ValueError:
        raise StubError(400, 20001, f"Invalid {name}: {raw}") from None
    if name == "DateSent":
        return lambda sent: sent.astimezone(UTC).date() == day
    compare = _COMPARE[name]
    if len(raw) == 10:
        return lambda sent: bool(compare(sent.astimezone(UTC).date(), day))
    moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return lambda sent: bool(compare(_to_second(sent), moment))


def _message_tests(query: dict[str, str]) -> list[Callable[[StubMessage, MessageState], bool]]:
    tests: list[Callable[[StubMessage, MessageState], bool]] = []
    if "To" in query:
        tests.append(lambda message, state: message.to == query["To"])
    if "From" in query:
        tests.append(lambda message, state: state.from_ == query["From"])
    tests.extend(_sent_test(name, query[name]) for name in _DATE_SENT if name in query)
    return tests


def _sent_test(name: str, raw: str) -> Callable[[StubMessage, MessageState], bool]:
    """A message not sent yet has no date_sent, so no DateSent filter finds it."""
    test = _date_test(name, raw)
    return lambda message, state: state.date_sent is not None and test(state.date_sent)


def _page_size(query: dict[str, str]) -> int:
    try:
        size = int(query.get("PageSize", "50"))
    except ValueError:
        raise StubError(400, 20001, "Invalid PageSize") from None
    if size < 1:
        raise StubError(400, 20001, "Invalid PageSize")
    return min(size, 1000)


def _page_start(items: Sequence[dict[str, Any]], query: dict[str, str], size: int) -> int:
    """`PageToken` is PA/PB plus the sid just before/after the page, like Twilio's."""
    token = query.get("PageToken")
    if not token:
        page = query.get("Page", "0")
        return int(page) * size if page.isdigit() else 0
    sids = [item["sid"] for item in items]
    if token[2:] not in sids or token[:2] not in ("PA", "PB"):
        raise StubError(400, 20001, f"Invalid PageToken: {token}")
    index = sids.index(token[2:])
    return index + 1 if token.startswith("PA") else max(index - size, 0)


def paginate(
    items: Sequence[dict[str, Any]], key: str, path: str, query: dict[str, str], filters: list[str]
) -> dict[str, Any]:
    """Twilio's list envelope; `next_page_uri` is null on the last page."""
    size = _page_size(query)
    start = _page_start(items, query, size)
    chunk = list(items[start : start + size])
    number = start // size
    kept = [(name, query[name]) for name in filters if name in query]

    def uri(page: int, token: str | None = None) -> str:
        params = [*kept, ("PageSize", str(size)), ("Page", str(page))]
        return f"{path}?{urlencode(params + ([('PageToken', token)] if token else []))}"

    has_next = chunk and start + size < len(items)
    has_previous = start > 0 and chunk
    return {
        "first_page_uri": uri(0),
        "end": start + max(len(chunk) - 1, 0),
        "previous_page_uri": uri(number - 1, "PB" + chunk[0]["sid"]) if has_previous else None,
        key: chunk,
        "uri": uri(number, query.get("PageToken")),
        "page_size": size,
        "start": start,
        "next_page_uri": uri(number + 1, "PA" + chunk[-1]["sid"]) if has_next else None,
        "page": number,
    }


def _route(path: str) -> tuple[str, str | None, str | None]:
    """(kind, account, sid): kind names the resource, for counting and dispatch."""
    match = _PATH.match(path)
    if match is None:
        return "unknown", None, None
    rest = match["rest"]
    if rest in ("IncomingPhoneNumbers.json", "Messages.json"):
        return rest.removesuffix(".json"), match["account"], None
    if found := _MESSAGE_PATH.match(rest):
        return "Message", match["account"], found["sid"]
    return "unknown", None, None


class TwilioStub:
    """One Twilio account behind a threaded HTTP server on 127.0.0.1 (a free port)."""

    def __init__(
        self,
        account_sid: str,
        auth_token: str,
        numbers: Iterable[str] = (),
        *,
        step_delay: float = 0.05,
        undelivered_to: Iterable[str] = (),
        failed_to: Iterable[str] = (),
        rate_limit_every: int = 0,
        retry_after: float = 1,
        unavailable_every: int = 0,
        drop_every: int = 0,
        require_owned_from: bool = True,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        if not _ACCOUNT_SID.match(account_sid):
            raise ValueError(f"account_sid must be AC + 32 hex digits, not {account_sid!r}")
        self.account_sid, self.auth_token = account_sid, auth_token
        self.numbers = list(numbers)
        if bad := [number for number in self.numbers if not E164.match(number)]:
            raise ValueError(f"numbers must be E.164: {bad}")
        self.step_delay = step_delay
        self.undelivered_to, self.failed_to = set(undelivered_to), set(failed_to)
        self.rate_limit_every, self.retry_after = rate_limit_every, retry_after
        self.unavailable_every, self.drop_every = unavailable_every, drop_every
        self.require_owned_from = require_owned_from
        self.clock = clock or (lambda: datetime.now(UTC))
        self.request_counts: collections.Counter[tuple[str, str]] = collections.Counter()
        self.posts = self.rate_limited = self.unavailable = self.dropped = 0
        self._messages: list[StubMessage] = []
        self._number_sids = {number: _new_sid("PN") for number in self.numbers}
        self._opened = self.clock()
        self._lock = threading.RLock()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle

    def start(self) -> TwilioStub:
        if self._server is not None:
            raise RuntimeError("the stub is already running")
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.stub = self
        # A short poll keeps stop() quick; serve_forever notices shutdown only between polls.
        serve = functools.partial(self._server.serve_forever, poll_interval=0.01)
        self._thread = threading.Thread(target=serve, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is None or self._thread is None:
            return
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()
        self._server = self._thread = None

    def __enter__(self) -> TwilioStub:
        return self.start()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        if self._server is None:
            raise RuntimeError("the stub is not running")
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    # -- what a test plants and reads

    def receive(self, from_: str, to: str, body: str, at: datetime | None = None) -> str:
        """Plant an inbound message (a recipient's reply, e.g. STOP); returns its sid."""
        moment = at or self.clock()
        moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
        message = StubMessage(
            sid=_new_sid("SM"),
            to=to,
            from_=from_,
            body=body,
            direction="inbound",
            created_at=moment,
            outcome="received",
        )
        with self._lock:
            self._messages.append(message)
        return message.sid

    @property
    def created(self) -> list[StubMessage]:
        """Outbound messages created through the API, in creation order."""
        with self._lock:
            return [m for m in self._messages if m.direction == "outbound-api"]

    def message(self, sid: str) -> dict[str, Any]:
        """The message as a GET would render it now (KeyError if unknown)."""
        with self._lock:
            found = {m.sid: m for m in self._messages}[sid]
            return self._render(found, self.clock())

    def outcome_for(self, to: str) -> str:
        """The final status a message to `to` reaches: configured, never random."""
        if to in self.failed_to:
            return "failed"
        return "undelivered" if to in self.undelivered_to else "delivered"

    # -- HTTP

    def handle(
        self, method: str, target: str, authorization: str | None, body: bytes
    ) -> Answer | None:
        """Answer one request; None means drop the connection without an answer."""
        url = urlsplit(target)
        kind, account, sid = _route(url.path)
        query = dict(parse_qsl(url.query, keep_blank_values=True))
        form = dict(parse_qsl(body.decode(errors="replace"), keep_blank_values=True))
        request = _Request(path=url.path, query=query, form=form, sid=sid)
        with self._lock:
            self.request_counts[(method, kind)] += 1
            try:
                self._authenticate(authorization)
                if kind == "unknown" or account != self.account_sid:
                    raise _not_found(url.path)
                return self._dispatch(method, kind, request)
            except StubError as error:
                return error.answer()

    def _authenticate(self, authorization: str | None) -> None:
        scheme, _, encoded = (authorization or "").partition(" ")
        try:
            username, _, password = base64.b64decode(encoded).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            username = password = ""
        expected = f"{self.account_sid}:{self.auth_token}"
        if scheme.lower() != "basic" or not secrets.compare_digest(
            f"{username}:{password}".encode(), expected.encode()
        ):
            challenge = {"WWW-Authenticate": 'Basic realm="Twilio API"'}
            raise StubError(401, 20003, "Authenticate", challenge)

    def _dispatch(self, method: str, kind: str, request: _Request) -> Answer | None:
        handlers: dict[tuple[str, str], Callable[[_Request], Answer | None]] = {
            ("GET", "IncomingPhoneNumbers"): self._list_numbers,
            ("GET", "Messages"): self._list_messages,
            ("POST", "Messages"): self._create_message,
            ("GET", "Message"): self._fetch_message,
        }
        handler = handlers.get((method, kind))
        if handler is None:
            raise StubError(405, 20004, "Method not allowed")
        return handler(request)

    def _create_message(self, request: _Request) -> Answer | None:
        self.posts += 1
        if self.rate_limit_every and self.posts % self.rate_limit_every == 0:
            self.rate_limited += 1
            retry_after = {"Retry-After": f"{self.retry_after:g}"}
            raise StubError(429, 20429, "Too Many Requests", retry_after)
        if self.unavailable_every and self.posts % self.unavailable_every == 0:
            self.unavailable += 1
            raise StubError(503, 20503, "Service Unavailable")
        message = self._new_outbound(request.form)
        self._messages.append(message)
        if self.drop_every and self.posts % self.drop_every == 0:
            self.dropped += 1
            return None
        return Answer(status=201, body=self._render(message, self.clock()))

    def _new_outbound(self, form: dict[str, str]) -> StubMessage:
        to, from_ = form.get("To", ""), form.get("From") or None
        service, body = form.get("MessagingServiceSid") or None, form.get("Body", "")
        if not to:
            raise StubError(400, 21604, "A 'To' phone number is required.")
        if not E164.match(to):
            raise StubError(400, 21211, f"The 'To' number {to} is not a valid phone number.")
        if from_ is None and service is None:
            raise StubError(400, 21603, "A 'From' phone number is required.")
        if from_ is not None and self.require_owned_from and from_ not in self.numbers:
            text = f"The From phone number {from_} is not a valid, SMS-capable inbound phone number"
            raise StubError(400, 21606, f"{text} or short code for your account.")
        if not body:
            raise StubError(400, 21602, "Message body is required.")
        if len(body) > 1600:
            text = "The concatenated message body exceeds the 1600 character limit."
            raise StubError(400, 21617, text)
        return StubMessage(
            sid=_new_sid("SM"),
            to=to,
            from_=from_,
            body=body,
            direction="outbound-api",
            created_at=self.clock(),
            outcome=self.outcome_for(to),
            messaging_service_sid=service,
            status_callback=form.get("StatusCallback"),
        )

    def _fetch_message(self, request: _Request) -> Answer:
        try:
            return Answer(status=200, body=self.message(request.sid or ""))
        except KeyError:
            raise _not_found(request.path) from None

    def _list_messages(self, request: _Request) -> Answer:
        now, tests = self.clock(), _message_tests(request.query)
        newest_first = sorted(reversed(self._messages), key=lambda m: m.created_at, reverse=True)
        sender = self.numbers[0] if self.numbers else None
        kept = [
            self._render(message, now)
            for message in newest_first
            if all(test(message, state_at(message, now, self.step_delay, sender)) for test in tests)
        ]
        envelope = paginate(
            kept, "messages", request.path, request.query, ["To", "From", *_DATE_SENT]
        )
        return Answer(status=200, body=envelope)

    def _list_numbers(self, request: _Request) -> Answer:
        pattern = request.query.get("PhoneNumber", "")
        wanted = re.compile(re.escape(pattern).replace(r"\*", r"\d"))
        numbers = [self._render_number(n) for n in self.numbers if wanted.search(n)]
        key, filters = "incoming_phone_numbers", ["PhoneNumber"]
        envelope = paginate(numbers, key, request.path, request.query, filters)
        return Answer(status=200, body=envelope)

    # -- rendering (the 2010-04-01 field names, as in Twilio's OpenAPI spec)

    def _render(self, message: StubMessage, now: datetime) -> dict[str, Any]:
        sender = self.numbers[0] if self.numbers else None
        state = state_at(message, now, self.step_delay, sender)
        uri = f"/{API_VERSION}/Accounts/{self.account_sid}/Messages/{message.sid}"
        return {
            "account_sid": self.account_sid,
            "api_version": API_VERSION,
            "body": message.body,
            "date_created": _rfc2822(message.created_at),
            "date_sent": _rfc2822(state.date_sent),
            "date_updated": _rfc2822(state.date_updated),
            "direction": message.direction,
            "error_code": state.error_code,
            "error_message": state.error_message,
            "from": state.from_,
            "messaging_service_sid": message.messaging_service_sid,
            "num_media": "0",
            "num_segments": str(count_segments(message.body)),
            "price": None,
            "price_unit": "USD",
            "sid": message.sid,
            "status": state.status,
            "subresource_uris": {"media": f"{uri}/Media.json", "feedback": f"{uri}/Feedback.json"},
            "to": message.to,
            "uri": f"{uri}.json",
        }

    def _render_number(self, number: str) -> dict[str, Any]:
        sid, opened = self._number_sids[number], _rfc2822(self._opened)
        nanp = len(number) == 12 and number.startswith("+1")
        return {
            **_NUMBER_FIELDS,
            "account_sid": self.account_sid,
            "date_created": opened,
            "date_updated": opened,
            "friendly_name": f"({number[2:5]}) {number[5:8]}-{number[8:]}" if nanp else number,
            "phone_number": number,
            "sid": sid,
            "uri": f"/{API_VERSION}/Accounts/{self.account_sid}/IncomingPhoneNumbers/{sid}.json",
        }


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    stub: TwilioStub


class _Handler(BaseHTTPRequestHandler):
    """HTTP/1.0, one request per connection: a dropped answer is simply a closed socket."""

    server: _Server

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        authorization = self.headers.get("Authorization")
        answer = self.server.stub.handle(self.command, self.path, authorization, body)
        if answer is None:
            self.close_connection = True
            return
        payload = json.dumps(answer.body).encode()
        self.send_response(answer.status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(payload)))
        for name, value in answer.headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _serve

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: tests read the counters instead."""
