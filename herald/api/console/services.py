"""Messaging Services in the console: every setting, the sender pool, Advanced Opt-Out."""

from __future__ import annotations

from starlette.routing import BaseRoute


def routes() -> list[BaseRoute]:
    return []
