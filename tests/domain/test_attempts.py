"""A webhook's attempts kept as text on its row: written and read back alike."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from herald.domain.attempts import MAX_ERROR, AttemptEntry, entry, parse


def test_entries_read_back_in_order() -> None:
    history = entry(1, 500, "HTTP 500") + entry(2, None, "timed out") + entry(3, 200, None)
    assert parse(history) == [
        AttemptEntry(at=1, status_code=500, error="HTTP 500"),
        AttemptEntry(at=2, status_code=None, error="timed out"),
        AttemptEntry(at=3, status_code=200, error=""),
    ]


def test_separators_in_an_error_cannot_break_the_history() -> None:
    history = entry(5, 502, "bad | gateway; again\nand again") + entry(6, 200, None)
    found = parse(history)
    assert [a.at for a in found] == [5, 6]
    assert found[0].error == "bad / gateway, again and again"


def test_long_errors_are_cut_and_garbage_is_skipped() -> None:
    assert len(parse(entry(1, None, "x" * 500))[0].error) == MAX_ERROR
    assert parse("") == []
    assert parse("nonsense;|;x|1|;7|abc|oops;") == [
        AttemptEntry(at=7, status_code=None, error="oops")
    ]


@given(
    st.lists(
        st.tuples(
            st.integers(min_value=0, max_value=2**62),
            st.none() | st.integers(min_value=100, max_value=599),
            st.none() | st.text(max_size=200),
        ),
        max_size=10,
    )
)
def test_any_attempts_round_trip(tries: list[tuple[int, int | None, str | None]]) -> None:
    history = "".join(entry(at, code, error) for at, code, error in tries)
    found = parse(history)
    assert [(a.at, a.status_code) for a in found] == [(at, code) for at, code, _ in tries]
