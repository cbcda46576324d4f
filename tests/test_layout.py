"""The layout a newcomer relies on (ARCHITECTURE.md): small modules, one concept each.
The import arrows themselves are `lint-imports`' contracts, in `make check`."""

from __future__ import annotations

from pathlib import Path

HERALD = Path(__file__).resolve().parent.parent / "herald"
GENERATED = {"nanp_table.py", "sender_tables.py"}  # scripts/generate_tables.py writes these
MAX_LINES = 400


def test_no_module_is_over_400_lines_but_the_generated_tables() -> None:
    modules = [p for p in HERALD.rglob("*.py") if "migrations" not in p.parts]
    assert len(modules) > 50
    too_long = {
        str(p.relative_to(HERALD)): n
        for p in modules
        if p.name not in GENERATED and (n := len(p.read_text().splitlines())) > MAX_LINES
    }
    assert too_long == {}
