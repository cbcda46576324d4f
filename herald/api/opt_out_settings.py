"""Advanced Opt-Out of a Messaging Service (§11.3), as Herald's API extension: Twilio
configures it only in its Console. `GET /v1/Services/{MG}/OptOut` answers the settings;
`POST` changes the parameters given and keeps the rest:

- `Enabled` (true/false);
- `OptOutKeywords`, `OptInKeywords`, `HelpKeywords`: the default set's keywords,
  comma-separated (STOP, START and HELP cannot be removed);
- `OptOutReply`, `OptInReply`, `HelpReply`;
- `Languages`: a JSON array of keyword sets, e.g.
  `[{"language": "es", "help_keywords": ["AYUDA"], "help_reply": "…"}]`;
- `Countries`: a JSON array of reply overrides by the texter's country, e.g.
  `[{"country": "MX", "opt_out_reply": "…"}]`.
"""

from __future__ import annotations

from typing import Any

import orjson
from sqlalchemy.engine import Connection
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from herald.api import render
from herald.api.forms import Form
from herald.api.requests import account_of, form_of, json, not_found, runtime_of
from herald.domain import errors
from herald.domain.optout import AdvancedOptOut, default_config
from herald.store import opt_outs as store
from herald.store import services as service_store

PATH = f"{render.SERVICES}/{{sid}}/OptOut"

_KEYWORDS = {
    "OptOutKeywords": "opt_out_keywords",
    "OptInKeywords": "opt_in_keywords",
    "HelpKeywords": "help_keywords",
}
_REPLIES = {"OptOutReply": "opt_out_reply", "OptInReply": "opt_in_reply", "HelpReply": "help_reply"}
_LISTS = {"Languages": "languages", "Countries": "countries"}


def _render(account_sid: str, service_sid: str, config: AdvancedOptOut) -> dict[str, Any]:
    return {
        "account_sid": account_sid,
        "messaging_service_sid": service_sid,
        **config.to_json(),
        "url": f"https://messaging.twilio.com{render.SERVICES}/{service_sid}/OptOut",
    }


def changed(current: AdvancedOptOut, form: Form) -> AdvancedOptOut:
    """The settings with the form's parameters applied (20001 naming a bad one)."""
    data: dict[str, Any] = current.to_json()
    enabled = form.get("Enabled")
    if enabled is not None:
        if enabled.lower() not in ("true", "false"):
            raise errors.InvalidParameter("Enabled must be true or false")
        data["enabled"] = enabled.lower() == "true"
    for param, key in _KEYWORDS.items():
        value = form.get(param)
        if value is not None:
            data[key] = [word.strip() for word in value.split(",") if word.strip()]
    for param, key in _REPLIES.items():
        value = form.get(param)
        if value is not None:
            data[key] = value
    for param, key in _LISTS.items():
        value = form.get(param)
        if value is not None:
            try:
                data[key] = orjson.loads(value)
            except orjson.JSONDecodeError:
                raise errors.InvalidParameter(f"{param} must be a JSON array") from None
    return AdvancedOptOut.from_json(data)


async def fetch(request: Request) -> Response:
    account = await account_of(request)
    sid = request.path_params["sid"]

    def read(conn: Connection) -> AdvancedOptOut:
        if service_store.get_service(conn, account.sid, sid) is None:
            raise not_found(f"{render.SERVICES}/{sid}")
        return store.settings_of(conn, sid) or default_config()

    config = await runtime_of(request).db.read(read)
    return json(_render(account.sid, sid, config))


async def update(request: Request) -> Response:
    account = await account_of(request)
    form = await form_of(request)
    runtime = runtime_of(request)
    sid = request.path_params["sid"]
    now = runtime.clock.now_us()

    def write(conn: Connection) -> AdvancedOptOut:
        if service_store.get_service(conn, account.sid, sid) is None:
            raise not_found(f"{render.SERVICES}/{sid}")
        config = changed(store.settings_of(conn, sid) or default_config(), form)
        store.save_settings(conn, account.sid, sid, config, now)
        return config

    config = await runtime.db.write(write)
    return json(_render(account.sid, sid, config))


def routes() -> list[Route]:
    return [Route(PATH, fetch, methods=["GET"]), Route(PATH, update, methods=["POST"])]
