"""Store modules on both backends: guarded status changes, sender ownership, paging."""

from __future__ import annotations

from dataclasses import replace

import pytest

from herald.domain import errors
from herald.domain.message import Message
from herald.domain.senders import Capabilities, IncomingNumber, ShortCode, SmsWebhook
from herald.domain.sids import Prefix
from herald.domain.status import Direction, MessageStatus
from herald.provisioning import create_account
from herald.runtime import Runtime
from herald.store import accounts as account_store
from herald.store import messages as store
from herald.store import senders


def message(runtime: Runtime, account_sid: str, i: int = 0, **changes: object) -> Message:
    base = Message(
        sid=runtime.new_sid(Prefix.MESSAGE),
        account_sid=account_sid,
        messaging_service_sid=None,
        direction=Direction.OUTBOUND_API,
        from_number="+14155550100",
        to_number="+14155550111",
        sender_sid=None,
        body=f"m{i}",
        status=MessageStatus.QUEUED,
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
        tags={"campaign": "x"},
        send_at=None,
        date_sent=None,
        date_created=1_000 + i,
        date_updated=1_000 + i,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def test_status_changes_are_guarded(runtime: Runtime) -> None:
    account = create_account(runtime, friendly_name="a", is_test=False)
    m = message(runtime, account.sid)
    runtime.db.run(lambda conn: store.insert_message(conn, m))
    run = runtime.db.run
    assert not run(lambda c: store.change_status(c, m.sid, MessageStatus.DELIVERED, 2))
    assert run(lambda c: store.change_status(c, m.sid, MessageStatus.SENDING, 2))
    assert run(lambda c: store.change_status(c, m.sid, MessageStatus.SENT, 3, date_sent=3))
    assert not run(lambda c: store.change_status(c, m.sid, MessageStatus.QUEUED, 4))
    stored = run(lambda c: store.get_message(c, account.sid, m.sid))
    assert stored is not None
    assert stored.status is MessageStatus.SENT and stored.date_sent == 3
    assert stored.tags == {"campaign": "x"}


def test_keyset_paging_survives_new_messages(runtime: Runtime) -> None:
    account = create_account(runtime, friendly_name="a", is_test=False)
    made = [message(runtime, account.sid, i) for i in range(10)]
    runtime.db.run(lambda c: [store.insert_message(c, m) for m in made])
    where = store.MessageFilter()
    first = runtime.db.run(lambda c: store.list_messages(c, account.sid, where, limit=4))
    assert [m.body for m in first] == ["m9", "m8", "m7", "m6"]
    late = message(runtime, account.sid, 99)
    runtime.db.run(lambda c: store.insert_message(c, late))
    second = runtime.db.run(
        lambda c: store.list_messages(c, account.sid, where, limit=4, after_sid=first[-1].sid)
    )
    assert [m.body for m in second] == ["m5", "m4", "m3", "m2"]
    back = runtime.db.run(
        lambda c: store.list_messages(c, account.sid, where, limit=4, before_sid=second[0].sid)
    )
    assert [m.body for m in back] == ["m9", "m8", "m7", "m6"]
    unknown = runtime.db.run(
        lambda c: store.list_messages(c, account.sid, where, limit=4, after_sid="SMnope")
    )
    assert unknown == []


def _number(runtime: Runtime, account_sid: str, e164: str) -> IncomingNumber:
    return IncomingNumber(
        sid=runtime.new_sid(Prefix.PHONE_NUMBER),
        account_sid=account_sid,
        phone_number=e164,
        friendly_name="n",
        country="US",
        number_type="local",
        webhook=SmsWebhook(),
        sms_application_sid="",
        voice_url="",
        voice_method="POST",
        voice_fallback_url="",
        voice_fallback_method="POST",
        voice_caller_id_lookup=False,
        status_callback="",
        status_callback_method="POST",
        capabilities=Capabilities(),
        mps=None,
        date_created=1,
        date_updated=1,
    )


def test_a_number_belongs_to_one_account(runtime: Runtime) -> None:
    a = create_account(runtime, friendly_name="a", is_test=False)
    b = create_account(runtime, friendly_name="b", is_test=False)
    runtime.db.run(lambda c: senders.insert_number(c, _number(runtime, a.sid, "+14155550100")))
    with pytest.raises(errors.PhoneNumberUnavailable):
        runtime.db.run(lambda c: senders.insert_number(c, _number(runtime, b.sid, "+14155550100")))
    assert runtime.db.run(lambda c: senders.find_number(c, b.sid, "+14155550100")) is None
    assert runtime.db.run(lambda c: senders.find_number(c, a.sid, "+14155550100")) is not None


def test_short_codes_are_unique_per_country(runtime: Runtime) -> None:
    a = create_account(runtime, friendly_name="a", is_test=False)

    def code(country: str) -> ShortCode:
        return ShortCode(
            sid=runtime.new_sid(Prefix.SHORT_CODE),
            account_sid=a.sid,
            short_code="12345",
            country=country,
            friendly_name="c",
            webhook=SmsWebhook(),
            sms=True,
            mms=False,
            mps=None,
            date_created=1,
            date_updated=1,
        )

    runtime.db.run(lambda c: senders.insert_short_code(c, code("US")))
    runtime.db.run(lambda c: senders.insert_short_code(c, code("GB")))
    with pytest.raises(errors.PhoneNumberUnavailable):
        runtime.db.run(lambda c: senders.insert_short_code(c, code("US")))
    found = runtime.db.run(lambda c: senders.find_short_codes(c, a.sid, "12345"))
    assert sorted(c.country for c in found) == ["GB", "US"]


def test_idempotency_keys_expire(runtime: Runtime) -> None:
    run = runtime.db.run
    run(lambda c: store.remember_key(c, "AC1", "k", "SM1", "h", 100))
    assert run(lambda c: store.find_idempotent(c, "AC1", "k", 50)) == ("SM1", "h")
    assert run(lambda c: store.find_idempotent(c, "AC1", "k", 101)) is None
    assert run(lambda c: store.find_idempotent(c, "AC2", "k", 0)) is None
    assert run(lambda c: store.forget_keys_before(c, 101)) == 1


def test_accounts_and_keys(runtime: Runtime) -> None:
    a = create_account(runtime, friendly_name="first", is_test=True)
    listed = runtime.db.run(account_store.list_accounts)
    assert [x.sid for x in listed] == [a.sid] and listed[0].is_test
    assert runtime.db.run(account_store.count_accounts) == 1
