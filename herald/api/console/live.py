"""The live view: queue depth and oldest wait per sender, messages per second, delivered
and failed rates, the callback backlog and the carriers' connections, updating itself."""

from __future__ import annotations

from starlette.responses import Response
from starlette.routing import Route

from herald.api.console.pages import Page, page


@page
async def live(p: Page) -> Response:
    return p.render("live.html", section="live", title="Live")


def routes() -> list[Route]:
    return [Route("/console/live", live, methods=["GET"])]
