"""The opt-out ledger and Advanced Opt-Out settings in the database.

The send check reads a recipient's entries by (account, recipient), the unique key's
prefix; lists page newest first by (date_created, sid). The checks of one inbound message
or one send are `RawStatement`s (compiled once).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import orjson
from sqlalchemy import bindparam, delete, select, tuple_, update
from sqlalchemy.engine import Connection

from herald.domain.ledger import Block, OptOut, Scope, ScopeKind, Source, blocks
from herald.domain.optout import AdvancedOptOut
from herald.store.inbound_schema import opt_out_settings, opt_outs
from herald.store.portable import in_chunks, insert_for
from herald.store.raw import RawStatement
from herald.store.schema import service_senders

o = opt_outs.c
_IS_OPTED_OUT = RawStatement(
    select(o.sid).where(
        o.account_sid == bindparam("account_sid"),
        o.recipient == bindparam("recipient"),
        o.scope_kind == bindparam("scope_kind"),
        o.scope == bindparam("scope"),
    )
)
_BLOCKS_OF_ONE = RawStatement(
    select(o.scope_kind, o.scope, o.confirmation_sid).where(
        o.account_sid == bindparam("account_sid"), o.recipient == bindparam("recipient")
    )
)


def _opt_out(row: Any) -> OptOut:
    return OptOut(
        sid=row.sid,
        account_sid=row.account_sid,
        recipient=row.recipient,
        scope=Scope(kind=ScopeKind(row.scope_kind), value=row.scope),
        source=Source(row.source),
        keyword=row.keyword,
        sender=row.sender,
        messaging_service_sid=row.messaging_service_sid,
        message_sid=row.message_sid,
        confirmation_sid=row.confirmation_sid,
        date_created=row.date_created,
        date_updated=row.date_updated,
    )


def _columns(entry: OptOut) -> dict[str, Any]:
    return {
        "sid": entry.sid,
        "account_sid": entry.account_sid,
        "recipient": entry.recipient,
        "scope_kind": entry.scope.kind.value,
        "scope": entry.scope.value,
        "source": entry.source.value,
        "keyword": entry.keyword,
        "sender": entry.sender,
        "messaging_service_sid": entry.messaging_service_sid,
        "message_sid": entry.message_sid,
        "confirmation_sid": entry.confirmation_sid,
        "date_created": entry.date_created,
        "date_updated": entry.date_updated,
    }


_PROVENANCE = ("source", "keyword", "sender", "messaging_service_sid", "message_sid",
               "confirmation_sid", "date_updated")  # fmt: skip


def record(conn: Connection, entries: Sequence[OptOut]) -> None:
    """Add entries; one already there (same recipient and scope) keeps its SID and date
    and takes the newer provenance. Idempotent: recording the same entries twice leaves
    the ledger as once."""
    if not entries:
        return
    stmt = insert_for(conn, opt_outs)
    stmt = stmt.on_conflict_do_update(
        index_elements=["account_sid", "recipient", "scope_kind", "scope"],
        set_={name: stmt.excluded[name] for name in _PROVENANCE},
    )
    for chunk in in_chunks([_columns(e) for e in entries]):
        conn.execute(stmt, chunk)


def remove(conn: Connection, account_sid: str, recipient: str, scopes: Iterable[Scope]) -> int:
    """An opt-in: the recipient's entries at these scopes go."""
    pairs = [(s.kind.value, s.value) for s in scopes]
    if not pairs:
        return 0
    result = conn.execute(
        delete(opt_outs).where(
            o.account_sid == account_sid,
            o.recipient == recipient,
            tuple_(o.scope_kind, o.scope).in_(pairs),
        )
    )
    return int(result.rowcount or 0)


def is_opted_out(conn: Connection, account_sid: str, recipient: str, scope: Scope) -> bool:
    params = {"account_sid": account_sid, "recipient": recipient,
              "scope_kind": scope.kind.value, "scope": scope.value}  # fmt: skip
    return bool(_IS_OPTED_OUT.fetch(conn, params))


def blocks_for(
    conn: Connection, pairs: Iterable[tuple[str, str]]
) -> dict[tuple[str, str], list[Block]]:
    """The ledger entries of each (account, recipient) that has any."""
    wanted = sorted(set(pairs))
    found: dict[tuple[str, str], list[Block]] = {}
    if len(wanted) == 1:  # one send's check (the API's create, a reply)
        account, recipient = wanted[0]
        entries = _BLOCKS_OF_ONE.fetch(conn, {"account_sid": account, "recipient": recipient})
        if entries:
            found[account, recipient] = [
                Block(Scope(kind=ScopeKind(kind), value=scope), confirmation)
                for kind, scope, confirmation in entries
            ]
        return found
    for chunk in in_chunks(wanted):
        rows = conn.execute(
            select(o.account_sid, o.recipient, o.scope_kind, o.scope, o.confirmation_sid).where(
                tuple_(o.account_sid, o.recipient).in_(chunk)
            )
        )
        for account, recipient, kind, scope, confirmation in rows:
            block = Block(Scope(kind=ScopeKind(kind), value=scope), confirmation)
            found.setdefault((account, recipient), []).append(block)
    return found


def services_of(conn: Connection, sender_sids: Iterable[str | None]) -> dict[str, str]:
    """The service each of these senders (PN…, SC…) is in, if any."""
    wanted = sorted({sid for sid in sender_sids if sid})
    found: dict[str, str] = {}
    for chunk in in_chunks(wanted):
        rows = conn.execute(
            select(service_senders.c.sid, service_senders.c.service_sid).where(
                service_senders.c.sid.in_(chunk)
            )
        )
        found.update({sid: service for sid, service in rows})
    return found


@dataclass(frozen=True, slots=True, kw_only=True)
class LedgerFilter:
    recipient: str | None = None
    sender: str | None = None
    service_sid: str | None = None
    created_from: int | None = None  # inclusive, microseconds
    created_before: int | None = None  # exclusive


def list_opt_outs(
    conn: Connection, account_sid: str, where: LedgerFilter, *, limit: int, offset: int
) -> list[OptOut]:
    """Newest first."""
    query = select(opt_outs).where(o.account_sid == account_sid)
    if where.recipient is not None:
        query = query.where(o.recipient == where.recipient)
    if where.sender is not None:
        query = query.where(o.sender == where.sender)
    if where.service_sid is not None:
        query = query.where(o.messaging_service_sid == where.service_sid)
    if where.created_from is not None:
        query = query.where(o.date_created >= where.created_from)
    if where.created_before is not None:
        query = query.where(o.date_created < where.created_before)
    query = query.order_by(o.date_created.desc(), o.sid).limit(limit).offset(offset)
    return [_opt_out(row) for row in conn.execute(query)]


def get_opt_out(conn: Connection, account_sid: str, sid: str) -> OptOut | None:
    row = conn.execute(select(opt_outs).where(o.sid == sid, o.account_sid == account_sid)).first()
    return None if row is None else _opt_out(row)


def delete_opt_out(conn: Connection, account_sid: str, sid: str) -> bool:
    result = conn.execute(delete(opt_outs).where(o.sid == sid, o.account_sid == account_sid))
    return bool(result.rowcount)


# ---- Advanced Opt-Out settings ---------------------------------------------------------


def settings_of(conn: Connection, service_sid: str) -> AdvancedOptOut | None:
    row = conn.execute(
        select(opt_out_settings.c.config).where(opt_out_settings.c.service_sid == service_sid)
    ).first()
    return None if row is None else AdvancedOptOut.from_json(orjson.loads(row[0]))


def save_settings(
    conn: Connection, account_sid: str, service_sid: str, config: AdvancedOptOut, now: int
) -> None:
    text = orjson.dumps(config.to_json()).decode()
    changed = conn.execute(
        update(opt_out_settings)
        .where(opt_out_settings.c.service_sid == service_sid)
        .values(config=text, date_updated=now)
    )
    if not changed.rowcount:
        conn.execute(
            insert_for(conn, opt_out_settings).values(
                service_sid=service_sid, account_sid=account_sid, config=text,
                date_created=now, date_updated=now,
            )
        )  # fmt: skip


def forget_settings(conn: Connection, service_sid: str) -> None:
    conn.execute(delete(opt_out_settings).where(opt_out_settings.c.service_sid == service_sid))


@dataclass(frozen=True, slots=True, kw_only=True)
class Outgoing:
    """What the send check needs of a message about to be accepted or sent."""

    sid: str
    account_sid: str
    to_number: str
    from_number: str | None  # None while a service has not chosen
    sender_sid: str | None
    service_sid: str | None

    @classmethod
    def of(cls, message: _Sendable) -> Outgoing:
        """A stored message or one in flight (`Message`, `QueuedMessage`), as checked."""
        return cls(
            sid=message.sid,
            account_sid=message.account_sid,
            to_number=message.to_number,
            from_number=message.from_number or None,
            sender_sid=message.sender_sid,
            service_sid=message.messaging_service_sid,
        )


class _Sendable(Protocol):
    @property
    def sid(self) -> str: ...
    @property
    def account_sid(self) -> str: ...
    @property
    def to_number(self) -> str: ...
    @property
    def from_number(self) -> str | None: ...
    @property
    def sender_sid(self) -> str | None: ...
    @property
    def messaging_service_sid(self) -> str | None: ...


def opted_out(conn: Connection, outgoing: Sequence[Outgoing]) -> set[str]:
    """The SIDs among `outgoing` the ledger refuses (21610): one read for the batch, and
    one more for the senders' services only when a recipient has entries."""
    entries = blocks_for(conn, [(m.account_sid, m.to_number) for m in outgoing])
    if not entries:
        return set()
    concerned = [m for m in outgoing if (m.account_sid, m.to_number) in entries]
    services = services_of(conn, [m.sender_sid for m in concerned])
    return {
        m.sid
        for m in concerned
        if blocks(
            entries[(m.account_sid, m.to_number)],
            message_sid=m.sid,
            sender=m.from_number or None,
            service_sids=(m.service_sid, services.get(m.sender_sid or "")),
        )
    }
