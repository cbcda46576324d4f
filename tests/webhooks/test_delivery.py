"""Status callbacks end to end: the outbox on SQLite and PostgreSQL, a real local HTTP
receiver, a manual clock for the retry schedule."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import replace
from typing import Any

import httpx
import pytest
import uvicorn
from sqlalchemy import update
from starlette.applications import Starlette
from starlette.routing import Route
from twilio.request_validator import RequestValidator

from herald.api import dead_letters
from herald.api.errors import on_twilio_error
from herald.clock import ManualClock
from herald.domain.accounts import Account
from herald.domain.callbacks import (
    CallbackState,
    RetryPolicy,
    event_time,
    origin_of,
    status_params,
)
from herald.domain.errors import TwilioError
from herald.domain.message import Message
from herald.domain.sids import Prefix
from herald.domain.status import Direction, MessageStatus
from herald.provisioning import create_account
from herald.runtime import Runtime
from herald.store import callbacks as outbox
from herald.store import dead_letters as dead_letter_store
from herald.store import messages as message_store
from herald.store.schema import accounts
from herald.webhooks.delivery import CallbackDelivery
from herald.webhooks.signer import build_request, wire_url
from tests.webhooks.receiver import Receiver, Reply

T0 = 1_700_000_000_123_000  # 2023-11-14T22:13:20.123Z


def make_message(sid: str, account_sid: str, **changes: Any) -> Message:
    message = Message(
        sid=sid,
        account_sid=account_sid,
        messaging_service_sid=None,
        direction=Direction.OUTBOUND_API,
        from_number="+14155550100",
        to_number="+14155550111",
        sender_sid=None,
        body="hi",
        status=MessageStatus.SENT,
        encoding="GSM-7",
        num_segments=1,
        num_media=0,
        error_code=None,
        error_message=None,
        price=None,
        price_unit="USD",
        status_callback=None,
        application_sid=None,
        validity_period=None,
        smart_encoded=None,
        provide_feedback=False,
        attempt=None,
        max_price=None,
        tags=None,
        send_at=None,
        date_sent=None,
        date_created=T0,
        date_updated=T0,
    )
    return replace(message, **changes)


def new_message(runtime: Runtime, account: Account, **changes: Any) -> Message:
    message = make_message(runtime.new_sid(Prefix.MESSAGE), account.sid, **changes)
    runtime.db.run(lambda conn: message_store.insert_message(conn, message))
    return message


def enqueue(
    runtime: Runtime, message: Message, url: str, status: MessageStatus, now: int = T0
) -> list[tuple[str, str]]:
    params = status_params(message, status, done_at_us=now)
    owed = outbox.NewCallback(
        account_sid=message.account_sid,
        message_sid=message.sid,
        url=url,
        method="POST",
        params=params,
        event_time=now,
    )
    runtime.db.run(lambda conn: outbox.enqueue_many(conn, [owed], now))
    return params


@pytest.fixture
def account(runtime: Runtime) -> Account:
    return create_account(runtime, friendly_name="hooks", is_test=False)


@asynccontextmanager
async def running(delivery: CallbackDelivery) -> AsyncIterator[None]:
    stop = asyncio.Event()
    task = asyncio.create_task(delivery.run(stop))
    try:
        yield
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)


async def eventually(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    """Wait for a condition of the delivery loop, which has no event of its own to offer."""
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.002)


async def arrivals(receiver: Receiver, count: int, timeout: float = 5.0) -> list[Any]:
    return await asyncio.to_thread(receiver.wait_for, count, timeout)


def delivery(runtime: Runtime, clock: Any, **options: Any) -> CallbackDelivery:
    """A delivery loop allowed to post to the tests' receivers on 127.0.0.1."""
    return CallbackDelivery(runtime.db, clock, jitter=None, allow_private=True, **options)


# -- parameters and requests ----------------------------------------------------------


def test_status_params_follow_twilio() -> None:
    message = make_message("SM1", "AC1", from_number="+1", to_number="+2")
    delivered = dict(status_params(message, MessageStatus.DELIVERED, done_at_us=T0))
    assert delivered == {
        "SmsSid": "SM1",
        "SmsStatus": "delivered",
        "MessageStatus": "delivered",
        "To": "+2",
        "MessageSid": "SM1",
        "AccountSid": "AC1",
        "From": "+1",
        "ApiVersion": "2010-04-01",
        "RawDlrDoneDate": "2311142213",
    }
    with_service = replace(message, messaging_service_sid="MG1")
    failed = dict(status_params(with_service, MessageStatus.UNDELIVERED, error_code=30003))
    assert failed["ErrorCode"] == "30003" and failed["MessagingServiceSid"] == "MG1"
    assert "RawDlrDoneDate" not in failed
    assert dict(status_params(message, MessageStatus.FAILED, error_code=30007))["ErrorCode"] == (
        "30007"
    )
    assert dict(status_params(message, MessageStatus.FAILED))["ErrorCode"] == "30008"
    assert "ErrorCode" not in dict(status_params(message, MessageStatus.SENT, done_at_us=T0))


def test_wire_urls_and_origins() -> None:
    assert wire_url("http://h") == "http://h/"
    assert wire_url("https://h:8443/p?x=1#rc=2") == "https://h:8443/p?x=1"
    assert wire_url("https://h/a b?q=é") == "https://h/a%20b?q=%C3%A9"
    assert origin_of("https://h:8443/p?x") == "https://h:8443"
    assert origin_of("http://h?x=1") == "http://h"
    assert event_time(T0) == "2023-11-14T22:13:20.123Z"


def test_backoff_doubles_up_to_the_cap_with_bounded_jitter() -> None:
    policy = RetryPolicy(backoff_s=1.0, max_backoff_s=10.0, jitter=0.1)
    assert [policy.delay_s(n, 0.0) for n in range(1, 6)] == [1.0, 2.0, 4.0, 8.0, 10.0]
    assert policy.delay_s(2, 0.5) == pytest.approx(2.1)


# -- end to end -------------------------------------------------------------------------


def test_delivers_params_signature_and_headers(runtime: Runtime, account: Account) -> None:
    message = new_message(runtime, account, messaging_service_sid="MG" + "a" * 32)
    with Receiver() as receiver:
        url = f"{receiver.url}/status?tenant=a&x=%C3%A9"
        params = enqueue(runtime, message, url, MessageStatus.DELIVERED)

        async def scenario() -> None:
            hooks = delivery(runtime, ManualClock(T0))
            async with running(hooks):
                await arrivals(receiver, 1)
                await eventually(lambda: hooks.stats.delivered == 1)

        asyncio.run(scenario())
        [request] = receiver.requests
    assert request.method == "POST" and request.form == params
    headers = request.headers
    assert headers["content-type"] == "application/x-www-form-urlencoded"
    assert headers["user-agent"] == "Herald/0.1 (TwilioProxy-compatible)"
    assert headers["x-herald-sequence"] == "1"
    assert headers["x-herald-event-time"] == "2023-11-14T22:13:20.123Z"
    assert headers["i-twilio-idempotency-token"] == f"{message.sid}-1"
    validator = RequestValidator(account.auth_token)
    assert validator.validate(url, dict(request.form), headers["x-twilio-signature"])
    counts = runtime.db.run(outbox.count_by_state)
    assert counts == {"pending": 0, "delivered": 1, "dead": 0}


def test_get_callbacks_sign_the_url_alone(runtime: Runtime, account: Account) -> None:
    message = new_message(runtime, account)
    enqueue(runtime, message, "https://h.example/cb?a=1", MessageStatus.SENT)
    [claimed] = runtime.db.run(lambda conn: outbox.claim_due(conn, T0, 10))
    request = build_request(replace(claimed, method="get"), account.auth_token)
    assert request.method == "GET" and request.body == b""
    assert request.url.startswith("https://h.example/cb?a=1&SmsSid=")
    validator = RequestValidator(account.auth_token)
    assert validator.validate(request.url, {}, request.headers["X-Twilio-Signature"])


def test_callbacks_of_a_message_arrive_in_order_under_retries(
    runtime: Runtime, account: Account
) -> None:
    message = new_message(runtime, account)
    with Receiver() as receiver:
        receiver.plan(Reply(status=500), times=2)
        enqueue(runtime, message, receiver.url + "/cb", MessageStatus.SENT)
        enqueue(runtime, message, receiver.url + "/cb", MessageStatus.DELIVERED)

        async def scenario() -> None:
            clock = ManualClock(T0)
            hooks = delivery(runtime, clock, backoff_s=1.0)
            async with running(hooks):
                for failures, wait_s in ((1, 1.0), (2, 2.0)):
                    await eventually(lambda n=failures: hooks.stats.failed_attempts == n)
                    assert hooks.stats.in_flight == 0  # the second waits for the first
                    assert receiver.count == failures
                    clock.advance(wait_s)
                await eventually(lambda: hooks.stats.delivered == 2)

        asyncio.run(scenario())
        sequence = [(r.headers["x-herald-sequence"], r.reply.status) for r in receiver.requests]
    assert sequence == [("1", 500), ("1", 500), ("1", 200), ("2", 200)]


def test_backoff_schedule_then_dead_letter(runtime: Runtime, account: Account) -> None:
    message = new_message(runtime, account)
    with Receiver() as receiver:
        receiver.always(Reply(status=204))
        receiver.plan(Reply(status=503), times=4)
        enqueue(runtime, message, receiver.url + "/cb", MessageStatus.SENT)
        enqueue(runtime, message, receiver.url + "/cb", MessageStatus.DELIVERED)
        due_times: list[int] = []

        async def scenario() -> None:
            clock = ManualClock(T0)
            hooks = delivery(runtime, clock, backoff_s=2.0, max_attempts=4)
            async with running(hooks):
                for failures in (1, 2, 3):
                    await eventually(lambda n=failures: hooks.stats.failed_attempts == n)
                    [head] = await runtime.db.read(lambda c: outbox.claim_due(c, T0 + 10**12, 1))
                    due_times.append(head.next_attempt_at - clock.now_us())
                    clock.advance((head.next_attempt_at - clock.now_us()) / 1e6)
                await eventually(lambda: hooks.stats.dead == 1)
                await eventually(lambda: hooks.stats.delivered == 1)

        asyncio.run(scenario())
    assert due_times == [2_000_000, 4_000_000, 8_000_000]
    [dead] = runtime.db.run(lambda conn: dead_letter_store.list_dead(conn, account.sid, 10, 0))
    assert (dead.sequence, dead.attempts, dead.state) == (1, 4, CallbackState.DEAD)
    assert (dead.last_status_code, dead.last_error) == (503, "HTTP retrieval failure")
    assert (
        runtime.db.run(lambda conn: dead_letter_store.list_dead(conn, "AC" + "0" * 32, 10, 0)) == []
    )


def test_callbacks_are_signed_with_the_accounts_current_token(
    runtime: Runtime, account: Account
) -> None:
    message = new_message(runtime, account)
    with Receiver() as receiver:
        url = receiver.url + "/cb"

        async def deliver(count: int) -> None:
            hooks = delivery(runtime, ManualClock(T0))
            async with running(hooks):
                await arrivals(receiver, count)
                await eventually(lambda: hooks.stats.delivered == 1)

        enqueue(runtime, message, url, MessageStatus.SENT)
        asyncio.run(deliver(1))
        changed = "f" * 32
        runtime.db.run(
            lambda conn: conn.execute(
                update(accounts).where(accounts.c.sid == account.sid).values(auth_token=changed)
            )
        )
        enqueue(runtime, message, url, MessageStatus.DELIVERED)
        asyncio.run(deliver(2))
        first, second = receiver.requests
    old, new = RequestValidator(account.auth_token), RequestValidator(changed)
    assert old.validate(url, dict(first.form), first.headers["x-twilio-signature"])
    assert new.validate(url, dict(second.form), second.headers["x-twilio-signature"])
    assert not old.validate(url, dict(second.form), second.headers["x-twilio-signature"])


@pytest.mark.parametrize("processes", [0, 1])
def test_a_private_receiver_is_refused_unless_allowed(
    runtime: Runtime, account: Account, processes: int
) -> None:
    """In this process and in the helper processes alike: refused by default (a literal
    address, and a name that resolves to one, at connect time), allowed by the setting."""
    with Receiver() as receiver:
        urls = (receiver.url + "/cb", f"http://localhost:{receiver.port}/cb")

        async def deliver(allow_private: bool, done: Callable[[CallbackDelivery], bool]) -> None:
            hooks = CallbackDelivery(
                runtime.db,
                ManualClock(T0),
                max_attempts=1,
                processes=processes,
                allow_private=allow_private,
                jitter=None,
            )
            async with running(hooks):
                await eventually(lambda: done(hooks), timeout=10)

        for url in urls:
            enqueue(runtime, new_message(runtime, account), url, MessageStatus.SENT)
        asyncio.run(deliver(False, lambda hooks: hooks.stats.dead == 2))
        assert receiver.count == 0
        dead = runtime.db.run(lambda conn: dead_letter_store.list_dead(conn, account.sid, 10, 0))
        assert [(d.last_error, d.last_status_code) for d in dead] == [
            ("HTTP retrieval failure", None)
        ] * 2
        for url in urls:
            enqueue(runtime, new_message(runtime, account), url, MessageStatus.SENT)
        asyncio.run(deliver(True, lambda hooks: hooks.stats.delivered == 2))
        arrived = receiver.wait_for(2)
    assert sorted(r.headers["host"].split(":")[0] for r in arrived) == ["127.0.0.1", "localhost"]


def _refused_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/cb"


def test_dead_receivers_do_not_hold_up_healthy_ones(runtime: Runtime, account: Account) -> None:
    with Receiver() as slow, Receiver() as healthy:
        slow.always(Reply(delay=30))
        targets = [slow.url + "/cb"] * 6 + [_refused_url()] * 2 + [healthy.url + "/cb"] * 6
        for url in targets:
            enqueue(runtime, new_message(runtime, account), url, MessageStatus.SENT)

        async def scenario() -> None:
            hooks = CallbackDelivery(
                runtime.db,
                runtime.clock,
                timeout_s=3.0,
                concurrency=6,
                per_host=2,
                allow_private=True,
            )
            async with running(hooks):
                await arrivals(healthy, 6)
                await eventually(lambda: hooks.stats.delivered == 6)
                assert hooks.stats.failed_attempts == 2  # the refused ones, not a timeout
                assert slow.count == 2  # never more than per_host at the slow host

        asyncio.run(scenario())
    pending = runtime.db.run(lambda conn: outbox.claim_due(conn, 2**62, 100))
    assert len(pending) == 8  # released at shutdown or waiting to retry, none lost
    assert {c.last_error is not None for c in pending} == {True, False}


# -- the outbox's claiming rules ----------------------------------------------------------


def test_claims_only_each_messages_lowest_pending_callback(
    runtime: Runtime, account: Account
) -> None:
    first, second = new_message(runtime, account), new_message(runtime, account)
    for status in (MessageStatus.SENT, MessageStatus.DELIVERED):
        enqueue(runtime, first, "http://a.example/cb", status)
    enqueue(runtime, second, "http://b.example/cb", MessageStatus.SENT, now=T0 + 5)
    run = runtime.db.run
    assert [c.sequence for c in run(lambda conn: outbox.claim_due(conn, T0, 10))] == [1]
    claimed = run(lambda conn: outbox.claim_due(conn, T0 + 5, 10, lease_until=T0 + 99))
    assert [(c.message_sid, c.sequence) for c in claimed] == [(first.sid, 1), (second.sid, 1)]
    assert run(lambda conn: outbox.claim_due(conn, T0 + 50, 10, lease_until=T0 + 99)) == []
    head, other = claimed
    run(lambda conn: outbox.mark_delivered(conn, other, T0 + 60, 200))
    run(lambda conn: outbox.mark_retry(conn, head, T0 + 200, "HTTP 500", 500, T0 + 60))
    assert run(lambda conn: outbox.claim_due(conn, T0 + 199, 10)) == []  # successor held too
    run(lambda conn: outbox.mark_delivered(conn, head, T0 + 201, 200))
    [nxt] = run(lambda conn: outbox.claim_due(conn, T0 + 201, 10))
    assert (nxt.message_sid, nxt.sequence, nxt.params[1]) == (
        first.sid,
        2,
        ("SmsStatus", "delivered"),
    )


def test_enqueue_numbers_each_messages_callbacks_in_order_even_within_one_call(
    runtime: Runtime, account: Account
) -> None:
    first, second = new_message(runtime, account), new_message(runtime, account)

    def owed(message: Message, status: str) -> outbox.NewCallback:
        params = (("MessageStatus", status),)
        return outbox.NewCallback(
            account_sid=account.sid,
            message_sid=message.sid,
            url="http://a.example/cb",
            method="POST",
            params=params,
            event_time=T0,
        )

    run = runtime.db.run
    run(
        lambda conn: outbox.enqueue_many(
            conn, [owed(first, "queued"), owed(second, "sent"), owed(first, "sent")], T0
        )
    )
    run(lambda conn: outbox.enqueue_many(conn, [owed(first, "delivered")], T0))
    run(lambda conn: outbox.enqueue_many(conn, [], T0))  # nothing owed: nothing written
    numbered = run(
        lambda conn: [
            (row.message_sid, row.sequence, row.params[0][1])
            for row in (dead_letter_store.get_callback(conn, account.sid, i) for i in range(1, 5))
            if row is not None
        ]
    )
    assert sorted(numbered) == sorted(
        [
            (first.sid, 1, "queued"),
            (second.sid, 1, "sent"),
            (first.sid, 2, "sent"),
            (first.sid, 3, "delivered"),
        ]
    )
    ghost = replace(owed(first, "sent"), message_sid="SM" + "0" * 32)
    with pytest.raises(LookupError):
        run(lambda conn: outbox.enqueue_many(conn, [ghost], T0))


def test_claims_respect_the_per_host_cap(runtime: Runtime, account: Account) -> None:
    for _ in range(3):
        enqueue(runtime, new_message(runtime, account), "http://a.example:81/x", MessageStatus.SENT)
    enqueue(runtime, new_message(runtime, account), "http://b.example/x", MessageStatus.SENT)
    run = runtime.db.run
    claimed = run(
        lambda conn: outbox.claim_due(conn, T0, 10, busy={"http://a.example:81": 1}, per_origin=2)
    )
    assert sorted(origin_of(c.url) for c in claimed) == ["http://a.example:81", "http://b.example"]
    full = run(
        lambda conn: outbox.claim_due(conn, T0, 10, busy={"http://a.example:81": 2}, per_origin=2)
    )
    assert [origin_of(c.url) for c in full] == ["http://b.example"]


# -- the dead-letter API ------------------------------------------------------------------


@contextmanager
def serving(app: Starlette) -> Iterator[str]:
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started and thread.is_alive():
        thread.join(0.01)
    try:
        yield f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(10)


def test_dead_letters_api_lists_and_retries(runtime: Runtime, account: Account) -> None:
    message = new_message(runtime, account)
    enqueue(runtime, message, "http://gone.example/cb", MessageStatus.SENT)
    [callback] = runtime.db.run(lambda conn: outbox.claim_due(conn, T0, 1))
    runtime.db.run(lambda conn: outbox.mark_dead(conn, callback, "HTTP 410", 410, T0 + 1))
    base = f"/herald/v1/Accounts/{account.sid}/DeadLetters"
    app = Starlette(
        routes=[
            Route(f"{base}.json", dead_letters.list_, methods=["GET"]),
            Route(base + "/{id}/Retry.json", dead_letters.retry, methods=["POST"]),
        ],
        exception_handlers={TwilioError: on_twilio_error},
    )
    app.state.runtime = runtime
    auth = (account.sid, account.auth_token)
    with serving(app) as url, httpx.Client(base_url=url, auth=auth) as client:
        page = client.get(f"{base}.json", params={"PageSize": 1}).json()
        [item] = page["dead_letters"]
        assert (item["message_sid"], item["sequence"], item["attempts"]) == (message.sid, 1, 1)
        assert item["params"]["MessageStatus"] == "sent" and item["last_status_code"] == 410
        assert page["next_page_uri"] is None and page["page_size"] == 1
        retried = client.post(f"{base}/{item['id']}/Retry.json")
        assert retried.status_code == 200 and retried.json()["attempts"] == 0
        assert client.post(f"{base}/{item['id']}/Retry.json").status_code == 404
        assert client.get(f"{base}.json").json()["dead_letters"] == []
    [again] = runtime.db.run(lambda conn: outbox.claim_due(conn, runtime.clock.now_us(), 5))
    assert again.id == callback.id and again.state is CallbackState.PENDING


def test_a_crashed_runs_leases_are_released_on_a_sole_node(
    runtime: Runtime, account: Account
) -> None:
    enqueue(runtime, new_message(runtime, account), "http://a.example/x", MessageStatus.SENT)
    enqueue(runtime, new_message(runtime, account), "http://a.example/x", MessageStatus.SENT)
    run = runtime.db.run
    mine, theirs = run(
        lambda conn: outbox.claim_due(conn, T0, 2, lease_until=T0 + 999, lease_owner="dead")
    )
    run(lambda conn: outbox.mark_retry(conn, mine, T0 + 500, "HTTP 500", 500, T0 + 1))
    assert run(lambda conn: outbox.claim_due(conn, T0 + 2, 10)) == []  # leased, backing off
    assert run(lambda conn: outbox.release_leases_of_others(conn, "me", T0 + 2)) == 1
    [again] = run(lambda conn: outbox.claim_due(conn, T0 + 2, 10))
    assert again.id == theirs.id  # the backing-off one keeps its schedule
