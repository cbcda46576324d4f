"""Sending a test message from the console, with a live preview before sending."""

from __future__ import annotations

from starlette.routing import BaseRoute


def routes() -> list[BaseRoute]:
    return []
