"""The ASGI application: Twilio's paths, one error handler, a request id on every
response and in every request's log line, and a lifespan that closes the runtime."""

from __future__ import annotations

import asyncio
import hmac
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from herald.api import (
    accounts,
    auth_tokens,
    concurrency,
    dead_letters,
    keys,
    media_links,
    messages,
    mms,
    numbers,
    opt_out_ledger,
    opt_out_settings,
    paths,
    routing,
    sender_health,
    sending,
    services,
    short_codes,
    simulator,
)
from herald.api.console.routes import routes as console_routes
from herald.api.errors import (
    CLIENT_CLOSED,
    error_response,
    on_disconnect,
    on_http_error,
    on_twilio_error,
    on_unexpected,
)
from herald.api.path_params import guard
from herald.domain import errors
from herald.domain.errors import TwilioError
from herald.runtime import Runtime

access_log = logging.getLogger("herald.access")
log = logging.getLogger("herald")
NODE_PATHS = ("/healthz", "/metrics")  # what a dispatch-only node serves

A = paths.ACCOUNT
H = paths.HERALD


async def healthz(_request: Request) -> Response:
    return PlainTextResponse("ok")


async def metrics(request: Request) -> Response:
    """Prometheus metrics, for a scraper that presents `HERALD_METRICS_TOKEN` as a bearer
    token; without the setting, for no one (they name every account and sender)."""
    runtime: Runtime = request.app.state.runtime
    expected = runtime.settings.metrics_token
    if expected is None:
        raise errors.MetricsDisabled()
    scheme, _, presented = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(
        presented.strip().encode(), expected.encode()
    ):
        raise errors.MetricsUnauthorized()
    return Response(runtime.metrics.render(), media_type=CONTENT_TYPE_LATEST)


def routes() -> list[Route]:
    n = f"{A}/IncomingPhoneNumbers"
    s = f"{A}/SMS/ShortCodes"
    m = f"{A}/Messages"
    return [
        Route("/healthz", healthz, methods=["GET"]),
        Route("/metrics", metrics, methods=["GET"]),
        Route(f"{A}.json", accounts.fetch, methods=["GET"]),
        Route(f"{m}.json", sending.create, methods=["POST"]),
        Route(f"{m}.json", messages.list_, methods=["GET"]),
        Route(f"{m}/{{sid}}.json", messages.fetch, methods=["GET"]),
        Route(f"{m}/{{sid}}.json", messages.update, methods=["POST"]),
        Route(f"{m}/{{sid}}.json", messages.delete, methods=["DELETE"]),
        Route(f"{m}/{{sid}}/Feedback.json", messages.create_feedback, methods=["POST"]),
        Route(f"{m}/{{sid}}/Media.json", messages.list_media, methods=["GET"]),
        Route(f"{m}/{{sid}}/Media/{{media_sid}}.json", messages.fetch_media, methods=["GET"]),
        Route(f"{m}/{{sid}}/Media/{{media_sid}}.json", messages.delete_media, methods=["DELETE"]),
        Route(f"{m}/{{sid}}/Media/{{media_sid}}", mms.fetch_content, methods=["GET"]),
        Route(f"{n}.json", numbers.list_, methods=["GET"]),
        Route(f"{n}.json", numbers.create, methods=["POST"]),
        *(Route(f"{n}/{kind}.json", numbers.list_, methods=["GET"]) for kind in numbers.TYPE_PATHS),
        *(
            Route(f"{n}/{kind}.json", numbers.create, methods=["POST"])
            for kind in numbers.TYPE_PATHS
        ),
        Route(f"{n}/{{sid}}.json", numbers.fetch, methods=["GET"]),
        Route(f"{n}/{{sid}}.json", numbers.update, methods=["POST"]),
        Route(f"{n}/{{sid}}.json", numbers.delete, methods=["DELETE"]),
        Route(f"{s}.json", short_codes.list_, methods=["GET"]),
        Route(f"{s}.json", short_codes.create, methods=["POST"]),
        Route(f"{s}/{{sid}}.json", short_codes.fetch, methods=["GET"]),
        Route(f"{s}/{{sid}}.json", short_codes.update, methods=["POST"]),
        Route(f"{s}/{{sid}}.json", short_codes.delete, methods=["DELETE"]),
        Route(f"{A}/Keys.json", keys.list_, methods=["GET"]),
        Route(f"{A}/Keys.json", keys.create, methods=["POST"]),
        Route(f"{A}/Keys/{{sid}}.json", keys.fetch, methods=["GET"]),
        Route(f"{A}/Keys/{{sid}}.json", keys.update, methods=["POST"]),
        Route(f"{A}/Keys/{{sid}}.json", keys.delete, methods=["DELETE"]),
        Route(f"{H}/DeadLetters.json", dead_letters.list_, methods=["GET"]),
        Route(f"{H}/DeadLetters/{{id}}/Retry.json", dead_letters.retry, methods=["POST"]),
        *services.routes(),
        *auth_tokens.routes(),
        *routing.routes(),
        *media_links.routes(),
        *simulator.routes(),
        *opt_out_settings.routes(),
        *opt_out_ledger.routes(),
        *sender_health.routes(),
    ]


class RequestIdMiddleware:
    """Adds `Twilio-Request-Id` and `Twilio-Request-Duration` (seconds until the response
    began) to every response and logs one line per request with the id. It also gives each
    request its place in its account's count (`concurrency`): taken once the credentials
    are proved, given back here when the request ends, however it ends."""

    def __init__(self, app: ASGIApp, runtime: Runtime) -> None:
        self.app = app
        self.runtime = runtime
        self.limiter = concurrency.Limiter(runtime.settings.api_concurrency)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = "RQ" + self.runtime.random_bytes(16).hex()
        started = time.perf_counter()
        status = 500
        slot = scope[concurrency.SCOPE_KEY] = self.limiter.slot()

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = list(message.get("headers", []))
                headers.append((b"twilio-request-id", request_id.encode()))
                duration = time.perf_counter() - started
                headers.append((b"twilio-request-duration", b"%.3f" % duration))
                if slot.seen:
                    headers.append((concurrency.HEADER, b"%d" % slot.seen))
                message = {**message, "headers": headers}
            await send(message)

        try:
            if "\x00" in scope["path"]:  # no resource has one; the database cannot hold it
                refusal = errors.NotFound("The requested resource was not found")
                await error_response(refusal)(scope, receive, send_with_id)
                return
            await self.app(scope, receive, send_with_id)
        finally:
            slot.release()
            # A client that went away is not an error: its line is the only one, at DEBUG.
            level = logging.DEBUG if status == CLIENT_CLOSED else logging.INFO
            access_log.log(
                level,
                "%s %s %s %d %.1fms",
                request_id,
                scope["method"],
                scope["path"],
                status,
                (time.perf_counter() - started) * 1000,
            )


def create_app(runtime: Runtime) -> Starlette:
    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        stop = asyncio.Event()
        background = asyncio.create_task(runtime.background(stop))
        try:
            yield
        finally:
            # Stop taking work; what is in flight is finished or handed back (leases
            # released, unsent callbacks made due), within the grace period.
            stop.set()
            try:
                await asyncio.wait_for(background, runtime.settings.shutdown_grace_s)
            except TimeoutError:
                log.warning(
                    "shutdown grace period (%gs) over; stopping now",
                    runtime.settings.shutdown_grace_s,
                )
            if runtime.media is not None:
                await runtime.media.aclose()
            runtime.close()

    handlers: dict[Any, Any] = {
        TwilioError: on_twilio_error,
        HTTPException: on_http_error,
        ClientDisconnect: on_disconnect,
        Exception: on_unexpected,
    }
    served = routes()
    if not runtime.settings.api:  # a dispatch-only node
        served = [route for route in served if route.path in NODE_PATHS]
    mounted = guard(list(served))
    if runtime.settings.api:  # the console's own pages check their own parameters
        mounted += console_routes()
    app = Starlette(routes=mounted, exception_handlers=handlers, lifespan=lifespan)
    app.state.runtime = runtime
    app.add_middleware(RequestIdMiddleware, runtime=runtime)
    return app
