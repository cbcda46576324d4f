"""Every error leaves the API as Twilio's error JSON (invariant 7): never a stack trace."""

from __future__ import annotations

import logging

import orjson
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from herald.domain import errors

log = logging.getLogger("herald.api")


def error_response(error: errors.TwilioError) -> Response:
    body = {
        "code": error.code,
        "message": error.message,
        "more_info": error.more_info,
        "status": error.status,
    }
    headers = {"WWW-Authenticate": error.challenge} if error.challenge else None
    return Response(
        orjson.dumps(body), status_code=error.status, headers=headers, media_type="application/json"
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


async def on_unexpected(request: Request, exc: Exception) -> Response:
    log.exception("unexpected error on %s %s", request.method, request.url.path, exc_info=exc)
    return error_response(errors.InternalError())
