"""HTTP Basic authentication with an Auth Token or an API key (reference §1.2).

Credentials are compared in constant time. Verified credentials are remembered for a
few seconds (`HERALD_AUTH_CACHE_S`) so the hot path does not wait on the database;
this process forgets a key the moment it is deleted, other processes within that time.
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
from herald.domain.accounts import Account
from herald.domain.sids import Prefix, is_sid
from herald.store import accounts as account_store
from herald.store.db import Database


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class _Entry:
    expires_us: int
    secret: str  # the auth token, or the hash of an API key's secret
    account: Account


class Authenticator:
    def __init__(self, db: Database, clock: Clock, ttl_s: float) -> None:
        self._db = db
        self._clock = clock
        self._ttl_us = int(ttl_s * 1_000_000)
        self._cache: dict[str, _Entry] = {}

    def forget(self, username: str) -> None:
        self._cache.pop(username, None)

    async def authenticate(self, header: str | None, account_sid: str | None) -> Account:
        """The account the credentials prove; 20003 when they prove none, 20404 when the
        path names another account than theirs (its existence is not revealed)."""
        username, password = _basic(header)
        entry = await self._lookup(username)
        presented = password if username.startswith("AC") else hash_secret(password)
        if entry is None or not hmac.compare_digest(presented, entry.secret):
            raise errors.AuthenticationFailed()
        if entry.account.status != "active":
            raise errors.AuthenticationFailed("Authenticate: this account is not active")
        if account_sid is not None and account_sid != entry.account.sid:
            raise errors.NotFound(f"The requested resource /Accounts/{account_sid} was not found")
        return entry.account

    async def _lookup(self, username: str) -> _Entry | None:
        now = self._clock.now_us()
        entry = self._cache.get(username)
        if entry is not None and entry.expires_us > now:
            return entry
        entry = await self._db.read(lambda conn: _load(conn, username, now + self._ttl_us))
        if entry is None:
            self._cache.pop(username, None)
        else:
            self._cache[username] = entry
        return entry


def _load(conn: Connection, username: str, expires_us: int) -> _Entry | None:
    if is_sid(username, Prefix.ACCOUNT):
        account = account_store.get_account(conn, username)
        return _Entry(expires_us, account.auth_token, account) if account else None
    if is_sid(username, Prefix.API_KEY):
        key = account_store.get_key(conn, username)
        if key is None:
            return None
        owner = account_store.get_account(conn, key.account_sid)
        return _Entry(expires_us, key.secret_hash, owner) if owner else None
    return None


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
