"""The console's routes, mounted by `api/app.py` under `/console`. Each page module adds
its own (`routes()` in it); this list is the map of the console."""

from __future__ import annotations

from pathlib import Path

from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from herald.api.console import alerts, live, messages, numbers, opt_outs, send, services, signing

STATIC = Path(__file__).parent / "static"


def routes() -> list[BaseRoute]:
    return [
        Route("/console", signing.home, methods=["GET"]),
        Route("/console/", signing.home, methods=["GET"]),
        Route("/console/sign-in", signing.sign_in_form, methods=["GET"]),
        Route("/console/sign-in", signing.sign_in, methods=["POST"]),
        Route("/console/sign-out", signing.sign_out, methods=["POST"]),
        *live.routes(),
        *messages.routes(),
        *send.routes(),
        *services.routes(),
        *numbers.routes(),
        *opt_outs.routes(),
        *alerts.routes(),
        Mount("/console/static", app=StaticFiles(directory=STATIC), name="console-static"),
    ]
