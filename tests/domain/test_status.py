from __future__ import annotations

import pytest

from herald.domain.status import (
    TERMINAL,
    TRANSITIONS,
    MessageStatus,
    allowed_from,
    can_transition,
    is_complete,
    is_terminal,
)

S = MessageStatus


def test_every_status_has_a_row() -> None:
    assert set(TRANSITIONS) == set(MessageStatus)


def test_terminal_statuses_go_nowhere_but_read() -> None:
    for status in TERMINAL:
        assert TRANSITIONS[status] <= {S.READ}


@pytest.mark.parametrize(
    ("old", "new", "ok"),
    [
        (S.QUEUED, S.SENDING, True),
        (S.SENDING, S.SENT, True),
        (S.SENT, S.DELIVERED, True),
        (S.SCHEDULED, S.CANCELED, True),
        (S.ACCEPTED, S.QUEUED, True),
        (S.QUEUED, S.CANCELED, False),
        (S.DELIVERED, S.SENT, False),
        (S.FAILED, S.QUEUED, False),
        (S.SENT, S.QUEUED, False),
    ],
)
def test_can_transition(old: MessageStatus, new: MessageStatus, ok: bool) -> None:
    assert can_transition(old, new) is ok


def test_allowed_from_inverts_the_table() -> None:
    assert allowed_from(S.CANCELED) == {S.ACCEPTED, S.SCHEDULED}
    assert allowed_from(S.DELIVERED) == {S.SENDING, S.SENT}
    assert allowed_from(S.SCHEDULED) == frozenset()


def test_complete_and_terminal() -> None:
    assert is_terminal(S.DELIVERED) and not is_terminal(S.SENT)
    assert is_complete(S.SENT) and is_complete(S.FAILED)
    assert not is_complete(S.QUEUED) and not is_complete(S.SCHEDULED)


def test_wire_strings() -> None:
    assert S.PARTIALLY_DELIVERED == "partially_delivered"
    assert [s.value for s in (S.ACCEPTED, S.QUEUED)] == ["accepted", "queued"]
