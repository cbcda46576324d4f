"""The router alone, on a real database: a batch of Messaging Service messages moved to
`queued` on a sender of the pool (explanation stored, Sticky Sender mapping saved,
`queued` callback owed, handed to its queue), or failed with the reason Twilio gives:
21704 for an empty pool, 21701 for a service gone, 30001 for a full queue."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any

import orjson
from sqlalchemy import select

from herald.carriers.simulator import CarrierSimulator
from herald.clock import ManualClock
from herald.dispatch.admission import Admission
from herald.dispatch.ownership import Ownership
from herald.dispatch.queues import Entry
from herald.dispatch.registry import QueueRegistry
from herald.dispatch.router import Router
from herald.domain.queued import QueuedMessage
from herald.domain.services import PoolKind, PoolSender, Service
from herald.domain.sids import Prefix
from herald.domain.status import MessageStatus
from herald.metrics import Metrics
from herald.provisioning import create_account
from herald.runtime import Runtime
from herald.store import messages as message_store
from herald.store import routing as routing_store
from herald.store import senders
from herald.store import services as service_store
from herald.store.outbox import OutboxSink
from herald.store.schema import callbacks, messages
from tests.dispatch.test_dispatcher import START
from tests.store.test_records import _number, message

CALLBACK = "http://127.0.0.1:9/status"
SENDER = "+14155550100"


class Setup:
    """An account, services and their pools in the store, and a router built as the
    dispatcher builds it (with every sender this node's: no leases)."""

    def __init__(self, runtime: Runtime, *, horizon_s: int = 14_400) -> None:
        self.runtime = runtime
        self.clock = ManualClock(START)
        self.account = create_account(runtime, friendly_name="r", is_test=False)
        self.registry = QueueRegistry(not_before=lambda key: 0)
        ownership = Ownership(runtime.db, self.clock, node="r", leased=False, resume_after_us=0)
        self.metrics = Metrics()
        self.enqueued: list[QueuedMessage] = []
        self.told = 0
        self.router = Router(
            self.registry,
            Admission(self.registry, ownership, horizon_s=horizon_s),
            runtime.db,
            self.clock,
            OutboxSink(),
            self.metrics,
            lookup=CarrierSimulator(runtime.db, self.clock, latency="instant").lookup,
            enqueue=self._enqueue,
            on_callbacks=self._tell,
            new_sid=runtime.new_sid,
            media_link=lambda code: f"https://herald.test/m/{code}",
        )

    def _tell(self) -> None:
        self.told += 1

    def _enqueue(self, row: QueuedMessage) -> None:
        """What the intake does with a routed message: it joins its sender's queue."""
        self.enqueued.append(row)
        self.registry.hold(self.registry.queue_for(row), Entry(row=row, deadline_us=0))

    def service(self, *numbers: str) -> str:
        """A service whose pool holds a new number for each of `numbers`."""
        made = Service(
            sid=self.runtime.new_sid(Prefix.SERVICE),
            account_sid=self.account.sid,
            friendly_name="pool",
            date_created=START,
            date_updated=START,
        )
        self.runtime.db.run(lambda c: service_store.insert_service(c, made))
        for phone in numbers:
            number = _number(self.runtime, self.account.sid, phone)
            member = PoolSender(
                sid=number.sid,
                account_sid=self.account.sid,
                service_sid=made.sid,
                kind=PoolKind.PHONE_NUMBER,
                date_created=START,
                date_updated=START,
            )

            def add(c: Any, number: Any = number, member: PoolSender = member) -> None:
                senders.insert_number(c, number)
                service_store.add_sender(c, member)

            self.runtime.db.run(add)
        return made.sid

    def send(self, service_sid: str, *recipients: str) -> list[QueuedMessage]:
        """Store `accepted` messages through the service, as the API does, and read them
        back as the router's poll finds them."""
        made = [
            replace(
                message(self.runtime, self.account.sid, i),
                messaging_service_sid=service_sid,
                from_number=None,
                to_number=to,
                status=MessageStatus.ACCEPTED,
                status_callback=CALLBACK,
                date_created=START + i,
            )
            for i, to in enumerate(recipients)
        ]
        self.runtime.db.run(lambda c: [message_store.insert_message(c, m) for m in made])
        sids = {m.sid for m in made}
        found = self.runtime.db.run(lambda c: routing_store.load_unrouted(c, now=START, limit=1000))
        return [row for row in found if row.sid in sids]

    def route(self, rows: list[QueuedMessage]) -> None:
        asyncio.run(self.router.route(rows))

    def stored(self, sid: str) -> tuple[str, int | None, str | None, str | None]:
        row = self.runtime.db.run(
            lambda c: c.execute(
                select(
                    messages.c.status,
                    messages.c.error_code,
                    messages.c.from_number,
                    messages.c.sender_sid,
                ).where(messages.c.sid == sid)
            ).one()
        )
        return row[0], row[1], row[2], row[3]

    def routing(self, sid: str) -> dict[str, Any]:
        found = self.runtime.db.run(lambda c: routing_store.routing_of(c, self.account.sid, sid))
        assert found is not None and found[1] is not None
        explained: dict[str, Any] = orjson.loads(found[1])
        return explained

    def owed(self, sid: str) -> list[dict[str, str]]:
        rows = self.runtime.db.run(
            lambda c: c.execute(
                select(callbacks.c.params)
                .where(callbacks.c.message_sid == sid)
                .order_by(callbacks.c.sequence)
            ).all()
        )
        return [dict(orjson.loads(row[0])) for row in rows]

    def decisions(self, rule: str) -> float:
        value = self.metrics.registry.get_sample_value(
            "herald_routing_decisions_total", {"rule": rule}
        )
        return value or 0.0


def test_messages_of_a_pool_are_queued_on_its_sender(runtime: Runtime) -> None:
    s = Setup(runtime)
    service_sid = s.service(SENDER)
    [number_sid] = [p.sid for p in runtime.db.run(lambda c: service_store.pool_of(c, service_sid))]
    rows = s.send(service_sid, "+14155550111", "+14155550112")
    s.route(rows)
    for row in rows:
        assert s.stored(row.sid) == ("queued", None, SENDER, number_sid)
        explained = s.routing(row.sid)
        assert explained["rule"] == "area_code_geomatch"  # 415 to 415
        assert explained["sender"] == {"sid": number_sid, "address": SENDER, "type": "long_code"}
        assert explained["pool_size"] == 1 and explained["error_code"] is None
        mapping = runtime.db.run(
            lambda c, to=row.to_number: routing_store.get_mapping(c, service_sid, to)
        )
        assert mapping is not None and mapping.sender_sid == number_sid
        [queued] = s.owed(row.sid)
        assert (queued["MessageStatus"], queued["From"]) == ("queued", SENDER)
    assert [(r.sid, r.status, r.sender_sid, r.from_number) for r in s.enqueued] == [
        (row.sid, MessageStatus.QUEUED, number_sid, SENDER) for row in rows
    ]
    assert s.router.routed == 2 and s.told == 1
    # Admitted against the sender's queue: reserved until the queue holds them.
    assert s.registry.backlog(number_sid) == 2


def test_a_message_already_routed_is_not_routed_again(runtime: Runtime) -> None:
    """Two routings of one message (two nodes, or a stale poll): the guarded move lets
    one count, and the loser's reservation is given back."""
    s = Setup(runtime)
    service_sid = s.service(SENDER)
    rows = s.send(service_sid, "+14155550111")
    s.route(rows)
    s.route(rows)  # the same rows, as read before the first routing
    assert len(s.enqueued) == 1 and s.router.routed == 1
    assert len(s.owed(rows[0].sid)) == 1
    assert s.decisions("area_code_geomatch") == 1
    assert s.decisions("sticky_sender") == 0  # the second decision (by the mapping) moved none
    assert s.registry.backlog(s.enqueued[0].sender_sid or "") == 1


def test_an_empty_pool_fails_the_message_with_21704(runtime: Runtime) -> None:
    s = Setup(runtime)
    [row] = s.send(s.service(), "+14155550111")
    s.route([row])
    assert s.stored(row.sid) == ("failed", 21704, None, None)
    explained = s.routing(row.sid)
    assert (explained["rule"], explained["sender"], explained["error_code"]) == (
        "none",
        None,
        21704,
    )
    [failed] = s.owed(row.sid)
    assert (failed["MessageStatus"], failed["ErrorCode"]) == ("failed", "21704")
    assert s.enqueued == [] and s.told == 1


def test_a_deleted_service_fails_the_message_with_21701(runtime: Runtime) -> None:
    s = Setup(runtime)
    service_sid = s.service(SENDER)
    [row] = s.send(service_sid, "+14155550111")
    assert runtime.db.run(lambda c: service_store.delete_service(c, s.account.sid, service_sid))
    s.route([row])
    assert s.stored(row.sid) == ("failed", 21701, None, None)
    explained = s.routing(row.sid)
    assert (explained["error_code"], explained["settings"]) == (21701, None)
    [failed] = s.owed(row.sid)
    assert (failed["MessageStatus"], failed["ErrorCode"]) == ("failed", "21701")
    assert s.enqueued == []


def test_a_callback_for_a_message_that_never_had_a_sender_has_no_from(runtime: Runtime) -> None:
    """`status_params`: `From` is left out while no sender is chosen (a service message
    that failed before routing), though the row read back carries it as ""."""
    s = Setup(runtime)
    [row] = s.send(s.service(), "+14155550111")
    s.route([row])
    [failed] = s.owed(row.sid)
    assert "From" not in failed


def test_a_full_queue_fails_the_message_with_30001(runtime: Runtime) -> None:
    s = Setup(runtime, horizon_s=1)  # a 1 MPS long code: room for one segment
    service_sid = s.service(SENDER)
    first, second = s.send(service_sid, "+14155550111", "+14155550112")
    s.route([first, second])
    assert s.stored(first.sid)[0] == "queued"
    status, code, _, _ = s.stored(second.sid)
    assert (status, code) == ("failed", 30001)
    assert s.routing(second.sid)["rule"] == "area_code_geomatch"  # a sender, but no room
    [failed] = s.owed(second.sid)
    assert (failed["MessageStatus"], failed["ErrorCode"]) == ("failed", "30001")
    assert [r.sid for r in s.enqueued] == [first.sid]
    assert s.registry.backlog(s.enqueued[0].sender_sid or "") == 1  # the loser reserved nothing


def test_the_routing_decisions_metric_counts_each_rule(runtime: Runtime) -> None:
    s = Setup(runtime)
    pool = s.service(SENDER, "+12125550100")
    empty = s.service()
    rows = [
        *s.send(pool, "+14155550111", "+12125550111", "+447911123456"),
        *s.send(empty, "+14155550113"),
    ]
    s.route(rows)  # one batch, two services
    assert s.decisions("area_code_geomatch") == 2  # 415 → 415, 212 → 212
    assert s.decisions("us_number_fallback") == 1  # GB: no sender of its country
    assert s.decisions("none") == 1
    assert s.router.routed == 4
    assert s.stored(rows[1].sid)[2] == "+12125550100"
