"""Every error leaves the API as Twilio's error JSON (invariant 7): never a stack trace."""

from __future__ import annotations

import logging

import orjson
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from herald.domain import errors

log = logging.getLogger("herald.api")


# What the access log records for a request whose client went away before its response
# (nginx's "client closed request"); nothing is sent.
CLIENT_CLOSED = 499


def error_body(error: errors.TwilioError) -> bytes:
    return orjson.dumps(
        {
            "code": error.code,
            "message": error.message,
            "more_info": error.more_info,
            "status": error.status,
        }
    )


def error_response(error: errors.TwilioError) -> Response:
    headers = {}
    if error.challenge:
        headers["WWW-Authenticate"] = error.challenge
    if isinstance(error, errors.TooManyRequests) and error.retry_after_s is not None:
        headers["Retry-After"] = str(error.retry_after_s)
    return Response(
        error_body(error),
        status_code=error.status,
        media_type="application/json",
        headers=headers,
    )


async def on_twilio_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, errors.TwilioError)
    return error_response(exc)


async def on_http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 405:
        return error_response(
            errors.MethodNotAllowed(f"Method {request.method} not allowed on {request.url.path}")
        )
    if exc.status_code == 404:
        return error_response(
            errors.NotFound(f"The requested resource {request.url.path} was not found")
        )
    return error_response(errors.InvalidParameter(str(exc.detail)))


async def on_disconnect(request: Request, _exc: Exception) -> Response:
    """The client went away before its request was read: not an error. One DEBUG line
    (the access log's, with `CLIENT_CLOSED`) and no traceback; nothing is sent."""
    return Response(status_code=CLIENT_CLOSED)


async def on_unexpected(request: Request, exc: Exception) -> Response:
    log.exception("unexpected error on %s %s", request.method, request.url.path, exc_info=exc)
    return error_response(errors.InternalError())
