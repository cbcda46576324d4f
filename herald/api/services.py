"""Messaging v1 Services (reference §4.1): create, fetch, list, update and delete the
services that pick a sender for each message sent through them.

v1 paths name no account: the credentials (an Auth Token or an API key) say whose
services are meant, and another account's service is answered as one that does not
exist (20404). Every parameter is optional on update; on create only FriendlyName is
required and the rest take the defaults of `herald.domain.services.Service`.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from sqlalchemy.engine import Connection
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from herald.api import render, service_senders
from herald.api.forms import Form
from herald.api.paging import check_token
from herald.api.requests import (
    account_of,
    delete_owned,
    fetch_owned,
    form_of,
    json,
    query_of,
    runtime_of,
    update_owned,
)
from herald.api.v1_paging import base_url, envelope, page_request
from herald.api.webhook_params import method_param, url_param
from herald.domain.services import (
    SCAN_CHOICES,
    Service,
    check_friendly_name,
    check_usecase,
    check_validity_period,
)
from herald.domain.sids import Prefix
from herald.store import services as store

PATH = render.SERVICES
_URLS = (
    ("InboundRequestUrl", "inbound_request_url"),
    ("FallbackUrl", "fallback_url"),
    ("StatusCallback", "status_callback"),
)
_METHODS = (("InboundMethod", "inbound_method"), ("FallbackMethod", "fallback_method"))
_FLAGS = (
    ("StickySender", "sticky_sender"),
    ("MmsConverter", "mms_converter"),
    ("SmartEncoding", "smart_encoding"),
    ("FallbackToLongCode", "fallback_to_long_code"),
    ("AreaCodeGeomatch", "area_code_geomatch"),
    ("SynchronousValidation", "synchronous_validation"),
    ("UseInboundWebhookOnNumber", "use_inbound_webhook_on_number"),
    ("SkipUnregisteredAlpha", "skip_unregistered_alpha"),  # Herald's extension (§14)
)


def _webhooks(form: Form, allow_private: bool) -> dict[str, Any]:
    """URLs (empty clears one) and their methods, as given. A URL is absolute http(s),
    fits its column and names no refused address (`url_param`'s checks)."""
    changes: dict[str, Any] = {
        field: url_param(form, param, allow_private=allow_private) or None
        for param, field in _URLS
        if param in form
    }
    for param, field in _METHODS:
        method = method_param(form, param)
        if method is not None:
            changes[field] = method
    return changes


def _options(form: Form) -> dict[str, Any]:
    changes: dict[str, Any] = {}
    for param, field in _FLAGS:
        flag = form.boolean(param)
        if flag is not None:
            changes[field] = flag
    scan = form.choice("ScanMessageContent", SCAN_CHOICES)
    if scan is not None:
        changes["scan_message_content"] = scan
    validity = form.integer("ValidityPeriod")
    if validity is not None:
        changes["validity_period"] = check_validity_period(validity)
    if "Usecase" in form:
        changes["usecase"] = check_usecase(form.get("Usecase") or "")
    return changes


def _configured(form: Form, current: Service, *, allow_private: bool) -> Service:
    """`current` with the settings the form gives; the others are kept."""
    changes = {**_webhooks(form, allow_private), **_options(form)}
    if "FriendlyName" in form:
        changes["friendly_name"] = check_friendly_name(form.get("FriendlyName"))
    return replace(current, **changes)


async def create(request: Request) -> Response:
    account = await account_of(request)
    form = await form_of(request)
    runtime = runtime_of(request)
    now = runtime.clock.now_us()
    draft = Service(
        sid=runtime.new_sid(Prefix.SERVICE),
        account_sid=account.sid,
        friendly_name=check_friendly_name(form.get("FriendlyName")),
        date_created=now,
        date_updated=now,
    )
    service = _configured(form, draft, allow_private=runtime.settings.webhook_allow_private)
    await runtime.db.write(lambda conn: store.insert_service(conn, service))
    return json(render.service(service, base_url(request)), 201)


async def fetch(request: Request) -> Response:
    service = await fetch_owned(request, store.get_service, PATH)
    return json(render.service(service, base_url(request)))


async def list_(request: Request) -> Response:
    account = await account_of(request)
    page = page_request(query_of(request))

    def read(conn: Connection) -> list[Service]:
        check_token(page, lambda key: store.get_service(conn, account.sid, key))
        return store.list_services(conn, account.sid, limit=page.size + 1, offset=page.offset)

    found = await runtime_of(request).db.read(read)
    base = base_url(request)
    records = [render.service(s, base) for s in found[: page.size]]
    return json(envelope(request, "services", records, page, has_more=len(found) > page.size))


async def update(request: Request) -> Response:
    allow = runtime_of(request).settings.webhook_allow_private

    def change(current: Service, form: Form, now: int) -> Service:
        return replace(_configured(form, current, allow_private=allow), date_updated=now)

    service = await update_owned(request, store.get_service, change, store.save_service, PATH)
    runtime_of(request).services.forget(service.sid)  # after the commit: no send re-reads it
    return json(render.service(service, base_url(request)))


async def delete(request: Request) -> Response:
    """Delete the service with its pool and its Sticky Sender mappings (204)."""
    response = await delete_owned(request, store.delete_service, PATH)
    runtime_of(request).services.forget(request.path_params["sid"])
    return response


def routes() -> list[Route]:
    return [
        Route(PATH, list_, methods=["GET"]),
        Route(PATH, create, methods=["POST"]),
        Route(f"{PATH}/{{sid}}", fetch, methods=["GET"]),
        Route(f"{PATH}/{{sid}}", update, methods=["POST"]),
        Route(f"{PATH}/{{sid}}", delete, methods=["DELETE"]),
        *service_senders.routes(),
    ]
