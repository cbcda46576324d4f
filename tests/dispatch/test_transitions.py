"""The status changes dispatch makes, as write functions: each guarded by the status
table (a message that moved on meanwhile is left alone), and each owing, in the same
transaction, the status callbacks of exactly the messages that moved."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import orjson
from sqlalchemy import select

from herald.dispatch.transitions import SentMessage, finish, finish_many, mark_sending, mark_sent
from herald.domain.delivery_errors import delivery_error_message
from herald.domain.ledger import ACCOUNT_SCOPE, OptOut, Source
from herald.domain.queued import QueuedMessage, StatusChange
from herald.domain.status import MessageStatus
from herald.provisioning import create_account
from herald.runtime import Runtime
from herald.store import dispatch as dispatch_store
from herald.store import messages as message_store
from herald.store import opt_outs
from herald.store.outbox import OutboxSink
from herald.store.schema import callbacks, messages
from tests.dispatch.test_dispatcher import SECOND, START
from tests.store.test_records import message

CALLBACK = "http://127.0.0.1:9/status"
NOW = START + 5 * SECOND
S = MessageStatus


def stored(
    runtime: Runtime, *statuses: MessageStatus, callback: str | None = CALLBACK
) -> list[QueuedMessage]:
    """Messages in these statuses, read back as dispatch reads them."""
    account = create_account(runtime, friendly_name="t", is_test=False)
    made = [
        replace(
            message(runtime, account.sid, i),
            status=status,
            sender_sid="PN" + "0" * 32,
            status_callback=callback,
            date_created=START + i,
            date_updated=START + i,
        )
        for i, status in enumerate(statuses)
    ]
    runtime.db.run(lambda c: [message_store.insert_message(c, m) for m in made])
    rows = runtime.db.run(lambda c: dispatch_store.load_by_sids(c, [m.sid for m in made]))
    assert [r.sid for r in rows] == [m.sid for m in made]  # oldest first
    return rows


def column(runtime: Runtime, name: str, rows: list[QueuedMessage]) -> list[Any]:
    by_sid = dict(
        runtime.db.run(
            lambda c: c.execute(
                select(messages.c.sid, messages.c[name]).where(
                    messages.c.sid.in_([r.sid for r in rows])
                )
            ).all()
        )
    )
    return [by_sid[r.sid] for r in rows]


def owed(runtime: Runtime) -> list[tuple[str, int, dict[str, str]]]:
    """Every callback owed: (message SID, its sequence, its form fields)."""
    found = runtime.db.run(
        lambda c: c.execute(
            select(callbacks.c.message_sid, callbacks.c.sequence, callbacks.c.params).order_by(
                callbacks.c.id
            )
        ).all()
    )
    return [(sid, seq, dict(orjson.loads(params))) for sid, seq, params in found]


def test_mark_sending_moves_only_messages_still_queued(runtime: Runtime) -> None:
    rows = stored(runtime, S.QUEUED, S.SENDING, S.FAILED, S.QUEUED)
    assert runtime.db.run(mark_sending(rows, NOW, OutboxSink())) == [True, False, False, True]
    assert column(runtime, "status", rows) == ["sending", "sending", "failed", "sending"]
    assert column(runtime, "date_updated", rows) == [NOW, START + 1, START + 2, NOW]
    assert runtime.db.run(mark_sending(rows[:1], NOW + 1, OutboxSink())) == [
        False
    ]  # a second pass: no
    assert owed(runtime) == []  # `sending` owes no callback


def test_mark_sending_fails_a_recipient_who_opted_out_since_with_21610(runtime: Runtime) -> None:
    """The last gate before the carrier: the ledger is read in the intent's own write."""
    rows = stored(runtime, S.QUEUED, S.QUEUED)
    rows[1] = replace(rows[1], to_number="+14155550112")  # another recipient
    entry = OptOut(
        sid="OO" + "0" * 32, account_sid=rows[0].account_sid, recipient=rows[0].to_number,
        scope=ACCOUNT_SCOPE, source=Source.IMPORT, keyword=None, sender=None,
        messaging_service_sid=None, message_sid=None, confirmation_sid=None,
        date_created=START, date_updated=START,
    )  # fmt: skip
    runtime.db.run(lambda c: opt_outs.record(c, [entry]))
    assert runtime.db.run(mark_sending(rows, NOW, OutboxSink())) == [None, True]
    assert column(runtime, "status", rows) == ["failed", "sending"]
    assert column(runtime, "error_code", rows) == [21610, None]
    assert [(sid, form["MessageStatus"], form["ErrorCode"]) for sid, _, form in owed(runtime)] == [
        (rows[0].sid, "failed", "21610")
    ]


def test_mark_sent_owes_a_sent_callback_only_for_the_rows_it_moved(runtime: Runtime) -> None:
    rows = stored(runtime, S.SENDING, S.QUEUED, S.DELIVERED, S.FAILED)
    sent = [
        SentMessage(row=row, price="-0.00790", price_unit="USD", carrier="Verizon") for row in rows
    ]
    runtime.db.run(mark_sent(sent, NOW, OutboxSink()))
    assert column(runtime, "status", rows) == ["sent", "sent", "delivered", "failed"]
    assert column(runtime, "date_sent", rows)[:2] == [NOW, NOW]
    # A receipt that overtook the submit's answer finished the delivered one before `sent`
    # was written: it still gets its price and carrier, and no `sent` callback.
    assert column(runtime, "carrier", rows) == ["Verizon", "Verizon", "Verizon", None]
    prices = column(runtime, "price", rows)
    assert [float(p) if p is not None else None for p in prices] == [-0.0079] * 3 + [None]
    callbacks_owed = owed(runtime)
    assert [(sid, seq) for sid, seq, _ in callbacks_owed] == [(rows[0].sid, 1), (rows[1].sid, 1)]
    assert all(p["MessageStatus"] == "sent" for _, _, p in callbacks_owed)
    assert all(p["From"] == "+14155550100" for _, _, p in callbacks_owed)


def test_finish_many_moves_only_legal_changes_and_owes_exactly_their_callbacks(
    runtime: Runtime,
) -> None:
    rows = stored(runtime, S.SENDING, S.QUEUED, S.QUEUED, S.DELIVERED, S.SENT, S.ACCEPTED)
    changes = [
        StatusChange(rows[0], S.DELIVERED, done_at_us=NOW - SECOND),
        StatusChange(rows[1], S.DELIVERED),  # queued → delivered: not a transition
        StatusChange(rows[2], S.FAILED, 30003),
        StatusChange(rows[3], S.FAILED, 30003),  # already final
        StatusChange(rows[4], S.UNDELIVERED, 30005),
        StatusChange(rows[5], S.FAILED, 21704),  # accepted, failed routing
    ]
    done = runtime.db.run(finish_many(changes, NOW, OutboxSink()))
    assert done == [True, False, True, False, True, True]
    assert column(runtime, "status", rows) == [
        "delivered", "queued", "failed", "delivered", "undelivered", "failed",
    ]  # fmt: skip
    assert column(runtime, "error_code", rows) == [None, None, 30003, None, 30005, 21704]
    assert column(runtime, "error_message", rows)[2] == delivery_error_message(30003)
    assert column(runtime, "date_updated", rows) == [NOW, START + 1, NOW, START + 3, NOW, NOW]
    callbacks_owed = owed(runtime)
    assert [(sid, p["MessageStatus"], p.get("ErrorCode")) for sid, _, p in callbacks_owed] == [
        (rows[0].sid, "delivered", None),
        (rows[2].sid, "failed", "30003"),
        (rows[4].sid, "undelivered", "30005"),
        (rows[5].sid, "failed", "21704"),
    ]
    assert "RawDlrDoneDate" in callbacks_owed[0][2]  # the receipt's done date


def test_a_change_without_a_status_callback_moves_and_owes_nothing(runtime: Runtime) -> None:
    rows = stored(runtime, S.SENDING, callback=None)
    assert runtime.db.run(
        finish_many([StatusChange(rows[0], S.FAILED, 30008)], NOW, OutboxSink())
    ) == [True]
    assert column(runtime, "status", rows) == ["failed"]
    assert owed(runtime) == []


def test_finish_is_finish_many_for_one_and_a_lost_race_owes_nothing(runtime: Runtime) -> None:
    [row] = stored(runtime, S.SENDING)
    sink = OutboxSink()
    assert runtime.db.run(finish(row, S.FAILED, NOW, sink, error_code=30007)) is True
    assert runtime.db.run(finish(row, S.DELIVERED, NOW + 1, sink)) is False  # already failed
    assert column(runtime, "status", [row]) == ["failed"]
    assert [(sid, seq, p["MessageStatus"]) for sid, seq, p in owed(runtime)] == [
        (row.sid, 1, "failed")
    ]


def test_callbacks_are_numbered_in_the_order_the_changes_were_made(runtime: Runtime) -> None:
    [row] = stored(runtime, S.QUEUED)
    sink = OutboxSink()
    [marked] = runtime.db.run(mark_sending([row], NOW, sink))
    assert marked
    runtime.db.run(
        mark_sent([SentMessage(row=row, price=None, price_unit="USD", carrier=None)], NOW, sink)
    )
    runtime.db.run(finish(row, S.DELIVERED, NOW + SECOND, sink, done_at_us=NOW + SECOND))
    assert [(seq, p["MessageStatus"]) for _, seq, p in owed(runtime)] == [
        (1, "sent"),
        (2, "delivered"),
    ]
