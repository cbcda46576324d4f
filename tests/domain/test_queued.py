"""The message in flight: what the carrier gets (the body, and the converter's link), the
parts it goes out in, its last part's submission, and its sender's rate (reference §8.1).
Law: an SMS's parts joined give back its text."""

from __future__ import annotations

from dataclasses import fields, replace
from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from herald.domain.message import Message
from herald.domain.queued import (
    QueuedMessage,
    SenderFacts,
    last_submission,
    message_parts,
    queued,
    queued_message,
    sender_mps,
)
from herald.domain.senders import SenderKind
from herald.domain.status import Direction, MessageStatus

SM = "SM" + "1" * 32
AC = "AC" + "2" * 32
MG = "MG" + "3" * 32
LINK = "https://p.twil.io/abcdefg"


def row(**changes: Any) -> QueuedMessage:
    """A routed SMS from a long code."""
    fields: dict[str, Any] = {
        "id": 7,
        "sid": SM,
        "account_sid": AC,
        "messaging_service_sid": None,
        "from_number": "+14155550100",
        "to_number": "+14155550111",
        "sender_sid": "PN" + "4" * 32,
        "body": "hi",
        "smart_encoded": False,
        "num_segments": 1,
        "num_media": 0,
        "validity_period": None,
        "status_callback": None,
        "status": MessageStatus.QUEUED,
        "date_created": 1_000,
    }
    return QueuedMessage(**{**fields, **changes})


def test_an_sms_sends_its_body() -> None:
    sms = row(body="hello")
    assert (sms.text, sms.sends_media) == ("hello", False)


def test_an_mms_sends_its_media_with_its_body() -> None:
    mms = row(body="look", num_media=2)
    assert (mms.text, mms.sends_media) == ("look", True)


def test_a_converted_mms_sends_the_link_as_text_and_no_media() -> None:
    converted = row(body="look", num_media=2, mms_link=LINK)
    assert (converted.text, converted.sends_media) == ("look\n" + LINK, False)


@pytest.mark.parametrize(
    ("kind", "country", "mps"),
    [
        (SenderKind.LONG_CODE, "US", 1),
        (SenderKind.LONG_CODE, "CA", 1),
        (SenderKind.TOLL_FREE, "US", 3),
        (SenderKind.SHORT_CODE, "US", 100),
        (SenderKind.LONG_CODE, "GB", 10),
        (SenderKind.ALPHANUMERIC, "GB", 10),
    ],
)
def test_a_sender_without_an_override_runs_at_twilios_default(
    kind: SenderKind, country: str, mps: int
) -> None:
    assert sender_mps(SenderFacts(sid="PN1", kind=kind, country=country, mps=None)) == mps


def test_a_senders_mps_override_wins() -> None:
    facts = SenderFacts(sid="PN1", kind=SenderKind.LONG_CODE, country="US", mps=25)
    assert sender_mps(facts) == 25


def api_message(**changes: Any) -> Message:
    """A message the API has just stored: through a service, scheduled, no sender yet."""
    stored = Message(
        sid=SM,
        account_sid=AC,
        messaging_service_sid=MG,
        direction=Direction.OUTBOUND_API,
        from_number=None,
        to_number="+14155550111",
        sender_sid=None,
        body="see you",
        status=MessageStatus.SCHEDULED,
        encoding="GSM-7",
        num_segments=1,
        num_media=1,
        error_code=None,
        error_message=None,
        price=None,
        price_unit="USD",
        status_callback="https://hooks.example/status",
        application_sid=None,
        validity_period=600,
        smart_encoded=None,
        provide_feedback=False,
        attempt=None,
        max_price=None,
        tags=None,
        send_at=5_000,
        date_sent=None,
        date_created=1_000,
        date_updated=1_000,
    )
    return replace(stored, **changes)


def test_a_stored_message_as_dispatch_sees_it() -> None:
    assert queued_message(api_message()) == QueuedMessage(
        id=0,
        sid=SM,
        account_sid=AC,
        messaging_service_sid=MG,
        from_number="",
        to_number="+14155550111",
        sender_sid=None,
        body="see you",
        smart_encoded=False,
        num_segments=1,
        num_media=1,
        validity_period=600,
        status_callback="https://hooks.example/status",
        status=MessageStatus.SCHEDULED,
        date_created=1_000,
        send_at=5_000,
        mms_link=None,
    )


def test_a_stored_row_as_dispatch_sees_it() -> None:
    """A row names its fields as a `Message` does; its status is the stored string, its
    flag an integer, and it may carry the converter's link."""
    names = {f.name for f in fields(QueuedMessage)} - {"id", "mms_link"}
    stored = SimpleNamespace(**{name: getattr(api_message(), name) for name in names})
    stored.status, stored.smart_encoded, stored.from_number = "queued", 1, "+14155550100"
    stored.mms_link = LINK
    message = queued(stored, 42)
    assert (message.id, message.status, message.smart_encoded) == (42, MessageStatus.QUEUED, True)
    assert (message.from_number, message.mms_link, message.text) == (
        "+14155550100",
        LINK,
        "see you\n" + LINK,
    )


def test_a_long_sms_goes_in_segments() -> None:
    parts, encoding = message_parts(row(body="x" * 200))
    assert (parts, encoding) == (("x" * 153, "x" * 47), "GSM-7")


def test_an_mms_goes_in_one_part_however_long_its_body() -> None:
    body = "ü" * 300 + "€"
    assert message_parts(row(body=body, num_media=1)) == ((body,), "GSM-7")


def test_an_empty_body_is_one_empty_part() -> None:
    assert message_parts(row(body="")) == (("",), "GSM-7")
    assert message_parts(row(body="", num_media=1)) == (("",), "GSM-7")


def test_smart_encoding_is_what_goes_out() -> None:
    assert message_parts(row(body="“hi”", smart_encoded=True)) == (('"hi"',), "GSM-7")
    assert message_parts(row(body="“hi”")) == (("“hi”",), "UCS-2")


bodies = st.text(max_size=500)
links = st.one_of(st.none(), st.just(LINK))


@given(bodies, links)
def test_an_sms_s_parts_joined_give_back_its_text(body: str, link: str | None) -> None:
    sms = row(body=body, num_media=1 if link else 0, mms_link=link)
    parts, encoding = message_parts(sms)
    assert "".join(parts) == sms.text
    assert parts and encoding in {"GSM-7", "UCS-2"}


@settings(max_examples=50)
@given(bodies, st.integers(0, 3), links, st.booleans())
def test_the_last_submission_is_the_last_part(
    body: str, num_media: int, link: str | None, smart: bool
) -> None:
    message = row(body=body, num_media=num_media, mms_link=link, smart_encoded=smart)
    parts, encoding = message_parts(message)
    last = last_submission(message)
    assert (last.reference, last.part, last.parts) == (f"{SM}/{len(parts)}", len(parts), len(parts))
    assert (last.text, last.encoding) == (parts[-1], encoding)
    assert (last.message_sid, last.account_sid) == (SM, AC)
    assert (last.sender, last.recipient) == ("+14155550100", "+14155550111")


def test_the_last_submission_of_a_three_part_sms() -> None:
    last = last_submission(row(body="a" * 153 + "b" * 153 + "c" * 10))
    assert (last.reference, last.text, last.media_urls) == (f"{SM}/3", "c" * 10, ())
