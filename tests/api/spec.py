"""Twilio's OpenAPI description of the 2010 API as the yardstick for Herald's JSON.

Bodies are validated as the spec writes its schemas: extra properties are allowed (the
helpers ignore them, and Herald adds `iso_country`, `mps`, `tags`). Twilio's own formats
(`date-time-rfc-2822`, `phone-number`, `uri-map`) are unknown to the validator, so dates
are checked here by hand. Every check returns a list of problems for the test to assert
empty, so a failure names them all.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime, parsedate_to_datetime
from pathlib import Path
from typing import Any

import httpx
from jsonschema import FormatChecker
from openapi_schema_validator import OAS30Validator, oas30_format_checker

SPEC_FILE = Path(__file__).parent.parent / "specs" / "twilio_api_v2010.json"

# The paging envelope of every 2010 list. The helper takes the one other key as the
# records, so anything more breaks it.
ENVELOPE = frozenset(
    {
        "end",
        "first_page_uri",
        "next_page_uri",
        "page",
        "page_size",
        "previous_page_uri",
        "start",
        "uri",
    }
)
ERROR_KEYS = frozenset({"code", "message", "more_info", "status"})

RFC_2822 = re.compile(
    r"(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{2} "
    r"(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} \d{2}:\d{2}:\d{2} \+0000"
)
# Twilio's `*_page_uri` and `uri` are relative although the spec says `format: uri`.
_URI_FORMATS = frozenset({"uri", "uri-reference", "iri", "iri-reference", "uri-template"})


@functools.cache
def document() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(SPEC_FILE.read_text())
    return loaded


@functools.cache
def _format_checker() -> FormatChecker:
    checker = FormatChecker(formats=())
    checker.checkers = {
        name: check
        for name, check in oas30_format_checker.checkers.items()
        if name not in _URI_FORMATS
    }
    return checker


def response_schema(path: str, method: str, status: int) -> dict[str, Any]:
    """The JSON schema the spec gives for `method path` answering `status`, with the
    components alongside so that its `$ref`s resolve."""
    responses = document()["paths"][path][method.lower()]["responses"]
    schema = responses[str(status)]["content"]["application/json"]["schema"]
    return {**schema, "components": document()["components"]}


def has_operation(path: str, method: str) -> bool:
    return method.lower() in document()["paths"].get(path, {})


def records_key(list_path: str) -> str:
    """The records key of a list, as the spec names it (`messages`, `media_list`, …)."""
    properties = response_schema(list_path, "get", 200)["properties"]
    (key,) = set(properties) - ENVELOPE
    return key


def schema_problems(body: Any, path: str, method: str, status: int) -> list[str]:
    validator = OAS30Validator(
        response_schema(path, method, status), format_checker=_format_checker()
    )
    return [
        f"{'/'.join(map(str, error.absolute_path)) or '<body>'}: {error.message}"
        for error in validator.iter_errors(body)
    ]


def _dates(body: Any, where: str = "") -> Iterator[tuple[str, Any]]:
    if isinstance(body, dict):
        for key, value in body.items():
            if key.startswith("date_"):
                yield f"{where}{key}", value
            yield from _dates(value, f"{where}{key}/")
    elif isinstance(body, list):
        for index, value in enumerate(body):
            yield from _dates(value, f"{where}{index}/")


def date_problems(body: Any, now: datetime | None = None) -> list[str]:
    """Every non-null `date_*` must be RFC 2822 in UTC with the right weekday, and near
    now (no resource here is older than the test run)."""
    now = now or datetime.now(UTC)
    problems = []
    for where, value in _dates(body):
        if value is None:
            continue
        if not isinstance(value, str) or not RFC_2822.fullmatch(value):
            problems.append(f"{where}: {value!r} is not RFC 2822")
            continue
        parsed = parsedate_to_datetime(value)
        if format_datetime(parsed) != value:
            problems.append(f"{where}: {value!r} names the wrong weekday")
        if abs(parsed - now) > timedelta(hours=1):
            problems.append(f"{where}: {value!r} is not near now ({now:%c})")
    return problems


def count_dates(body: Any) -> int:
    return sum(1 for _, value in _dates(body) if value is not None)


def error_problems(response: httpx.Response, status: int, code: int) -> list[str]:
    """Twilio's error JSON: exactly {code, message, more_info, status}, typed, agreeing
    with the HTTP status."""
    if response.status_code != status:
        return [f"HTTP {response.status_code} instead of {status}: {response.text[:300]}"]
    if not response.headers.get("content-type", "").startswith("application/json"):
        return [f"content-type {response.headers.get('content-type')!r} is not JSON"]
    body = response.json()
    if not isinstance(body, dict) or set(body) != ERROR_KEYS:
        return [f"error body {body!r} does not have exactly {sorted(ERROR_KEYS)}"]
    expected = {
        "code": code,
        "status": status,
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
    }
    problems = [
        f"{key} is {body[key]!r}, not {value!r}"
        for key, value in expected.items()
        if body[key] != value or type(body[key]) is not type(value)
    ]
    if not isinstance(body["message"], str) or not body["message"]:
        problems.append(f"message {body['message']!r} is not a non-empty string")
    return problems
