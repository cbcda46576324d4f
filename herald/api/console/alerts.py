"""The alerts in the console: pre-registration, webhook and TwiML errors, sender health."""

from __future__ import annotations

from starlette.routing import BaseRoute


def routes() -> list[BaseRoute]:
    return []
