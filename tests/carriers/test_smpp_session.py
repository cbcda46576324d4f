"""The sans-I/O SMPP session against a scripted SMSC built from the codec: binding, the
submit window, answers, nacks and timeouts, enquire_link both ways, unbinding, a lost
connection, inbound PDUs and what the session says to a peer that makes no sense."""

from __future__ import annotations

import struct
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from herald.carriers.smpp_pdu import (
    ESME_RINVCMDID,
    ESME_RINVCMDLEN,
    ESME_RINVPASWD,
    ESME_RTHROTTLED,
    Framer,
    Pdu,
    PduError,
    encode,
)
from herald.carriers.smpp_session import (
    BindRefused,
    Bound,
    Delivered,
    LinkDead,
    NotBound,
    ProtocolError,
    SessionError,
    SessionState,
    SmppSession,
    SubmitAnswered,
    SubmitNacked,
    SubmitTimedOut,
    SubmitUnanswered,
    Unbound,
    WindowFull,
)

TEXT: dict[str, Any] = {"destination_addr": "15550001", "short_message": b"hi"}


def sent(session: SmppSession) -> list[Pdu]:
    """What the session wrote since last asked, as the SMSC reads it."""
    return Framer().feed(session.data_to_send())


def reply(request: Pdu, *, status: int = 0, command: str | None = None, **fields: Any) -> bytes:
    return encode(command or f"{request.command}_resp", request.sequence, status=status, **fields)


def session_of(**options: Any) -> SmppSession:
    return SmppSession(system_id="herald", password="secret", system_type="SMS", **options)


def bound(now: float = 0.0, **options: Any) -> SmppSession:
    session = session_of(**options)
    session.connect(now)
    (bind,) = sent(session)
    assert session.receive(reply(bind, system_id="SMSC"), now) == [Bound(session.bind_type)]
    return session


# -- binding -------------------------------------------------------------------------------


@pytest.mark.parametrize("bind", ["transceiver", "transmitter", "receiver"])
def test_connect_sends_the_bind_and_its_answer_binds(bind: str) -> None:
    session = session_of(bind=bind, addr_ton=1, addr_npi=1)
    assert session.state.name == "CLOSED"
    session.connect(0.0)
    assert session.state.name == "BINDING"
    (pdu,) = sent(session)
    assert pdu == Pdu(
        f"bind_{bind}",
        0,
        1,
        {
            "system_id": "herald",
            "password": "secret",
            "system_type": "SMS",
            "interface_version": 0x34,
            "addr_ton": 1,
            "addr_npi": 1,
            "address_range": "",
        },
    )
    assert session.receive(reply(pdu, system_id="SMSC"), 0.1) == [Bound(bind)]
    assert session.state is SessionState.BOUND


def test_a_refused_bind_closes() -> None:
    session = session_of()
    session.connect(0.0)
    (bind,) = sent(session)
    assert session.receive(reply(bind, status=ESME_RINVPASWD), 0.1) == [BindRefused(0x0E)]
    assert session.state is SessionState.CLOSED


def test_a_generic_nack_to_the_bind_refuses_it() -> None:
    session = session_of()
    session.connect(0.0)
    (bind,) = sent(session)
    nack = reply(bind, command="generic_nack", status=ESME_RINVCMDID)
    assert session.receive(nack, 0.1) == [BindRefused(ESME_RINVCMDID)]


def test_an_unanswered_bind_is_a_dead_link() -> None:
    session = session_of(response_timeout_s=5.0)
    session.connect(100.0)
    (bind,) = sent(session)
    assert session.tick(104.9) == []
    assert session.tick(105.0) == [LinkDead()]
    assert session.state is SessionState.CLOSED
    (late,) = session.receive(reply(bind), 106.0)
    assert isinstance(late, ProtocolError) and "bind_transceiver_resp" in late.detail


def test_an_answer_of_the_wrong_bind_type_is_a_protocol_error() -> None:
    session = session_of(bind="transmitter")
    session.connect(0.0)
    (bind,) = sent(session)
    (event,) = session.receive(reply(bind, command="bind_receiver_resp"), 0.1)
    assert isinstance(event, ProtocolError) and session.state is SessionState.BINDING


def test_connect_twice_is_refused() -> None:
    session = bound()
    with pytest.raises(SessionError, match="connect while bound"):
        session.connect(1.0)


@pytest.mark.parametrize(
    ("options", "error"),
    [
        ({"bind": "both"}, ValueError),
        ({"window": 0}, ValueError),
        ({"enquire_link_s": 0}, ValueError),
        ({"response_timeout_s": -1}, ValueError),
        ({"password": "much-too-long"}, PduError),
    ],
)
def test_bad_settings_fail_at_construction(options: dict[str, Any], error: type[Exception]) -> None:
    with pytest.raises(error):
        SmppSession(**{"system_id": "herald", "password": "pw", **options})


# -- submitting ----------------------------------------------------------------------------


def test_a_submit_is_answered_with_its_message_id() -> None:
    session = bound()
    sequence = session.submit(1.0, **TEXT)
    assert session.in_flight == 1
    (submit,) = sent(session)
    assert (submit.command, submit.sequence) == ("submit_sm", sequence)
    assert (
        submit.fields["destination_addr"] == "15550001" and submit.octets("short_message") == b"hi"
    )
    events = session.receive(reply(submit, message_id="0A1B"), 1.2)
    assert events == [SubmitAnswered(sequence, 0, "0A1B")]
    assert session.in_flight == 0


def test_a_refused_submit_is_answered_with_its_status() -> None:
    session = bound()
    sequence = session.submit(1.0, **TEXT)
    empty = struct.pack(">LLLL", 16, 0x80000004, ESME_RTHROTTLED, sequence)  # no body at all
    assert session.receive(empty, 1.1) == [SubmitAnswered(sequence, ESME_RTHROTTLED, None)]


def test_a_generic_nack_answers_a_submit() -> None:
    session = bound()
    sequence = session.submit(1.0, **TEXT)
    (submit,) = sent(session)
    nack = reply(submit, command="generic_nack", status=ESME_RINVCMDLEN)
    assert session.receive(nack, 1.1) == [SubmitNacked(sequence, ESME_RINVCMDLEN)]
    assert session.in_flight == 0


def test_the_window_holds_at_most_window_submits() -> None:
    session = bound(window=2)
    first = session.submit(1.0, **TEXT)
    session.submit(1.0, **TEXT)
    with pytest.raises(WindowFull):
        session.submit(1.0, **TEXT)
    first_pdu, _ = sent(session)
    assert first_pdu.sequence == first
    session.receive(reply(first_pdu, message_id="1"), 1.1)
    assert session.submit(1.2, **TEXT) > first


def test_submitting_needs_a_bind_that_may_send() -> None:
    session = session_of()
    with pytest.raises(NotBound):
        session.submit(0.0, **TEXT)
    session.connect(0.0)
    with pytest.raises(NotBound):
        session.submit(0.0, **TEXT)
    receiver = bound(bind="receiver")
    with pytest.raises(NotBound, match="receiver"):
        receiver.submit(0.0, **TEXT)


def test_a_submit_that_cannot_be_encoded_takes_no_sequence_and_no_slot() -> None:
    session = bound()
    with pytest.raises(PduError, match="destination_addr"):
        session.submit(1.0, destination_addr="1" * 30)
    assert session.in_flight == 0 and session.data_to_send() == b""
    assert session.submit(1.0, **TEXT) == 2  # the bind had 1


def test_unanswered_submits_time_out_and_leave_the_window() -> None:
    session = bound(response_timeout_s=10.0, enquire_link_s=1000.0)
    first = session.submit(1.0, **TEXT)
    second = session.submit(3.0, **TEXT)
    first_pdu, _ = sent(session)
    assert session.tick(10.9) == []
    assert session.tick(11.0) == [SubmitTimedOut(first)]
    assert session.in_flight == 1
    assert session.tick(13.0) == [SubmitTimedOut(second)]
    (late,) = session.receive(reply(first_pdu, message_id="9"), 14.0)
    assert isinstance(late, ProtocolError) and "submit_sm_resp" in late.detail


def test_connection_lost_leaves_every_submit_in_flight_unanswered() -> None:
    session = bound()
    sequences = [session.submit(1.0, **TEXT) for _ in range(3)]
    session.unbind(2.0)
    assert session.connection_lost() == [SubmitUnanswered(s) for s in sequences]
    assert session.state is SessionState.CLOSED and session.in_flight == 0
    assert session.data_to_send() == b""
    assert session.connection_lost() == []
    session.connect(3.0)  # a new connection, the numbering goes on
    (bind,) = sent(session)
    assert bind.sequence == sequences[-1] + 2


def test_sequence_numbers_wrap_after_0x7fffffff() -> None:
    session = bound()
    session._sequence = 0x7FFFFFFE  # as after two billion requests
    assert [session.submit(1.0, **TEXT) for _ in range(3)] == [0x7FFFFFFF, 1, 2]


# -- keeping the link alive ----------------------------------------------------------------


def test_enquire_link_when_idle_and_a_dead_link_when_unanswered() -> None:
    session = bound(now=0.0, enquire_link_s=30.0, response_timeout_s=10.0)
    assert session.tick(29.9) == [] and sent(session) == []
    assert session.tick(30.0) == []
    (enquiry,) = sent(session)
    assert enquiry.command == "enquire_link"
    assert session.tick(35.0) == [] and sent(session) == []  # one at a time
    assert session.receive(reply(enquiry), 36.0) == []
    assert session.tick(65.9) == [] and sent(session) == []  # idle counts from the answer
    session.tick(66.0)
    assert [pdu.command for pdu in sent(session)] == ["enquire_link"]
    assert session.tick(75.9) == []
    assert session.tick(76.0) == [LinkDead()]
    assert session.state is SessionState.CLOSED


def test_traffic_from_the_peer_postpones_the_enquiry() -> None:
    session = bound(now=0.0, enquire_link_s=30.0)
    session.receive(encode("deliver_sm", 5, short_message=b"MO"), 20.0)
    assert session.tick(49.0) == [] and sent(session) == []


def test_a_generic_nack_to_enquire_link_still_shows_the_peer_is_there() -> None:
    session = bound(now=0.0, enquire_link_s=30.0, response_timeout_s=10.0)
    session.tick(30.0)
    (enquiry,) = sent(session)
    assert session.receive(reply(enquiry, command="generic_nack", status=3), 31.0) == []
    assert session.tick(45.0) == []


def test_the_peers_enquire_link_is_answered_in_any_state() -> None:
    session = session_of()
    session.connect(0.0)
    sent(session)
    assert session.receive(encode("enquire_link", 77), 0.5) == []
    assert sent(session) == [Pdu("enquire_link_resp", 0, 77, {})]


# -- unbinding -----------------------------------------------------------------------------


def test_the_peers_unbind_is_answered_and_closes() -> None:
    session = bound()
    assert session.receive(encode("unbind", 12), 1.0) == [Unbound(by_peer=True)]
    assert sent(session) == [Pdu("unbind_resp", 0, 12, {})]
    assert session.state is SessionState.CLOSED


def test_our_unbind_ends_with_its_answer() -> None:
    session = bound()
    session.unbind(1.0)
    assert session.state.name == "UNBINDING"
    (unbind,) = sent(session)
    assert unbind.command == "unbind"
    with pytest.raises(NotBound):
        session.submit(1.1, **TEXT)
    assert session.receive(reply(unbind), 1.2) == [Unbound(by_peer=False)]
    assert session.state is SessionState.CLOSED


def test_our_unbind_ends_without_an_answer_too() -> None:
    session = bound(response_timeout_s=2.0)
    session.unbind(1.0)
    assert session.tick(2.9) == []
    assert session.tick(3.0) == [Unbound(by_peer=False)]


def test_a_generic_nack_to_our_unbind_ends_it() -> None:
    session = bound()
    session.unbind(1.0)
    (unbind,) = sent(session)
    assert session.receive(reply(unbind, command="generic_nack"), 1.1) == [Unbound(False)]


def test_unbind_before_bound_just_closes() -> None:
    session = session_of()
    session.unbind(0.0)
    assert session.state is SessionState.CLOSED and session.data_to_send() == b""
    session.connect(0.0)
    sent(session)
    session.unbind(0.1)
    assert session.state is SessionState.CLOSED and sent(session) == []


# -- from the SMSC -------------------------------------------------------------------------


def test_deliver_sm_is_reported_and_acknowledged_when_the_shell_says() -> None:
    session = bound()
    frame = encode("deliver_sm", 40, esm_class=4, short_message=b"id:1 stat:DELIVRD")
    (event,) = session.receive(frame, 1.0)
    assert isinstance(event, Delivered) and event.sequence == 40
    assert event.pdu.octets("short_message") == b"id:1 stat:DELIVRD"
    assert sent(session) == []  # not before it is stored
    session.acknowledge(40)
    session.acknowledge(40)  # twice: once only
    session.acknowledge(41)  # never delivered here
    assert sent(session) == [Pdu("deliver_sm_resp", 0, 40, {"message_id": ""})]


def test_data_sm_is_answered_with_data_sm_resp_and_its_status() -> None:
    session = bound()
    (event,) = session.receive(encode("data_sm", 41, message_payload=b"hello"), 1.0)
    assert isinstance(event, Delivered) and event.pdu.command == "data_sm"
    session.acknowledge(41, status=0x64)
    assert sent(session) == [Pdu("data_sm_resp", 0x64, 41, {"message_id": ""})]


def test_a_deliver_sm_before_the_bind_answer_is_still_reported() -> None:
    session = session_of()
    session.connect(0.0)
    (event,) = session.receive(encode("deliver_sm", 3, short_message=b"early"), 0.1)
    assert isinstance(event, Delivered)


def test_pdus_cut_across_reads_and_joined_in_one() -> None:
    session = bound()
    stream = encode("deliver_sm", 50, short_message=b"a") + encode("deliver_sm", 51)
    assert session.receive(stream[:7], 1.0) == []
    events = session.receive(stream[7:], 1.0)
    assert [e.sequence for e in events if isinstance(e, Delivered)] == [50, 51]


# -- a peer that makes no sense ------------------------------------------------------------


def test_an_unreadable_request_gets_a_generic_nack_and_the_rest_is_read() -> None:
    session = bound()
    unknown = struct.pack(">LLLL", 16, 0x0000_0999, 0, 61)
    events = session.receive(unknown + encode("deliver_sm", 62), 1.0)
    assert isinstance(events[0], ProtocolError) and not events[0].fatal
    assert isinstance(events[1], Delivered)
    assert sent(session) == [Pdu("generic_nack", ESME_RINVCMDID, 61, {})]
    assert session.state is SessionState.BOUND


def test_an_unreadable_response_gets_no_answer() -> None:
    session = bound()
    sequence = session.submit(1.0, **TEXT)
    sent(session)
    broken = struct.pack(">LLLL", 21, 0x80000004, 0, sequence) + b"1\0\x02\x0c\x00"  # half a TLV
    (event,) = session.receive(broken, 1.1)
    assert isinstance(event, ProtocolError) and sent(session) == []
    assert session.in_flight == 1  # it will time out: ambiguous, as it is


def test_a_bad_command_length_loses_the_stream() -> None:
    session = bound()
    (event,) = session.receive(struct.pack(">LLLL", 8, 0x15, 0, 70), 1.0)
    assert event == ProtocolError("command_length 8 is outside 16..65536", fatal=True)
    assert session.state is SessionState.CLOSED
    assert sent(session) == [Pdu("generic_nack", ESME_RINVCMDLEN, 70, {})]
    assert session.receive(encode("enquire_link", 71), 1.1) == [] and sent(session) == []


def test_requests_an_esme_does_not_serve_are_refused() -> None:
    session = bound()
    (event,) = session.receive(encode("submit_sm", 80, **TEXT), 1.0)
    assert isinstance(event, ProtocolError) and "submit_sm" in event.detail
    assert sent(session) == [Pdu("generic_nack", ESME_RINVCMDID, 80, {})]


def test_stray_responses() -> None:
    session = bound()
    (event,) = session.receive(encode("submit_sm_resp", 99, message_id="x"), 1.0)
    assert isinstance(event, ProtocolError) and "(99" in event.detail
    assert session.receive(encode("enquire_link_resp", 98), 1.0) == []
    assert session.receive(encode("unbind_resp", 97), 1.0) == []
    assert session.receive(encode("alert_notification", 96), 1.0) == []
    assert sent(session) == []


COMMAND_IDS = [0x80000004, 0x80000000, 0x80000009, 0x80000006, 0x80000015, 0x5, 0x6, 0x15, 0x103]
FRAMED = st.builds(
    lambda command_id, status, sequence, body: (
        struct.pack(">LLLL", 16 + len(body), command_id, status, sequence) + body
    ),
    st.sampled_from(COMMAND_IDS) | st.integers(0, 2**32 - 1),
    st.sampled_from([0, ESME_RTHROTTLED]),
    st.integers(0, 4),
    st.binary(max_size=40),
)


@settings(max_examples=500)
@given(st.lists(FRAMED | st.binary(max_size=30), max_size=8), st.floats(0, 100))
def test_whatever_the_peer_sends_the_session_answers_with_events(
    reads: list[bytes], later: float
) -> None:
    session = bound()
    session.submit(1.0, **TEXT)
    session.submit(1.0, **TEXT)
    for data in reads:
        for event in session.receive(data, 2.0):
            assert type(event).__module__ == "herald.carriers.smpp_session"
    session.tick(later)
    Framer().feed(session.data_to_send())  # what it answered is well formed
    assert all(isinstance(e, SubmitUnanswered) for e in session.connection_lost())
