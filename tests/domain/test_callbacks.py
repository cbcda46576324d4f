"""Status callbacks as values (reference §9.2): which parameters a callback carries for
each status, the wire forms of its dates, the per-host origin, and the retry decision
after each attempt — a backoff that doubles up to its cap, dead after `max_attempts`."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from itertools import pairwise
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from herald.domain.callbacks import (
    CALLBACK_TRANSITIONS,
    MAX_BACKOFF_S,
    RETRIEVAL_FAILURE,
    Callback,
    CallbackState,
    RetryPolicy,
    callback_moves_from,
    event_time,
    judge,
    origin_of,
    raw_dlr_done_date,
    status_params,
)
from herald.domain.message import Message
from herald.domain.queued import queued_message
from herald.domain.status import Direction, MessageStatus
from herald.domain.timestamps import from_datetime

T0 = 1_700_000_000_123_000  # 2023-11-14T22:13:20.123Z
SM = "SM" + "1" * 32
AC = "AC" + "2" * 32
MG = "MG" + "3" * 32
FAILURES = frozenset({MessageStatus.FAILED, MessageStatus.UNDELIVERED})
RECEIPTS = frozenset({MessageStatus.DELIVERED, MessageStatus.UNDELIVERED})
ALWAYS = {"MessageSid", "SmsSid", "MessageStatus", "SmsStatus", "AccountSid", "To", "ApiVersion"}
PENDING, DELIVERED, DEAD = CallbackState.PENDING, CallbackState.DELIVERED, CallbackState.DEAD


def message(**changes: Any) -> Message:
    """A message sent directly from a number: no service."""
    sent = Message(
        sid=SM,
        account_sid=AC,
        messaging_service_sid=None,
        direction=Direction.OUTBOUND_API,
        from_number="+14155550100",
        to_number="+14155550111",
        sender_sid="PN" + "4" * 32,
        body="hi",
        status=MessageStatus.SENT,
        encoding="GSM-7",
        num_segments=1,
        num_media=0,
        error_code=None,
        error_message=None,
        price=None,
        price_unit="USD",
        status_callback="https://hooks.example/status",
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
    return replace(sent, **changes)


def callback(**changes: Any) -> Callback:
    pending = Callback(
        id=1,
        account_sid=AC,
        message_sid=SM,
        sequence=1,
        url="https://hooks.example/status",
        method="POST",
        params=(("MessageStatus", "sent"),),
        event_time=T0,
        state=PENDING,
        attempts=0,
        next_attempt_at=T0,
        last_error=None,
        last_status_code=None,
        date_created=T0,
        date_updated=T0,
        auth_token="the-auth-token",
    )
    return replace(pending, **changes)


# -- parameters (§9.2) ------------------------------------------------------------------


def test_a_sent_callback_is_twilios_documented_example() -> None:
    params = status_params(message(), MessageStatus.SENT)
    assert dict(params) == {
        "SmsSid": SM,
        "SmsStatus": "sent",
        "MessageStatus": "sent",
        "To": "+14155550111",
        "MessageSid": SM,
        "AccountSid": AC,
        "From": "+14155550100",
        "ApiVersion": "2010-04-01",
    }
    assert len(params) == len(dict(params))  # each name once: the signature covers them all


@pytest.mark.parametrize("status", list(MessageStatus))
def test_every_callback_names_the_message_and_its_new_status(status: MessageStatus) -> None:
    params = dict(status_params(message(), status, error_code=30003, done_at_us=T0))
    assert params.keys() >= ALWAYS
    assert params["MessageSid"] == params["SmsSid"] == SM
    assert params["MessageStatus"] == params["SmsStatus"] == status.value


@pytest.mark.parametrize("status", list(MessageStatus))
def test_error_code_on_failed_and_undelivered_only_30008_when_unknown(
    status: MessageStatus,
) -> None:
    with_code = dict(status_params(message(), status, error_code=30003))
    without = dict(status_params(message(), status))
    if status in FAILURES:
        assert (with_code["ErrorCode"], without["ErrorCode"]) == ("30003", "30008")
    else:
        assert "ErrorCode" not in with_code and "ErrorCode" not in without


@pytest.mark.parametrize("status", list(MessageStatus))
def test_raw_dlr_done_date_on_delivered_and_undelivered_with_a_receipt(
    status: MessageStatus,
) -> None:
    with_receipt = dict(status_params(message(), status, done_at_us=T0))
    if status in RECEIPTS:
        assert with_receipt["RawDlrDoneDate"] == "2311142213"  # 2023-11-14 22:13 UTC
    else:
        assert "RawDlrDoneDate" not in with_receipt
    assert "RawDlrDoneDate" not in dict(status_params(message(), status))


def test_messaging_service_sid_only_through_a_service() -> None:
    assert "MessagingServiceSid" not in dict(status_params(message(), MessageStatus.SENT))
    through = message(messaging_service_sid=MG, sender_sid=None)
    assert dict(status_params(through, MessageStatus.SENT))["MessagingServiceSid"] == MG


def test_from_is_absent_while_the_service_has_chosen_no_sender() -> None:
    unrouted = message(messaging_service_sid=MG, from_number=None, sender_sid=None)
    params = dict(status_params(unrouted, MessageStatus.FAILED, error_code=21704))
    assert "From" not in params
    assert (params["MessagingServiceSid"], params["ErrorCode"]) == (MG, "21704")


def test_a_queued_service_message_with_no_sender_posts_no_from() -> None:
    scheduled = message(
        messaging_service_sid=MG,
        from_number=None,
        sender_sid=None,
        status=MessageStatus.SCHEDULED,
    )
    params = dict(status_params(queued_message(scheduled), MessageStatus.CANCELED))
    assert "From" not in params


moments = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2068, 12, 31), timezones=st.just(UTC)
)


@settings(max_examples=50)
@given(moments)
def test_a_moment_on_the_wire(moment: datetime) -> None:
    """`RawDlrDoneDate` is the UTC minute as YYMMDDhhmm; `X-Herald-Event-Time` is ISO
    8601 UTC to the millisecond."""
    us = from_datetime(moment)
    done = raw_dlr_done_date(us)
    assert len(done) == 10 and done.isdigit()
    read = datetime.strptime(done, "%y%m%d%H%M").replace(tzinfo=UTC)
    assert read == moment.replace(second=0, microsecond=0)
    at = event_time(us)
    assert at.endswith("Z") and len(at) == len("2023-11-14T22:13:20.123Z")
    read = datetime.strptime(at, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    assert read == moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def test_event_time_example() -> None:
    assert event_time(T0) == "2023-11-14T22:13:20.123Z"


# -- origins: the unit of the per-host cap ----------------------------------------------


@pytest.mark.parametrize(
    ("url", "origin"),
    [
        ("https://h:8443/p?x", "https://h:8443"),
        ("http://h?x=1", "http://h"),
        ("http://h#rc=2", "http://h"),
        ("http://h", "http://h"),
        ("https://user@hooks.example:444/a/b", "https://user@hooks.example:444"),
        ("HTTP://Hooks.Example/x", "HTTP://Hooks.Example"),  # as written, not normalised
    ],
)
def test_origin_of(url: str, origin: str) -> None:
    assert origin_of(url) == origin


schemes = st.sampled_from(["http", "https"])
hosts = st.text("abcxyz019.-", min_size=1, max_size=20)
authorities = st.tuples(
    st.sampled_from(["", "user@"]), hosts, st.sampled_from(["", ":8443", ":1"])
).map("".join)
rests = st.one_of(st.just(""), st.tuples(st.sampled_from("/?#"), st.text(max_size=30)).map("".join))


@settings(max_examples=50)
@given(schemes, authorities, rests, rests)
def test_urls_of_one_host_share_its_origin(scheme: str, authority: str, one: str, two: str) -> None:
    origin = f"{scheme}://{authority}"
    assert origin_of(origin + one) == origin_of(origin + two) == origin


@given(st.text())
def test_an_origin_is_a_prefix_of_its_url(url: str) -> None:
    assert url.startswith(origin_of(url))


# -- retries ----------------------------------------------------------------------------


def test_the_default_backoff_doubles_from_a_second_to_an_hour() -> None:
    policy = RetryPolicy()
    delays = [policy.delay_s(n, 0.0) for n in range(1, 14)]
    assert delays == [2.0**k for k in range(12)] + [MAX_BACKOFF_S]
    assert policy.delay_s(2, 0.5) == pytest.approx(2.1)  # up to 10% jitter


@given(
    backoff=st.floats(0.001, 1000),
    cap=st.floats(0.001, 1e6),
    jitter=st.floats(0, 1),
    attempt=st.integers(1, 1023),
    draw=st.floats(0, 1, exclude_max=True),
)
def test_the_delay_doubles_up_to_its_cap_plus_jitter(
    backoff: float, cap: float, jitter: float, attempt: int, draw: float
) -> None:
    policy = RetryPolicy(backoff_s=backoff, max_backoff_s=cap, jitter=jitter)
    base = policy.delay_s(attempt, 0.0)
    assert policy.delay_s(1, 0.0) == min(backoff, cap)
    assert base <= cap
    assert policy.delay_s(attempt + 1, 0.0) == min(2 * base, cap)
    assert base <= policy.delay_s(attempt, draw) <= base * (1 + jitter)


def test_a_callback_allowed_many_attempts_waits_the_cap_between_late_ones() -> None:
    policy = RetryPolicy(max_attempts=2_000)
    attempt = judge(callback(attempts=1_024), 503, T0, policy, 0.0)
    assert (attempt.state, attempt.next_attempt_at) == (PENDING, T0 + 3_600_000_000)


@pytest.mark.parametrize("status_code", [200, 201, 204, 299])
def test_a_2xx_delivers(status_code: int) -> None:
    attempt = judge(callback(attempts=7), status_code, T0, RetryPolicy(), 0.9)
    assert attempt.state is DELIVERED
    assert (attempt.next_attempt_at, attempt.status_code, attempt.error) == (T0, status_code, None)


@pytest.mark.parametrize("status_code", [None, 100, 199, 300, 302, 404, 500, 503])
def test_anything_else_is_retried_with_twilios_generic_11200_wording(
    status_code: int | None,
) -> None:
    attempt = judge(callback(attempts=2), status_code, T0, RetryPolicy(), 0.0)
    assert attempt.state is PENDING
    assert attempt.next_attempt_at == T0 + 4_000_000  # after the third attempt: 4 s
    assert (attempt.error, attempt.status_code) == (RETRIEVAL_FAILURE, status_code)
    assert attempt.error == "HTTP retrieval failure"


def test_the_wait_carries_the_jitter_drawn() -> None:
    attempt = judge(callback(attempts=1), 503, T0, RetryPolicy(jitter=0.1), 0.5)
    assert attempt.next_attempt_at == T0 + 2_100_000


def test_the_last_attempt_allowed_dead_letters_at_once() -> None:
    attempt = judge(callback(attempts=7), None, T0, RetryPolicy(max_attempts=8), 0.0)
    assert attempt.state is DEAD and attempt.next_attempt_at == T0
    assert (attempt.error, attempt.status_code) == (RETRIEVAL_FAILURE, None)


failing = st.one_of(st.none(), st.integers(100, 599).filter(lambda code: code // 100 != 2))


@settings(max_examples=50)
@given(
    max_attempts=st.integers(1, 12),
    backoff=st.integers(1, 60),
    cap=st.integers(1, 600),
    status_code=failing,
)
def test_a_receiver_that_always_fails_gets_exactly_max_attempts(
    max_attempts: int, backoff: int, cap: int, status_code: int | None
) -> None:
    policy = RetryPolicy(
        max_attempts=max_attempts, backoff_s=float(backoff), max_backoff_s=float(cap)
    )
    pending, now, waits = callback(), T0, []
    while (attempt := judge(pending, status_code, now, policy, 0.0)).state is PENDING:
        waits.append(attempt.next_attempt_at - now)
        now = attempt.next_attempt_at
        pending = replace(pending, attempts=pending.attempts + 1)
    assert attempt.state is DEAD and attempt.next_attempt_at == now
    assert pending.attempts + 1 == max_attempts  # the attempts made, the last one included
    assert len(waits) == max_attempts - 1
    if waits:
        assert waits[0] == min(backoff, cap) * 1_000_000
    assert all(later == min(2 * wait, cap * 1_000_000) for wait, later in pairwise(waits))


@given(attempts=st.integers(0, 30), max_attempts=st.integers(1, 30), status_code=failing)
def test_retry_or_dead_is_decided_at_max_attempts(
    attempts: int, max_attempts: int, status_code: int | None
) -> None:
    policy = RetryPolicy(max_attempts=max_attempts)
    ruled = judge(callback(attempts=attempts), status_code, T0, policy, 0.0)
    assert ruled.state is (DEAD if attempts + 1 >= max_attempts else PENDING)
    assert ruled.state in CALLBACK_TRANSITIONS[PENDING]
    assert (ruled.next_attempt_at > T0) is (ruled.state is PENDING)


# -- the outbox's states ----------------------------------------------------------------


@pytest.mark.parametrize("new", list(CallbackState))
@pytest.mark.parametrize("old", list(CallbackState))
def test_moves_from_reads_the_transition_table_backwards(
    old: CallbackState, new: CallbackState
) -> None:
    assert (old in callback_moves_from(new)) is (new in CALLBACK_TRANSITIONS[old])
    assert old not in callback_moves_from(new, excluding=old)


def test_the_outbox_states() -> None:
    assert callback_moves_from(DELIVERED) == {PENDING}
    assert callback_moves_from(DEAD) == {PENDING}
    assert callback_moves_from(PENDING) == {PENDING, DEAD}  # retried, or retried by hand
    # Retry.json makes a dead letter pending again, never a callback already pending.
    assert callback_moves_from(PENDING, excluding=PENDING) == {DEAD}
    assert CALLBACK_TRANSITIONS[DELIVERED] == frozenset()


def test_a_callback_neither_shows_nor_compares_its_auth_token() -> None:
    claimed = callback()
    assert "the-auth-token" not in repr(claimed)
    assert replace(claimed, auth_token="rotated") == claimed
