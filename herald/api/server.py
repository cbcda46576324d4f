"""The uvicorn server Herald runs, configured in this one place for `herald serve` and
for the tests' server alike, so that tests exercise the limits production has."""

from __future__ import annotations

import uvicorn
from starlette.types import ASGIApp

from herald.api.http_protocol import protocol_for
from herald.config import Settings

KEEP_ALIVE_S = 5  # an idle keep-alive connection is closed after this (uvicorn's default)


def server_config(app: ASGIApp, settings: Settings, *, port: int | None = None) -> uvicorn.Config:
    """uvicorn's Config for `app`: Herald's HTTP protocol (head timeout, connection cap),
    no WebSockets, no access log of uvicorn's own (Herald logs each request), and the
    graceful-shutdown grace. `port` overrides the settings' (0: any free port)."""
    return uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port if port is None else port,
        http=protocol_for(settings),
        ws="none",
        lifespan="on",
        log_level=settings.log_level.lower(),
        access_log=False,
        proxy_headers=False,
        timeout_keep_alive=KEEP_ALIVE_S,
        timeout_graceful_shutdown=max(1, round(settings.shutdown_grace_s)),
    )
