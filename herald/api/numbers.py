"""IncomingPhoneNumbers (§5): register, fetch, list, update and delete the numbers an
account owns. Herald cannot buy numbers, so "create" registers a number the user already
has with its carrier; its type and country come from the number itself."""

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
from herald.api.webhook_params import (
    application_sid,
    capabilities,
    method_param,
    mps,
    sms_webhook,
    url_param,
)
from herald.domain import errors, numbers, test_credentials
from herald.domain.senders import Capabilities, IncomingNumber
from herald.domain.sids import Prefix
from herald.store import senders as store

TYPE_PATHS = {"Local": "local", "Mobile": "mobile", "TollFree": "toll-free"}  # the subresources


def _type_of(request: Request) -> str | None:
    """The number type a typed subresource (`…/IncomingPhoneNumbers/Local.json`) names."""
    route = request.scope["route"].path
    return TYPE_PATHS.get(route.rsplit("/", 1)[-1].removesuffix(".json"))


def _parse_phone_number(form: Form, expected_type: str | None) -> numbers.PhoneNumber:
    raw = form.get("PhoneNumber")
    if not raw:
        raise errors.PhoneNumberInvalid("PhoneNumber is required: the number you own, in E.164")
    try:
        number = numbers.parse_number(raw)
    except numbers.NumberError as exc:
        raise errors.PhoneNumberInvalid(f"The phone number {raw} is not valid: {exc}") from None
    if expected_type is not None and number.number_type != expected_type:
        raise errors.PhoneNumberInvalid(
            f"The phone number {number.e164} is {number.number_type}, not {expected_type}"
        )
    return number


def _test_number(form: Form) -> numbers.PhoneNumber:
    raw = form.get("PhoneNumber") or ""
    if raw == "+15005550000":
        raise errors.PhoneNumberUnavailable()
    if raw != test_credentials.VALID_FROM:
        raise errors.PhoneNumberInvalid()
    return numbers.PhoneNumber(
        e164=raw,
        country="US",
        country_code=1,
        national_number=raw[2:],
        area_code="500",
        number_type=numbers.NumberType.LOCAL,
    )


async def create(request: Request) -> Response:
    account = await account_of(request)
    form = await form_of(request)
    runtime = runtime_of(request)
    expected = _type_of(request)
    parsed = _test_number(form) if account.is_test else _parse_phone_number(form, expected)
    now = runtime.clock.now_us()
    nanp_sms = parsed.country in ("US", "CA")
    allow = runtime.settings.webhook_allow_private

    def url(name: str) -> str:
        return url_param(form, name, allow_private=allow)

    number = IncomingNumber(
        sid=runtime.new_sid(Prefix.PHONE_NUMBER),
        account_sid=account.sid,
        phone_number=parsed.e164,
        friendly_name=form.get("FriendlyName") or numbers.friendly_format(parsed),
        country=parsed.country,
        number_type=parsed.number_type.value,
        webhook=sms_webhook(form, allow_private=allow),
        sms_application_sid=application_sid(form) or "",
        voice_url=url("VoiceUrl"),
        voice_method=method_param(form, "VoiceMethod") or "POST",
        voice_fallback_url=url("VoiceFallbackUrl"),
        voice_fallback_method=method_param(form, "VoiceFallbackMethod") or "POST",
        voice_caller_id_lookup=bool(form.boolean("VoiceCallerIdLookup")),
        status_callback=url("StatusCallback"),
        status_callback_method=method_param(form, "StatusCallbackMethod") or "POST",
        capabilities=capabilities(form, Capabilities(mms=nanp_sms)),
        mps=mps(form),
        date_created=now,
        date_updated=now,
    )
    if account.is_test:
        return json(render.incoming_number(number), 201)
    stored = await runtime.db.write(lambda conn: store.insert_number(conn, number))
    return json(render.incoming_number(stored), 201)


async def fetch(request: Request) -> Response:
    number = await fetch_owned(request, store.get_number, "/IncomingPhoneNumbers")
    return json(render.incoming_number(number))


async def list_(request: Request) -> Response:
    account = await account_of(request)
    query = query_of(request)
    page = page_request(query)
    number_type = _type_of(request)
    echoed = [(k, query.get(k) or "") for k in ("PhoneNumber", "FriendlyName") if query.get(k)]

    def read(conn: Connection) -> list[IncomingNumber]:
        check_token(page, lambda key: store.get_number(conn, account.sid, key))
        return store.list_numbers(
            conn,
            account.sid,
            phone_number=query.get("PhoneNumber") or None,
            friendly_name=query.get("FriendlyName"),
            number_type=number_type,
            limit=page.size + 1,
            offset=page.offset,
        )

    found = await runtime_of(request).db.read(read)
    records = [render.incoming_number(n) for n in found[: page.size]]
    return json(
        offset_envelope(
            "incoming_phone_numbers",
            records,
            len(found) > page.size,
            request.url.path,
            echoed,
            page,
        )
    )


def _updated(
    number: IncomingNumber, form: Form, now: int, *, allow_private: bool
) -> IncomingNumber:
    hook = number.webhook

    def _url(name: str, current: str) -> str:
        return url_param(form, name, allow_private=allow_private) if name in form else current

    return replace(
        number,
        friendly_name=form.get("FriendlyName") or number.friendly_name,
        webhook=sms_webhook(form, hook, allow_private=allow_private),
        sms_application_sid=(
            application_sid(form) if "SmsApplicationSid" in form else number.sms_application_sid
        ),
        voice_url=_url("VoiceUrl", number.voice_url),
        voice_method=method_param(form, "VoiceMethod") or number.voice_method,
        voice_fallback_url=_url("VoiceFallbackUrl", number.voice_fallback_url),
        voice_fallback_method=method_param(form, "VoiceFallbackMethod")
        or number.voice_fallback_method,
        voice_caller_id_lookup=_flag(form, "VoiceCallerIdLookup", number.voice_caller_id_lookup),
        status_callback=_url("StatusCallback", number.status_callback),
        status_callback_method=method_param(form, "StatusCallbackMethod")
        or number.status_callback_method,
        capabilities=capabilities(form, number.capabilities),
        mps=mps(form) if "Mps" in form else number.mps,
        date_updated=now,
    )


def _flag(form: Form, name: str, current: bool) -> bool:
    value = form.boolean(name)
    return current if value is None else value


async def update(request: Request) -> Response:
    allow = runtime_of(request).settings.webhook_allow_private

    def change(number: IncomingNumber, form: Form, now: int) -> IncomingNumber:
        return _updated(number, form, now, allow_private=allow)

    number = await update_owned(
        request, store.get_number, change, store.save_number, "/IncomingPhoneNumbers"
    )
    return json(render.incoming_number(number))


async def delete(request: Request) -> Response:
    return await delete_owned(request, store.delete_number, "/IncomingPhoneNumbers")
