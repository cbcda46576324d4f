"""Signing in to the console, and knowing who is signed in.

A session is a random token in an `HttpOnly`, `SameSite=Strict` cookie (`Secure` when the
console is reached over https), stored only as its SHA-256 in `console_sessions`, so it
works on every API node and sign-out ends it everywhere. It ends after
`HERALD_CONSOLE_IDLE_S` unused and `HERALD_CONSOLE_MAX_S` after sign-in, and at once when
the auth token it signed in with is rotated or its API key deleted. Every form post
carries the session's CSRF token and must come from the console's own origin.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import Response

from herald.api.requests import runtime_of
from herald.domain import errors
from herald.domain.access import Caller
from herald.domain.accounts import hash_secret
from herald.store import console_sessions as store
from herald.store.console_sessions import ConsoleSession

COOKIE = "herald_console"
PREFIX = "/console"


class SignInRequired(Exception):
    """No valid session: the browser goes to the sign-in page."""


class ForgedPost(Exception):
    """A form post without this session's CSRF token, or from another origin."""


@dataclass(frozen=True, slots=True, kw_only=True)
class SignedIn:
    caller: Caller
    session: ConsoleSession

    @property
    def account_sid(self) -> str:
        return self.caller.account.sid

    @property
    def csrf(self) -> str:
        return self.session.csrf


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def sign_in(request: Request, username: str, password: str) -> tuple[str, SignedIn]:
    """A new session for these credentials (20003 when they prove no one); its token."""
    runtime = runtime_of(request)
    caller = await runtime.auth.verify(username, password)
    now = runtime.clock.now_us()
    token = runtime.new_secret() + runtime.new_secret()
    settings = runtime.settings
    session = ConsoleSession(
        token_hash=_hash(token), account_sid=caller.account.sid, username=username,
        secret_hash=hash_secret(password), csrf=runtime.new_secret(), created_at=now,
        seen_at=now, expires_at=now + settings.console_max_s * 1_000_000,
    )  # fmt: skip

    def write(conn: object) -> None:
        store.remove_expired(conn, now)  # type: ignore[arg-type]
        store.create(conn, session)  # type: ignore[arg-type]

    await runtime.db.write(write)
    return token, SignedIn(caller=caller, session=session)


async def signed_in(request: Request) -> SignedIn:
    """The request's session, still valid and now touched; SignInRequired otherwise."""
    token = request.cookies.get(COOKIE)
    if not token:
        raise SignInRequired()
    runtime = runtime_of(request)
    token_hash = _hash(token)
    session = await runtime.db.read(lambda conn: store.find(conn, token_hash))
    now = runtime.clock.now_us()
    idle_us = runtime.settings.console_idle_s * 1_000_000
    if session is None or now >= session.expires_at or now - session.seen_at >= idle_us:
        if session is not None:
            await runtime.db.write(lambda conn: store.remove(conn, token_hash))
        raise SignInRequired()
    try:
        caller = await runtime.auth.still_valid(session.username, session.secret_hash)
    except errors.TwilioError:
        await runtime.db.write(lambda conn: store.remove(conn, token_hash))
        raise SignInRequired() from None
    if now - session.seen_at > 10_000_000:  # at most one write per ten seconds of use
        await runtime.db.write(lambda conn: store.touch(conn, token_hash, now))
    return SignedIn(caller=caller, session=session)


async def sign_out(request: Request) -> None:
    token = request.cookies.get(COOKIE)
    if token:
        token_hash = _hash(token)
        await runtime_of(request).db.write(lambda conn: store.remove(conn, token_hash))


def check_post(request: Request, signed: SignedIn, form_token: str | None) -> None:
    """Refuse a post without the session's CSRF token or from another origin."""
    if not form_token or not hmac.compare_digest(form_token, signed.csrf):
        raise ForgedPost()
    origin = request.headers.get("origin")
    if origin is not None and origin != _own_origin(request):
        raise ForgedPost()


def _own_origin(request: Request) -> str:
    return f"{request.url.scheme}://{request.url.netloc}"


def set_cookie(request: Request, response: Response, token: str) -> None:
    settings = runtime_of(request).settings
    secure = request.url.scheme == "https" or (settings.public_url or "").startswith("https:")
    response.set_cookie(
        COOKIE, token, max_age=settings.console_max_s, path=PREFIX, httponly=True,
        samesite="strict", secure=secure,
    )  # fmt: skip


def clear_cookie(response: Response) -> None:
    response.delete_cookie(COOKIE, path=PREFIX, httponly=True, samesite="strict")
