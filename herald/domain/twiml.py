"""A webhook's answer to an inbound message (reference §10.3), parsed into the replies to
send and where to fetch more.

XML goes through defusedxml with DTDs forbidden, so entity bombs and external entities fail
like any malformed document: 12100. What can be recovered from is kept and reported as
Twilio debugger warnings instead: 12200 (schema: an unknown verb or child, a bad `method`,
more than 10 `<Media>`), 14103 (a `<Message>` with neither body nor media), 14105 (an
`action`/`statusCallback` that is not an http(s) URL), 14109 (more than 10 `<Message>`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar
from urllib.parse import urljoin, urlsplit
from xml.etree.ElementTree import Element, ParseError

import defusedxml.ElementTree as defused  # type: ignore[import-untyped]

from herald.domain.errors import HeraldError

MAX_BYTES = 65_536
MAX_MESSAGES = 10
MAX_MEDIA = 10
XML_TYPES = frozenset({"text/xml", "application/xml", "text/html"})
PLAIN_TYPE = "text/plain"
METHODS = frozenset({"GET", "POST"})
DEFAULT_METHOD = "POST"

SCHEMA_WARNING = 12200
INVALID_BODY = 14103
INVALID_STATUS_CALLBACK = 14105
TOO_MANY_MESSAGES = 14109


class TwimlError(HeraldError):
    """A webhook answer Herald cannot act on. `code` and `message` are Twilio's debugger
    code and wording; `detail` says what was wrong, for the operator."""

    code: ClassVar[int]

    def __init__(self, detail: str = "") -> None:
        self.message = " ".join((type(self).__doc__ or "").split())
        self.detail = detail
        super().__init__(f"{self.message}: {detail}" if detail else self.message)


class DocumentParseFailure(TwimlError):
    """Document parse failure"""

    code = 12100


class InvalidContentType(TwimlError):
    """Invalid Content-Type"""

    code = 12300


class ResponseTooLarge(TwimlError):
    """TwiML response body too large"""

    code = 11750


@dataclass(frozen=True, slots=True, kw_only=True)
class ReplyMessage:
    """One `<Message>` to send; `to` None is the inbound sender, `from_` None the number
    that received it, `action` the created message's status callback."""

    body: str
    media: tuple[str, ...] = ()
    to: str | None = None
    from_: str | None = None
    action: str | None = None
    method: str = DEFAULT_METHOD


@dataclass(frozen=True, slots=True, kw_only=True)
class Redirect:
    """Fetch more TwiML from `url` (already absolute) with `method`."""

    url: str
    method: str = DEFAULT_METHOD


@dataclass(frozen=True, slots=True, kw_only=True)
class Twiml:
    """What an answer asks for; `warnings` are distinct codes, in the order first met."""

    messages: tuple[ReplyMessage, ...] = ()
    redirect: Redirect | None = None
    warnings: tuple[int, ...] = ()


NO_REPLY = Twiml()


def parse_reply(content_type: str | None, body: bytes, *, base_url: str) -> Twiml:
    """The replies in `body`, which `base_url` answered with `content_type`.

    Size is checked first (11750), then emptiness: an empty or all-whitespace body is no
    reply whatever its type. `text/plain` is one reply (UTF-8, trimmed); the XML types
    are TwiML; any other type, or none, is 12300.
    """
    if len(body) > MAX_BYTES:
        raise ResponseTooLarge(f"{len(body)} bytes, over {MAX_BYTES}")
    if not body.strip():
        return NO_REPLY
    media_type = "" if content_type is None else content_type.split(";")[0].strip().lower()
    if media_type == PLAIN_TYPE:
        return _plain(body)
    if media_type in XML_TYPES:
        return _response(_root(body), base_url)
    raise InvalidContentType(f"{content_type!r} is neither TwiML nor text/plain")


def _plain(body: bytes) -> Twiml:
    try:
        text = body.decode("utf-8-sig").strip()
    except UnicodeDecodeError as exc:
        raise DocumentParseFailure("a text/plain answer must be UTF-8") from exc
    return Twiml(messages=(ReplyMessage(body=text),)) if text else NO_REPLY


def _root(body: bytes) -> Element:
    """The `<Response>` element. Expat itself refuses whitespace before `<?xml`; defusedxml
    refuses DTDs (ValueError); a declared encoding Python lacks is a LookupError."""
    try:
        root: Element = defused.fromstring(body, forbid_dtd=True)
    except (ParseError, ValueError, LookupError) as exc:
        raise DocumentParseFailure(str(exc)) from exc
    if root.tag != "Response":
        raise DocumentParseFailure(f"the root element is <{root.tag}>, not <Response>")
    return root


def _response(root: Element, base_url: str) -> Twiml:
    """Messages in order, up to 10; a `<Redirect>` ends the document."""
    messages: list[ReplyMessage] = []
    warnings: list[int] = []
    redirect: Redirect | None = None
    seen = 0
    for verb in root:
        if verb.tag == "Message":
            seen += 1
            if seen > MAX_MESSAGES:
                warnings.append(TOO_MANY_MESSAGES)
                continue
            message = _message(verb, base_url, warnings)
            if message is not None:
                messages.append(message)
        elif verb.tag == "Redirect":
            redirect = _redirect(verb, base_url, warnings)
            break
        else:
            warnings.append(SCHEMA_WARNING)
    return Twiml(
        messages=tuple(messages), redirect=redirect, warnings=tuple(dict.fromkeys(warnings))
    )


def _message(verb: Element, base_url: str, warnings: list[int]) -> ReplyMessage | None:
    """The text is the body, unless a `<Body>` child holds it; `<Media>` children are URLs."""
    body: Element | None = None
    media: list[str] = []
    for noun in verb:
        if noun.tag == "Body" and body is None:
            body = noun
        elif noun.tag == "Media":
            url = (noun.text or "").strip()
            if url:
                media.append(url)
        else:
            warnings.append(SCHEMA_WARNING)  # an unknown child, or a second <Body>
    text = ((verb if body is None else body).text or "").strip()
    if len(media) > MAX_MEDIA:
        warnings.append(SCHEMA_WARNING)
        media = media[:MAX_MEDIA]
    if not text and not media:
        warnings.append(INVALID_BODY)
        return None
    return ReplyMessage(
        body=text,
        media=tuple(media),
        to=_attribute(verb, "to"),
        from_=_attribute(verb, "from"),
        action=_action(verb, base_url, warnings),
        method=_method(verb, warnings),
    )


def _redirect(verb: Element, base_url: str, warnings: list[int]) -> Redirect:
    target = (verb.text or "").strip()
    if not target:
        raise DocumentParseFailure("<Redirect> has no URL")
    url = _resolve(base_url, target)
    if url is None:
        raise DocumentParseFailure(f"<Redirect> to {target!r} is not an http(s) URL")
    return Redirect(url=url, method=_method(verb, warnings))


def _attribute(verb: Element, name: str) -> str | None:
    return verb.get(name, "").strip() or None


def _action(verb: Element, base_url: str, warnings: list[int]) -> str | None:
    """`action`, else the deprecated `statusCallback`, made absolute like a Redirect."""
    target = _attribute(verb, "action") or _attribute(verb, "statusCallback")
    if target is None:
        return None
    url = _resolve(base_url, target)
    if url is None:
        warnings.append(INVALID_STATUS_CALLBACK)
    return url


def _method(verb: Element, warnings: list[int]) -> str:
    method = verb.get("method", DEFAULT_METHOD).strip().upper()
    if method in METHODS:
        return method
    warnings.append(SCHEMA_WARNING)
    return DEFAULT_METHOD


def _resolve(base_url: str, target: str) -> str | None:
    """`target` resolved against the document's URL, or None unless it is http(s)."""
    try:
        url = urljoin(base_url, target)
        parts = urlsplit(url)
    except ValueError:  # such as an unclosed IPv6 bracket
        return None
    return url if parts.scheme in ("http", "https") and parts.hostname else None
