"""The attempts of a status callback or an inbound webhook, as kept on its row: one entry
per attempt, appended in the same write that records its outcome (no extra row, nor an
extra statement), read back by the console. An entry is `at|status|error;`: the time
(µs), the HTTP status (empty when none came), and a short error (empty when none)."""

from __future__ import annotations

from dataclasses import dataclass

MAX_ERROR = 120


@dataclass(frozen=True, slots=True, kw_only=True)
class AttemptEntry:
    at: int
    status_code: int | None
    error: str


def entry(at: int, status_code: int | None, error: str | None) -> str:
    text = " ".join((error or "").replace("|", "/").replace(";", ",").split())[:MAX_ERROR]
    return f"{at}|{'' if status_code is None else status_code}|{text};"


def parse(history: str) -> list[AttemptEntry]:
    """The entries of `history`, oldest first; a malformed entry is skipped."""
    found = []
    for raw in history.split(";"):
        parts = raw.split("|", 2)
        if len(parts) != 3 or not parts[0].isdigit():
            continue
        at, status, error = parts
        found.append(
            AttemptEntry(
                at=int(at), status_code=int(status) if status.isdigit() else None, error=error
            )
        )
    return found
