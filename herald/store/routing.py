"""What routing reads and writes: a service's pool as routing candidates, Sticky Sender
mappings, the messages waiting for a sender (accepted, or scheduled and due), the
routing of each into its sender's queue, and alerts."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict
from typing import Any

from sqlalchemy import and_, bindparam, delete, func, insert, literal_column, select, update
from sqlalchemy.engine import Connection

from herald.domain.alerts import Alert
from herald.domain.message import Message
from herald.domain.numbers import NumberError, parse_number
from herald.domain.queued import QueuedMessage
from herald.domain.routing import Candidate
from herald.domain.senders import SenderKind
from herald.domain.services import Mapping, PoolEntry
from herald.domain.status import MessageStatus, allowed_from
from herald.store.dispatch import QUEUED_COLUMNS, queued_from
from herald.store.messages import get_message
from herald.store.portable import in_chunks, insert_for
from herald.store.raw import RawStatement
from herald.store.schema import (
    alerts,
    incoming_numbers,
    messages,
    service_senders,
    short_codes,
    sticky_mappings,
)

m = messages.c
st = sticky_mappings.c


def pool_entries(conn: Connection, service_sid: str) -> list[PoolEntry]:
    """The service's senders able to send SMS, numbers, short codes and alpha IDs."""
    ss, n, sc = service_senders.c, incoming_numbers.c, short_codes.c
    entries: list[PoolEntry] = []
    numbers = conn.execute(
        select(n.sid, n.phone_number, n.country, n.number_type, n.cap_mms)
        .join(service_senders, ss.sid == n.sid)
        .where(ss.service_sid == service_sid, n.cap_sms.is_(True))
    )
    for row in numbers:
        kind = SenderKind.TOLL_FREE if row.number_type == "toll-free" else SenderKind.LONG_CODE
        entries.append(
            PoolEntry(
                Candidate(
                    sid=row.sid,
                    address=row.phone_number,
                    kind=kind,
                    country=row.country,
                    area_code=_area_code(row.phone_number),
                ),
                bool(row.cap_mms),
            )
        )
    codes = conn.execute(
        select(sc.sid, sc.short_code, sc.country, sc.cap_mms)
        .join(service_senders, ss.sid == sc.sid)
        .where(ss.service_sid == service_sid, sc.cap_sms.is_(True))
    )
    for code in codes:
        entries.append(
            PoolEntry(
                Candidate(
                    sid=code.sid, address=code.short_code, kind=SenderKind.SHORT_CODE,
                    country=code.country,
                ),
                bool(code.cap_mms),
            )
        )  # fmt: skip
    alphas = conn.execute(
        select(ss.sid, ss.alpha_sender, ss.registered_in).where(
            ss.service_sid == service_sid, ss.kind == "alpha_sender"
        )
    )
    for alpha in alphas:
        registered = frozenset(c for c in (alpha.registered_in or "").split(",") if c)
        entries.append(
            PoolEntry(
                Candidate(
                    sid=alpha.sid, address=alpha.alpha_sender, kind=SenderKind.ALPHANUMERIC,
                    registered_in=registered,
                ),
                False,
            )
        )  # fmt: skip
    entries.sort(key=lambda e: e.candidate.sid)
    return entries


def _area_code(e164: str) -> str | None:
    try:
        return parse_number(e164).area_code
    except NumberError:
        return None


# ---- Sticky Sender ------------------------------------------------------------------


def _mapping(row: Any) -> Mapping:
    return Mapping(
        service_sid=row.service_sid,
        to_number=row.to_number,
        sender_sid=row.sender_sid,
        pinned=bool(row.pinned),
        date_created=row.date_created,
        date_updated=row.date_updated,
    )


def sticky_for(conn: Connection, service_sid: str, recipients: Iterable[str]) -> dict[str, Mapping]:
    """The mappings of these recipients in the service."""
    wanted = sorted(set(recipients))
    found: dict[str, Mapping] = {}
    for chunk in in_chunks(wanted):
        rows = conn.execute(
            select(sticky_mappings).where(st.service_sid == service_sid, st.to_number.in_(chunk))
        )
        for row in rows:
            found[row.to_number] = _mapping(row)
    return found


def mapping_counts(conn: Connection, service_sid: str) -> dict[str, int]:
    """How many recipients each sender of the service is mapped to (Scaler's load)."""
    rows = conn.execute(
        select(st.sender_sid, func.count())
        .where(st.service_sid == service_sid)
        .group_by(st.sender_sid)
    )
    return {sender: count for sender, count in rows}


def save_mappings(conn: Connection, service_sid: str, chosen: dict[str, str], now: int) -> None:
    """Map each recipient to its sender: new mappings are made, changed ones moved (a
    pinned mapping is moved only when its sender was no longer eligible)."""
    existing = sticky_for(conn, service_sid, chosen)
    fresh = [
        {"service_sid": service_sid, "to_number": to, "sender_sid": sender, "pinned": False,
         "date_created": now, "date_updated": now}
        for to, sender in chosen.items() if to not in existing
    ]  # fmt: skip
    moved = [
        {"b_service": service_sid, "b_to": to, "b_sender": sender, "b_now": now}
        for to, sender in chosen.items()
        if to in existing and existing[to].sender_sid != sender
    ]
    if fresh:  # another node may have mapped the recipient meanwhile: its mapping stands
        conn.execute(insert_for(conn, sticky_mappings).on_conflict_do_nothing(), fresh)
    if moved:
        conn.execute(
            update(sticky_mappings)
            .where(st.service_sid == bindparam("b_service"), st.to_number == bindparam("b_to"))
            .values(sender_sid=bindparam("b_sender"), date_updated=bindparam("b_now")),
            moved,
        )


def touch_mappings(conn: Connection, service_sid: str, recipients: Sequence[str], now: int) -> None:
    """Mark these mappings used now (the retention policy counts from the last use)."""
    if recipients:
        conn.execute(
            update(sticky_mappings)
            .where(st.service_sid == service_sid, st.to_number == bindparam("b_to"))
            .values(date_updated=now),
            [{"b_to": to} for to in recipients],
        )


def forget_unused_mappings(conn: Connection, unused_since: int) -> int:
    """Delete the mappings not used since then, except those pinned by hand (§6.4: a
    mapping unused for a year is deleted); how many."""
    result = conn.execute(
        delete(sticky_mappings).where(st.date_updated < unused_since, st.pinned.is_(False))
    )
    return int(result.rowcount)


def list_mappings(
    conn: Connection, service_sid: str, *, limit: int, offset: int, sender_sid: str | None
) -> list[Mapping]:
    query = select(sticky_mappings).where(st.service_sid == service_sid)
    if sender_sid is not None:
        query = query.where(st.sender_sid == sender_sid)
    rows = conn.execute(query.order_by(st.to_number).limit(limit).offset(offset))
    return [_mapping(row) for row in rows]


def get_mapping(conn: Connection, service_sid: str, to_number: str) -> Mapping | None:
    found = sticky_for(conn, service_sid, [to_number])
    return found.get(to_number)


def pin_mapping(
    conn: Connection, service_sid: str, to_number: str, sender_sid: str, now: int
) -> Mapping:
    """Set the recipient's sender by hand; routing keeps it while the sender is eligible."""
    statement = insert_for(conn, sticky_mappings).values(
        service_sid=service_sid, to_number=to_number, sender_sid=sender_sid, pinned=True,
        date_created=now, date_updated=now,
    )  # fmt: skip
    conn.execute(
        statement.on_conflict_do_update(
            index_elements=[st.service_sid, st.to_number],
            set_={"sender_sid": sender_sid, "pinned": True, "date_updated": now},
        )
    )
    found = get_mapping(conn, service_sid, to_number)
    assert found is not None
    return found


def delete_mapping(conn: Connection, service_sid: str, to_number: str) -> bool:
    result = conn.execute(
        delete(sticky_mappings).where(st.service_sid == service_sid, st.to_number == to_number)
    )
    return result.rowcount > 0


# ---- messages waiting for a sender ----------------------------------------------------


def load_unrouted(conn: Connection, *, now: int, limit: int) -> list[QueuedMessage]:
    """Messages a service must route: accepted ones, and scheduled ones now due."""
    accepted = conn.execute(
        select(*QUEUED_COLUMNS)
        .where(m.status == MessageStatus.ACCEPTED.value)
        .order_by(m.id)
        .limit(limit)
    )
    due = conn.execute(
        select(*QUEUED_COLUMNS)
        .where(m.status == literal_column("'scheduled'"), m.send_at <= now)
        .order_by(m.send_at)
        .limit(limit)
    )
    return [queued_from(row) for row in [*accepted, *due]]


def _queued_guard() -> Any:
    return m.status.in_(
        [literal_column(f"'{s.value}'") for s in allowed_from(MessageStatus.QUEUED)]
    )


def _routing(renumber: bool) -> RawStatement:
    values: dict[str, Any] = {
        "status": literal_column(f"'{MessageStatus.QUEUED.value}'"),
        "from_number": bindparam("b_from"),
        "sender_sid": bindparam("b_sender"),
        "routing": bindparam("b_routing"),
        "mms_link": bindparam("b_mms_link"),
        "num_segments": bindparam("b_segments"),
        "date_updated": bindparam("b_now"),
    }
    if renumber:
        values["id"] = func.nextval(func.pg_get_serial_sequence("messages", "id"))
    return RawStatement(
        update(messages).where(and_(m.sid == bindparam("b_sid"), _queued_guard())).values(**values)
    )


_ROUTE = {False: _routing(False), True: _routing(True)}


def route_messages(conn: Connection, routed: Sequence[dict[str, Any]]) -> list[bool]:
    """Put each message (b_sid) on its sender (b_from, b_sender) with its explanation
    (b_routing), its MMS Converter link (b_mms_link) and segments (b_segments), if it
    still waits for one; whether each did. On PostgreSQL the row takes
    a new id, so the node holding the sender's lease finds it by its recent-id intake."""
    statement = _ROUTE[conn.dialect.name == "postgresql"]
    return [count > 0 for count in statement.run_each(conn, routed)]


def set_routing(conn: Connection, pairs: Sequence[tuple[str, str]]) -> None:
    """Keep the explanation of messages that failed routing."""
    if pairs:
        conn.execute(
            update(messages)
            .where(m.sid == bindparam("b_sid"))
            .values(routing=bindparam("b_routing")),
            [{"b_sid": sid, "b_routing": routing} for sid, routing in pairs],
        )


def routing_of(conn: Connection, account_sid: str, sid: str) -> tuple[Message, str | None] | None:
    """The message and its stored routing explanation, if the account has it."""
    message = get_message(conn, account_sid, sid)
    if message is None:
        return None
    return message, conn.execute(select(m.routing).where(m.sid == sid)).scalar_one_or_none()


def count_scheduled(conn: Connection, account_sid: str) -> int:
    return int(
        conn.execute(
            select(func.count()).where(
                m.account_sid == account_sid, m.status == MessageStatus.SCHEDULED.value
            )
        ).scalar_one()
    )


# ---- alerts ---------------------------------------------------------------------------


def insert_alerts(conn: Connection, items: Sequence[Alert]) -> None:
    if items:
        conn.execute(insert(alerts), [asdict(a) for a in items])


def list_alerts(conn: Connection, account_sid: str, *, limit: int, offset: int) -> list[Alert]:
    a = alerts.c
    rows = conn.execute(
        select(alerts)
        .where(a.account_sid == account_sid)
        .order_by(a.date_created.desc(), a.sid)
        .limit(limit)
        .offset(offset)
    )
    return [Alert(**row._mapping) for row in rows]


def get_alert(conn: Connection, account_sid: str, sid: str) -> Alert | None:
    a = alerts.c
    row = conn.execute(select(alerts).where(a.sid == sid, a.account_sid == account_sid)).first()
    if row is None:
        return None
    return Alert(**row._mapping)
