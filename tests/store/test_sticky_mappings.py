"""Sticky Sender mappings in the store, on SQLite and PostgreSQL: made, moved, kept when
another node made one first, marked used, and deleted after a year unused unless pinned."""

from __future__ import annotations

from herald.runtime import Runtime
from herald.store import routing as store

T = 1_700_000_000_000_000
DAY = 86_400_000_000
MG = "MG" + "0" * 32


def test_made_moved_and_first_one_stands(runtime: Runtime) -> None:
    run = runtime.db.run
    run(lambda c: store.save_mappings(c, MG, {"+14155550100": "PNa", "+14155550101": "PNb"}, T))
    run(lambda c: store.save_mappings(c, MG, {"+14155550100": "PNc"}, T + 1))
    found = run(lambda c: store.sticky_for(c, MG, ["+14155550100", "+14155550101", "+1999"]))
    assert {to: m.sender_sid for to, m in found.items()} == {
        "+14155550100": "PNc",
        "+14155550101": "PNb",
    }
    assert found["+14155550100"].date_created == T and found["+14155550100"].date_updated == T + 1
    assert run(lambda c: store.mapping_counts(c, MG)) == {"PNb": 1, "PNc": 1}


def test_unused_for_a_year_are_deleted_unless_pinned(runtime: Runtime) -> None:
    run = runtime.db.run
    old = {"+14155550100": "PNa", "+14155550101": "PNa", "+14155550102": "PNa"}
    run(lambda c: store.save_mappings(c, MG, old, T))
    run(lambda c: store.pin_mapping(c, MG, "+14155550102", "PNb", T))
    run(lambda c: store.touch_mappings(c, MG, ["+14155550101"], T + 300 * DAY))
    gone = run(lambda c: store.forget_unused_mappings(c, T + 35 * DAY))
    assert gone == 1
    left = run(lambda c: store.list_mappings(c, MG, limit=10, offset=0, sender_sid=None))
    assert [(m.to_number, m.sender_sid, m.pinned) for m in left] == [
        ("+14155550101", "PNa", False),
        ("+14155550102", "PNb", True),
    ]
    assert left[0].date_updated == T + 300 * DAY
