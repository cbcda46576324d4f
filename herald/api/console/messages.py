"""The message log and a message's page: filters, paging, routing, timeline, webhooks."""

from __future__ import annotations

from starlette.routing import BaseRoute


def routes() -> list[BaseRoute]:
    return []
