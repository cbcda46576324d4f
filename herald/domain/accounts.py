"""Accounts and API keys: who may call the API, and with which secret."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass


@dataclass(frozen=True, slots=True, kw_only=True)
class Account:
    sid: str
    friendly_name: str
    auth_token: str
    status: str
    is_test: bool
    date_created: int
    date_updated: int
    secondary_auth_token: str | None = None  # valid too, until promoted or deleted
    secondary_date_created: int | None = None

    @property
    def auth_tokens(self) -> tuple[str, ...]:
        """Every token that authenticates this account now."""
        if self.secondary_auth_token is None:
            return (self.auth_token,)
        return (self.auth_token, self.secondary_auth_token)


@dataclass(frozen=True, slots=True, kw_only=True)
class ApiKey:
    """An API key; only a hash of its secret is kept, the secret is shown once."""

    sid: str
    account_sid: str
    friendly_name: str
    secret_hash: str
    date_created: int
    date_updated: int


def hash_secret(secret: str) -> str:
    """What Herald keeps of an API key's secret (the secret is shown once, at creation)."""
    return hashlib.sha256(secret.encode()).hexdigest()
