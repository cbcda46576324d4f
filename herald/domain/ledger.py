"""The opt-out ledger's values and its one rule: which entries block a send (§11.2).

A keyword to a number outside any service blocks that number ↔ recipient; to a number in
a Messaging Service, the whole service. An import that names neither blocks the whole
account, so a ledger exported from one account still suppresses in a fresh one, whose
services and numbers have other SIDs.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum


class ScopeKind(StrEnum):
    SERVICE = "service"
    SENDER = "sender"
    ACCOUNT = "account"


class Source(StrEnum):
    KEYWORD = "keyword"
    IMPORT = "import"


@dataclass(frozen=True, slots=True, kw_only=True)
class Scope:
    kind: ScopeKind
    value: str  # a service SID, a sender's address, or "" for the account


ACCOUNT_SCOPE = Scope(kind=ScopeKind.ACCOUNT, value="")


def scope_of(sender: str, service_sid: str | None) -> Scope:
    """Where a keyword sent to `sender` counts: its service if it is in one."""
    if service_sid:
        return Scope(kind=ScopeKind.SERVICE, value=service_sid)
    return Scope(kind=ScopeKind.SENDER, value=sender)


@dataclass(frozen=True, slots=True, kw_only=True)
class OptOut:
    sid: str
    account_sid: str
    recipient: str
    scope: Scope
    source: Source
    keyword: str | None
    sender: str | None
    messaging_service_sid: str | None
    message_sid: str | None
    confirmation_sid: str | None  # the opt-out's own confirmation, which still goes out
    date_created: int
    date_updated: int


@dataclass(frozen=True, slots=True)
class Block:
    """One ledger entry as the send check reads it."""

    scope: Scope
    confirmation_sid: str | None


def blocks(
    entries: Iterable[Block],
    *,
    message_sid: str,
    sender: str | None,
    service_sids: Iterable[str | None],
) -> bool:
    """Whether a message from `sender` (if chosen), through any of `service_sids` (the
    message's service and the sender's own), is refused (21610) by these entries."""
    services = {sid for sid in service_sids if sid}
    for entry in entries:
        if entry.confirmation_sid == message_sid:
            continue  # the reply that confirms this very opt-out
        kind, value = entry.scope.kind, entry.scope.value
        if (
            kind is ScopeKind.ACCOUNT
            or (kind is ScopeKind.SERVICE and value in services)
            or (kind is ScopeKind.SENDER and sender is not None and value == sender)
        ):
            return True
    return False
