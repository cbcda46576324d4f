"""What the console's live view reads, for one account: the messages waiting per sender,
the last minutes' sends, receipts and outcomes, and the callbacks still owed. Each query
is bounded by an index: waiting statuses (a queue's size is capped by the overflow rule),
a `date_sent` window, the account's newest rows, or pending callbacks — so a page polling
every two seconds costs little however long the account's history."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, case, func, literal_column, select
from sqlalchemy.engine import Connection

from herald.domain.queued import sender_mps
from herald.domain.ratelimit import INTERNATIONAL_MPS
from herald.domain.status import Direction, MessageStatus
from herald.store.dispatch import sender
from herald.store.inbound_schema import inbound_webhooks
from herald.store.schema import callbacks, messages

m = messages.c
S = MessageStatus
WAITING = (S.ACCEPTED, S.QUEUED, S.SENDING)
DELIVERED = frozenset({S.DELIVERED.value, S.READ.value})
FAILED = frozenset({S.UNDELIVERED.value, S.FAILED.value})
AWAITING = frozenset({S.SENDING.value, S.SENT.value})
RECENT_ROWS = 1000  # the newest rows searched for failures that never reached `sent`
LATE_RECEIPT_US = 60_000_000  # messages sent this long before the window may finish in it


def _bare(column: Any) -> ColumnElement[Any]:
    """`column || ''`: the same value, but no index on it is used, so the planner takes
    the one the query is bounded by (waiting statuses, not the account's whole history)."""
    return column.concat(literal_column("''"))  # type: ignore[no-any-return]


def _slot(column: Any, since: int, bucket_us: int) -> ColumnElement[Any]:
    """The bucket a time falls in, -1 before the window. Integers are written into the
    SQL (not bound) so that PostgreSQL sees the GROUP BY's expression as the SELECT's."""
    start: ColumnElement[int] = literal_column(str(int(since)))
    width: ColumnElement[int] = literal_column(str(int(bucket_us)))
    return case((column >= start, (column - start) / width), else_=literal_column("-1"))


@dataclass(frozen=True, slots=True, kw_only=True)
class Queue:
    """One sender's waiting messages; a service's messages not yet given a sender
    (`accepted`) wait under the service's SID."""

    address: str
    sender_sid: str | None
    service_sid: str | None
    routing: bool  # accepted: the service has not chosen the sender yet
    waiting: int  # messages queued (or accepted)
    segments: int  # their segments: what the sender's rate drains
    in_flight: int  # messages handed to the carrier, not yet answered
    since: int | None  # when the oldest waiting message began to wait (µs); None: none waits
    mps: int | None  # the sender's rate, None while routing


def queues(conn: Connection, account_sid: str) -> list[Queue]:
    """The account's waiting messages per sender, the longest-waiting first."""
    rows = conn.execute(
        select(
            m.from_number, m.sender_sid, m.messaging_service_sid, m.status,
            func.count(), func.sum(m.num_segments),
            func.min(func.coalesce(m.send_at, m.date_created)),
        )
        .where(m.status.in_([s.value for s in WAITING]), _bare(m.account_sid) == account_sid)
        .group_by(m.from_number, m.sender_sid, m.messaging_service_sid, m.status)
    ).all()  # fmt: skip
    found: dict[tuple[str, bool], dict[str, Any]] = {}
    for address, sender_sid, service_sid, status, count, segments, oldest in rows:
        routing = status == S.ACCEPTED.value
        entry = found.setdefault(
            (service_sid if routing else address or "", routing),
            {"sender_sid": None, "service_sid": service_sid, "waiting": 0, "segments": 0,
             "in_flight": 0, "since": None},
        )  # fmt: skip
        entry["sender_sid"] = entry["sender_sid"] or sender_sid
        if status == S.SENDING.value:
            entry["in_flight"] += count
            continue
        entry["waiting"] += count
        entry["segments"] += int(segments or 0)
        entry["since"] = oldest if entry["since"] is None else min(entry["since"], oldest)
    made = [
        Queue(address=address, routing=routing, mps=None if routing else _mps(conn, e), **e)
        for (address, routing), e in found.items()
    ]
    return sorted(made, key=lambda q: (q.since is None, q.since or 0, q.address))


def _mps(conn: Connection, entry: dict[str, Any]) -> int:
    facts = sender(conn, entry["sender_sid"]) if entry["sender_sid"] else None
    return INTERNATIONAL_MPS if facts is None else sender_mps(facts)


def scheduled(conn: Connection, account_sid: str) -> tuple[int, int | None]:
    """How many of the account's messages are scheduled, and the next one's send time."""
    count, first = conn.execute(
        select(func.count(), func.min(m.send_at)).where(
            m.status == S.SCHEDULED.value, _bare(m.account_sid) == account_sid
        )
    ).one()
    return int(count), first


@dataclass(frozen=True, slots=True, kw_only=True)
class Traffic:
    """The window's counts per bucket, oldest first, and its final outcomes in all."""

    sent: list[int]  # outbound messages handed to the carrier
    received: list[int]  # inbound messages
    delivered: list[int]  # receipts saying delivered (or read)
    failed: list[int]  # undelivered or failed
    outcomes: dict[str, int]  # delivered, undelivered, failed: the window's totals
    awaiting: int  # sent lately, no receipt yet


def traffic(
    conn: Connection, account_sid: str, *, since: int, bucket_us: int, buckets: int
) -> Traffic:
    """Messages sent and received per bucket from `since` (by `date_sent`), and final
    outcomes per bucket (by when the outcome came: `date_updated`)."""
    sent, received = [0] * buckets, [0] * buckets
    inbound = case(
        (m.direction == literal_column(f"'{Direction.INBOUND.value}'"), literal_column("1")),
        else_=literal_column("0"),
    )
    sent_at = _slot(m.date_sent, since, bucket_us)
    for is_inbound, slot, count in conn.execute(
        select(inbound, sent_at, func.count())
        .where(m.account_sid == account_sid, m.date_sent >= since)
        .group_by(inbound, sent_at)
    ):
        _add(received if is_inbound else sent, slot, count)
    delivered, failed = [0] * buckets, [0] * buckets
    outcomes: dict[str, int] = {}
    awaiting = 0
    for status, slot, count in _finals(conn, account_sid, since, bucket_us):
        if status in AWAITING:
            awaiting += count
        elif status in DELIVERED | FAILED and slot >= 0:
            _add(delivered if status in DELIVERED else failed, slot, count)
            kind = "delivered" if status in DELIVERED else status
            outcomes[kind] = outcomes.get(kind, 0) + count
    return Traffic(sent=sent, received=received, delivered=delivered, failed=failed,
                   outcomes=outcomes, awaiting=awaiting)  # fmt: skip


def _finals(conn: Connection, account_sid: str, since: int, bucket_us: int) -> list[Any]:
    """(status, bucket of its last change, count) of outbound messages sent lately, and of
    the account's newest messages that failed before they were sent (no `date_sent`)."""
    done_at = _slot(m.date_updated, since, bucket_us)
    outbound = m.direction != literal_column(f"'{Direction.INBOUND.value}'")
    sent = conn.execute(
        select(m.status, done_at, func.count())
        .where(m.account_sid == account_sid, m.date_sent >= since - LATE_RECEIPT_US, outbound)
        .group_by(m.status, done_at)
    ).all()
    recent = (
        select(m.status, m.date_sent, m.date_updated)
        .where(m.account_sid == account_sid)
        .order_by(m.id.desc())
        .limit(RECENT_ROWS)
        .subquery()
    )
    r_done = _slot(recent.c.date_updated, since, bucket_us)
    unsent = conn.execute(
        select(recent.c.status, r_done, func.count())
        .where(recent.c.status == S.FAILED.value, recent.c.date_sent.is_(None))
        .where(recent.c.date_updated >= since)
        .group_by(recent.c.status, r_done)
    ).all()
    return [*sent, *unsent]


def _add(series: list[int], slot: int, count: int) -> None:
    """Count into its bucket; anything stamped after the window's end (a clock a moment
    ahead on another node) counts in the last."""
    if slot >= 0:
        series[min(int(slot), len(series) - 1)] += int(count)


@dataclass(frozen=True, slots=True, kw_only=True)
class Backlog:
    callbacks: int  # status callbacks owed, not yet delivered
    retrying: int  # of those, how many failed at least once
    oldest: int | None  # the oldest owed callback's event time (µs)
    inbound_webhooks: int  # inbound message webhooks owed


def backlog(conn: Connection, account_sid: str) -> Backlog:
    c = callbacks.c
    count, retrying, oldest = conn.execute(
        select(
            func.count(),
            func.coalesce(func.sum(case((c.attempts > 0, 1), else_=0)), 0),
            func.min(c.event_time),
        ).where(c.account_sid == account_sid, c.state == "pending")
    ).one()
    w = inbound_webhooks.c
    inbound = conn.execute(
        select(func.count()).where(w.state == "pending", w.account_sid == account_sid)
    ).scalar_one()
    return Backlog(
        callbacks=int(count), retrying=int(retrying), oldest=oldest, inbound_webhooks=int(inbound)
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class Live:
    queues: list[Queue]
    scheduled: int
    next_scheduled: int | None
    traffic: Traffic
    backlog: Backlog


def everything(
    conn: Connection, account_sid: str, *, since: int, bucket_us: int, buckets: int
) -> Live:
    """All the live view shows of the account, read in one transaction."""
    count, first = scheduled(conn, account_sid)
    return Live(
        queues=queues(conn, account_sid),
        scheduled=count,
        next_scheduled=first,
        traffic=traffic(conn, account_sid, since=since, bucket_us=bucket_us, buckets=buckets),
        backlog=backlog(conn, account_sid),
    )
