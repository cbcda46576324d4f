"""SMS/ShortCodes (2010): list, fetch and update as Twilio has them; create and delete
are a Herald extension, since Twilio provisions short codes by hand. A short code sends
only within its own country, which it carries as `iso_country`."""

from __future__ import annotations

from dataclasses import replace

from sqlalchemy.engine import Connection
from starlette.requests import Request
from starlette.responses import Response

from herald.api import render
from herald.api.forms import Form
from herald.api.paging import check_token, offset_envelope, page_request
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
from herald.api.webhook_params import mps, sms_webhook
from herald.domain import errors, numbers
from herald.domain.senders import ShortCode
from herald.domain.sids import Prefix
from herald.store import senders as store


async def create(request: Request) -> Response:
    account = await account_of(request)
    form = await form_of(request)
    runtime = runtime_of(request)
    code = (form.get("ShortCode") or "").strip()
    if not numbers.is_short_code(code):
        raise errors.InvalidParameter("ShortCode is required: 3 to 8 digits")
    country = (form.get("IsoCountry") or "US").upper()
    if not numbers.has_short_codes(country):
        raise errors.InvalidParameter(f"IsoCountry {country!r} is not a short-code country")
    now = runtime.clock.now_us()
    short_code = ShortCode(
        sid=runtime.new_sid(Prefix.SHORT_CODE),
        account_sid=account.sid,
        short_code=code,
        country=country,
        friendly_name=form.get("FriendlyName") or code,
        webhook=sms_webhook(form, allow_private=runtime.settings.webhook_allow_private),
        sms=form.boolean("Capabilities.Sms") is not False,
        mms=bool(form.boolean("Capabilities.Mms")),
        mps=mps(form),
        date_created=now,
        date_updated=now,
    )
    stored = await runtime.db.write(lambda conn: store.insert_short_code(conn, short_code))
    return json(render.short_code(stored), 201)


async def fetch(request: Request) -> Response:
    found = await fetch_owned(request, store.get_short_code, "/SMS/ShortCodes")
    return json(render.short_code(found))


async def list_(request: Request) -> Response:
    account = await account_of(request)
    query = query_of(request)
    page = page_request(query)
    echoed = [(k, query.get(k) or "") for k in ("FriendlyName", "ShortCode") if query.get(k)]

    def read(conn: Connection) -> list[ShortCode]:
        check_token(page, lambda key: store.get_short_code(conn, account.sid, key))
        return store.list_short_codes(
            conn,
            account.sid,
            short_code=query.get("ShortCode") or None,
            friendly_name=query.get("FriendlyName"),
            limit=page.size + 1,
            offset=page.offset,
        )

    found = await runtime_of(request).db.read(read)
    records = [render.short_code(c) for c in found[: page.size]]
    return json(
        offset_envelope(
            "short_codes", records, len(found) > page.size, request.url.path, echoed, page
        )
    )


def _updated(code: ShortCode, form: Form, now: int, *, allow_private: bool) -> ShortCode:
    return replace(
        code,
        friendly_name=form.get("FriendlyName") or code.friendly_name,
        webhook=sms_webhook(form, code.webhook, allow_private=allow_private),
        mps=mps(form) if "Mps" in form else code.mps,
        date_updated=now,
    )


async def update(request: Request) -> Response:
    allow = runtime_of(request).settings.webhook_allow_private

    def change(code: ShortCode, form: Form, now: int) -> ShortCode:
        return _updated(code, form, now, allow_private=allow)

    code = await update_owned(
        request, store.get_short_code, change, store.save_short_code, "/SMS/ShortCodes"
    )
    return json(render.short_code(code))


async def delete(request: Request) -> Response:
    return await delete_owned(request, store.delete_short_code, "/SMS/ShortCodes")
