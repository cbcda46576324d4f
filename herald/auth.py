"""HTTP Basic authentication with an Auth Token or an API key (reference §1.2).

Credentials are compared in constant time. What a username proves is remembered for a
few seconds (`HERALD_AUTH_CACHE_S`), an unknown username included, so the hot path does
not wait on the database and a stream of made-up SIDs costs one read each per period,
answered as fast as a known one (no existence oracle). This process forgets a key the
moment it is deleted and a token the moment it changes; other processes within that
time. The remembered usernames are bounded, oldest forgotten first.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from dataclasses import dataclass

from sqlalchemy.engine import Connection

from herald.clock import Clock
from herald.domain import errors
from herald.domain.access import Caller, Credential
from herald.domain.accounts import hash_secret
from herald.domain.sids import Prefix, is_sid
from herald.store import accounts as account_store
from herald.store.db import Database

MAX_REMEMBERED = 100_000
_NOTHING = hashlib.sha256(b"no such credential").hexdigest()  # compared against when unknown


@dataclass(frozen=True, slots=True)
class _Entry:
    expires_us: int
    secrets: tuple[str, ...]  # the auth tokens, or the hash of an API key's secret
    caller: Caller | None  # None: the username names no credential


class Authenticator:
    def __init__(self, db: Database, clock: Clock, ttl_s: float) -> None:
        self._db = db
        self._clock = clock
        self._ttl_us = int(ttl_s * 1_000_000)
        self._cache: dict[str, _Entry] = {}

    def forget(self, username: str) -> None:
        self._cache.pop(username, None)

    async def authenticate(self, header: str | None, account_sid: str | None) -> Caller:
        """Who the credentials prove; 20003 when they prove none, 20404 when the path
        names another account than theirs (its existence is not revealed)."""
        username, password = _basic(header)
        caller = await self.verify(username, password)
        if account_sid is not None and account_sid != caller.account.sid:
            raise errors.NotFound(f"The requested resource /Accounts/{account_sid} was not found")
        return caller

    async def verify(self, username: str, password: str) -> Caller:
        """Who this username and secret prove (every request, and the console's sign-in);
        20003 if no one. An auth token is compared as it is, a key's secret by its hash."""
        entry = await self._lookup(username)
        presented = password if username.startswith("AC") else hash_secret(password)
        return _proven(entry, presented, entry.secrets)

    async def still_valid(self, username: str, secret_hash: str) -> Caller:
        """Who a credential proves, given the hash of its secret: a console session's
        check that the token it signed in with was not rotated, nor its key deleted."""
        entry = await self._lookup(username)
        known = entry.secrets
        if username.startswith("AC"):  # tokens are kept as they are: compare their hashes
            known = tuple(hash_secret(token) for token in entry.secrets)
        return _proven(entry, secret_hash, known)

    async def _lookup(self, username: str) -> _Entry:
        now = self._clock.now_us()
        entry = self._cache.get(username)
        if entry is not None and entry.expires_us > now:
            return entry
        expires = now + self._ttl_us
        if is_sid(username, Prefix.ACCOUNT) or is_sid(username, Prefix.API_KEY):
            entry = await self._db.read(lambda conn: _load(conn, username, expires))
        else:  # cannot name a credential: nothing to read, nothing worth remembering
            return _Entry(expires, (_NOTHING,), None)
        self._cache.pop(username, None)
        self._cache[username] = entry
        if len(self._cache) > MAX_REMEMBERED:
            del self._cache[next(iter(self._cache))]
        return entry


def _proven(entry: _Entry, presented: str, secrets: tuple[str, ...]) -> Caller:
    """The entry's caller if `presented` is one of `secrets` and its account is active."""
    if not _matches(presented, secrets) or entry.caller is None:
        raise errors.AuthenticationFailed()
    if entry.caller.account.status != "active":
        raise errors.AuthenticationFailed("Authenticate: this account is not active")
    return entry.caller


def _matches(presented: str, secrets: tuple[str, ...]) -> bool:
    """Whether any secret matches, comparing against every one (constant time)."""
    found = False
    for secret in secrets:
        found |= hmac.compare_digest(presented.encode(), secret.encode())
    return found


def _load(conn: Connection, username: str, expires_us: int) -> _Entry:
    if username.startswith("AC"):
        account = account_store.get_account(conn, username)
        if account is not None:
            return _Entry(expires_us, account.auth_tokens, Caller(account, Credential.AUTH_TOKEN))
    else:
        key = account_store.get_key(conn, username)
        owner = account_store.get_account(conn, key.account_sid) if key else None
        if key is not None and owner is not None:
            return _Entry(expires_us, (key.secret_hash,), Caller(owner, Credential.API_KEY))
    return _Entry(expires_us, (_NOTHING,), None)


def _basic(header: str | None) -> tuple[str, str]:
    if not header or not header[:6].lower() == "basic ":
        raise errors.AuthenticationFailed()
    try:
        decoded = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise errors.AuthenticationFailed() from None
    username, sep, password = decoded.partition(":")
    if not sep:
        raise errors.AuthenticationFailed()
    return username, password
