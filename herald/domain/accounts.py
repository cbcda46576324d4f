"""Accounts and API keys: who may call the API, and with which secret."""

from __future__ import annotations

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


@dataclass(frozen=True, slots=True, kw_only=True)
class ApiKey:
    """An API key; only a hash of its secret is kept, the secret is shown once."""

    sid: str
    account_sid: str
    friendly_name: str
    secret_hash: str
    date_created: int
    date_updated: int
