"""Messaging v1 Services and their PhoneNumbers, ShortCodes and AlphaSenders on a real
server: through the official `twilio` client where it has the call, over raw HTTP to
check every JSON body against Twilio's OpenAPI description of Messaging v1, and every
refusal's code and HTTP status.
"""

from __future__ import annotations

import functools
import itertools
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from openapi_schema_validator import OAS30Validator, oas30_format_checker
from sqlalchemy import func, insert, select
from sqlalchemy.engine import Connection
from twilio.base.exceptions import TwilioRestException
from twilio.rest import Client

from herald.domain.accounts import Account
from herald.domain.services import MAX_POOL
from herald.store.schema import service_senders, sticky_mappings
from tests.api import spec
from tests.conftest import Herald, client_for

# API-only server: nothing here needs messages dispatched.
DISPATCH = False

V1_SPEC = Path(__file__).parent.parent / "specs" / "twilio_messaging_v1.json"
SERVICES = "/v1/Services"
SERVICE = "/v1/Services/{Sid}"
POOLS = {
    "phone_numbers": "/v1/Services/{ServiceSid}/PhoneNumbers",
    "short_codes": "/v1/Services/{ServiceSid}/ShortCodes",
    "alpha_senders": "/v1/Services/{ServiceSid}/AlphaSenders",
}
UNKNOWN = "0123456789abcdef0123456789abcdef"
ISO_8601 = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z")

_numbers = itertools.count(3000)
_short_codes = itertools.count(40000)


# -- Twilio's description of Messaging v1 as the yardstick -----------------------------


@functools.cache
def v1_document() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(V1_SPEC.read_text())
    return loaded


def schema_problems(body: Any, path: str, method: str, status: int) -> list[str]:
    """What the spec's schema for `method path` answering `status` finds wrong in `body`."""
    document = v1_document()
    responses = document["paths"][path][method]["responses"]
    schema = responses[str(status)]["content"]["application/json"]["schema"]
    validator = OAS30Validator(
        {**schema, "components": document["components"]}, format_checker=oas30_format_checker
    )
    return [
        f"{'/'.join(map(str, e.absolute_path)) or '<body>'}: {e.message}"
        for e in validator.iter_errors(body)
    ]


def _walk(body: Any, where: str = "") -> Iterator[tuple[str, str, Any]]:
    if isinstance(body, dict):
        for key, value in body.items():
            yield f"{where}{key}", key, value
            yield from _walk(value, f"{where}{key}/")
    elif isinstance(body, list):
        for index, value in enumerate(body):
            yield from _walk(value, f"{where}{index}/")


def v1_problems(body: Any, base_url: str) -> list[str]:
    """v1 conventions the validator does not know: ISO 8601 dates near now, and every
    Herald URL absolute, on Herald's own address."""
    now = datetime.now(UTC)
    problems = []
    for where, key, value in _walk(body):
        if key.startswith("date_") and value is not None:
            if not isinstance(value, str) or not ISO_8601.fullmatch(value):
                problems.append(f"{where}: {value!r} is not ISO 8601")
            elif abs(datetime.fromisoformat(value) - now) > timedelta(hours=1):
                problems.append(f"{where}: {value!r} is not near now")
        is_link = key == "url" or key.endswith("_url") or "/links/" in f"/{where}"
        own = key not in ("inbound_request_url", "fallback_url", "status_callback")
        if is_link and own and value is not None and not str(value).startswith(base_url + "/"):
            problems.append(f"{where}: {value!r} is not an absolute URL on {base_url}")
    return problems


# -- tenants ---------------------------------------------------------------------------


@dataclass
class Tenant:
    """An account with the official client and a raw HTTP client for it."""

    herald: Herald
    account: Account
    client: Client
    http: httpx.Client

    def number(self, **form: str) -> str:
        """Register a new number (SMS, MMS and voice unless `form` says otherwise)."""
        path = f"/2010-04-01/Accounts/{self.account.sid}/IncomingPhoneNumbers.json"
        response = self.http.post(path, data={"PhoneNumber": f"+1415555{next(_numbers)}", **form})
        assert response.status_code == 201, response.text
        sid: str = response.json()["sid"]
        return sid

    def short_code(self, **form: str) -> str:
        path = f"/2010-04-01/Accounts/{self.account.sid}/SMS/ShortCodes.json"
        response = self.http.post(path, data={"ShortCode": str(next(_short_codes)), **form})
        assert response.status_code == 201, response.text
        sid: str = response.json()["sid"]
        return sid

    def service(self, friendly_name: str = "service") -> str:
        sid: str = self.client.messaging.v1.services.create(friendly_name=friendly_name).sid
        return sid

    def post(self, path: str, form: dict[str, Any], status: int = 201) -> dict[str, Any]:
        response = self.http.post(path, data=form)
        assert response.status_code == status, response.text
        body: dict[str, Any] = response.json()
        return body

    def get(self, path: str, **params: Any) -> dict[str, Any]:
        response = self.http.get(path, params=params)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    def check(self, body: Any, template: str, method: str, status: int) -> None:
        assert schema_problems(body, template, method, status) == []
        assert v1_problems(body, self.herald.base_url) == []


@pytest.fixture
def tenant_factory(herald: Herald) -> Iterator[Callable[[], Tenant]]:
    opened: list[httpx.Client] = []

    def make() -> Tenant:
        account = herald.account()
        http = httpx.Client(
            base_url=herald.base_url, auth=(account.sid, account.auth_token), timeout=10
        )
        opened.append(http)
        return Tenant(herald, account, herald.client(account), http)

    yield make
    for http in opened:
        http.close()


@pytest.fixture
def tenant(tenant_factory: Callable[[], Tenant]) -> Tenant:
    return tenant_factory()


def refused(response: httpx.Response, status: int, code: int, *, names: str = "") -> None:
    assert spec.error_problems(response, status, code) == []
    assert names in response.json()["message"]


def add_mapping(herald: Herald, service_sid: str, to: str, sender_sid: str) -> None:
    def write(conn: Connection) -> None:
        conn.execute(
            insert(sticky_mappings).values(
                service_sid=service_sid,
                to_number=to,
                sender_sid=sender_sid,
                pinned=False,
                date_created=0,
                date_updated=0,
            )
        )

    herald.runtime.db.run(write)


def mappings(herald: Herald, service_sid: str) -> dict[str, str]:
    """The service's Sticky Sender mappings, recipient → sender."""

    def read(conn: Connection) -> dict[str, str]:
        rows = conn.execute(
            select(sticky_mappings.c.to_number, sticky_mappings.c.sender_sid).where(
                sticky_mappings.c.service_sid == service_sid
            )
        )
        return {to: sender for to, sender in rows}

    return herald.runtime.db.run(read)


def pool_rows(herald: Herald, service_sid: str) -> int:
    def read(conn: Connection) -> int:
        query = select(func.count()).where(service_senders.c.service_sid == service_sid)
        count: int = conn.execute(query).scalar_one()
        return count

    return herald.runtime.db.run(read)


# -- the Service resource --------------------------------------------------------------


def test_create_takes_the_defaults(tenant: Tenant) -> None:
    created = tenant.client.messaging.v1.services.create(friendly_name="Alerts")
    assert created.sid.startswith("MG") and len(created.sid) == 34
    assert created.account_sid == tenant.account.sid
    assert created.friendly_name == "Alerts"
    assert (created.inbound_method, created.fallback_method) == ("POST", "POST")
    assert created.validity_period == 36_000
    assert created.scan_message_content == "inherit"
    assert created.usecase == "undeclared"
    assert created.sticky_sender and created.area_code_geomatch
    assert created.mms_converter and created.smart_encoding
    assert not created.fallback_to_long_code and not created.synchronous_validation
    assert not created.use_inbound_webhook_on_number
    assert created.us_app_to_person_registered is False
    assert created.inbound_request_url is None and created.status_callback is None
    assert created.date_created == created.date_updated

    body = tenant.get(f"{SERVICES}/{created.sid}")
    tenant.check(body, SERVICE, "get", 200)
    assert body["skip_unregistered_alpha"] is False
    url = f"{tenant.herald.base_url}{SERVICES}/{created.sid}"
    assert body["url"] == url
    assert body["links"] == {
        "phone_numbers": f"{url}/PhoneNumbers",
        "short_codes": f"{url}/ShortCodes",
        "alpha_senders": f"{url}/AlphaSenders",
        "messages": f"{url}/Messages",
        "us_app_to_person": f"{url}/Compliance/Usa2p",
        "us_app_to_person_usecases": f"{url}/Compliance/Usa2p/Usecases",
        "channel_senders": f"{url}/ChannelSenders",
        "destination_alpha_senders": f"{url}/DestinationAlphaSenders",
    }


EVERY_FIELD = {
    "FriendlyName": "n" * 64,
    "InboundRequestUrl": "https://example.com/in",
    "InboundMethod": "GET",
    "FallbackUrl": "https://example.com/fallback",
    "FallbackMethod": "GET",
    "StatusCallback": "http://example.com:8080/status?x=1",
    "StickySender": "false",
    "MmsConverter": "false",
    "SmartEncoding": "false",
    "ScanMessageContent": "enable",
    "FallbackToLongCode": "true",
    "AreaCodeGeomatch": "false",
    "ValidityPeriod": "600",
    "SynchronousValidation": "true",
    "Usecase": "marketing",
    "UseInboundWebhookOnNumber": "true",
    "SkipUnregisteredAlpha": "true",
}
EVERY_FIELD_JSON = {
    "friendly_name": "n" * 64,
    "inbound_request_url": "https://example.com/in",
    "inbound_method": "GET",
    "fallback_url": "https://example.com/fallback",
    "fallback_method": "GET",
    "status_callback": "http://example.com:8080/status?x=1",
    "sticky_sender": False,
    "mms_converter": False,
    "smart_encoding": False,
    "scan_message_content": "enable",
    "fallback_to_long_code": True,
    "area_code_geomatch": False,
    "validity_period": 600,
    "synchronous_validation": True,
    "usecase": "marketing",
    "use_inbound_webhook_on_number": True,
    "skip_unregistered_alpha": True,
}


def test_create_takes_every_field(tenant: Tenant) -> None:
    body = tenant.post(SERVICES, EVERY_FIELD)
    tenant.check(body, SERVICES, "post", 201)
    assert {key: body[key] for key in EVERY_FIELD_JSON} == EVERY_FIELD_JSON
    fetched = tenant.client.messaging.v1.services(body["sid"]).fetch()
    assert fetched.inbound_request_url == "https://example.com/in"
    assert fetched.validity_period == 600 and fetched.usecase == "marketing"
    assert fetched.scan_message_content == "enable"


def test_update_changes_only_what_it_is_given(tenant: Tenant) -> None:
    sid = tenant.post(SERVICES, EVERY_FIELD)["sid"]
    updated = tenant.client.messaging.v1.services(sid).update(
        friendly_name="Renamed", validity_period=3600, sticky_sender=True
    )
    assert (updated.friendly_name, updated.validity_period) == ("Renamed", 3600)
    assert updated.sticky_sender is True
    body = tenant.get(f"{SERVICES}/{sid}")
    tenant.check(body, SERVICE, "get", 200)
    unchanged = {k: v for k, v in EVERY_FIELD_JSON.items() if k not in ("friendly_name",)}
    unchanged.update(validity_period=3600, sticky_sender=True)
    assert {key: body[key] for key in unchanged} == unchanged
    assert body["date_updated"] >= body["date_created"]


def test_update_with_every_field_and_clearing_urls(tenant: Tenant) -> None:
    sid = tenant.service()
    body = tenant.post(f"{SERVICES}/{sid}", EVERY_FIELD, status=200)
    tenant.check(body, SERVICE, "post", 200)
    assert {key: body[key] for key in EVERY_FIELD_JSON} == EVERY_FIELD_JSON
    cleared = tenant.post(
        f"{SERVICES}/{sid}", {"InboundRequestUrl": "", "StatusCallback": ""}, status=200
    )
    assert cleared["inbound_request_url"] is None and cleared["status_callback"] is None
    assert cleared["fallback_url"] == "https://example.com/fallback"
    empty = tenant.post(f"{SERVICES}/{sid}", {}, status=200)
    assert {key: empty[key] for key in EVERY_FIELD_JSON} == {
        **EVERY_FIELD_JSON,
        "inbound_request_url": None,
        "status_callback": None,
    }


BAD_SETTINGS = [
    ({"InboundRequestUrl": "not a url"}, 20001, "InboundRequestUrl"),
    ({"FallbackUrl": "ftp://example.com/x"}, 20001, "FallbackUrl"),
    ({"StatusCallback": "https://under_score.example.com/"}, 20001, "StatusCallback"),
    ({"InboundMethod": "PUT"}, 20001, "InboundMethod"),
    ({"FallbackMethod": "DELETE"}, 20001, "FallbackMethod"),
    ({"ValidityPeriod": "0"}, 20001, "ValidityPeriod"),
    ({"ValidityPeriod": "36001"}, 20001, "ValidityPeriod"),
    ({"ValidityPeriod": "ten"}, 20001, "ValidityPeriod"),
    ({"Usecase": "spam"}, 21713, "Usecase"),
    ({"Usecase": ""}, 21713, "Usecase"),
    ({"ScanMessageContent": "maybe"}, 20001, "ScanMessageContent"),
    ({"StickySender": "yes"}, 20001, "StickySender"),
    ({"SkipUnregisteredAlpha": "2"}, 20001, "SkipUnregisteredAlpha"),
    ({"FriendlyName": "n" * 65}, 20001, "FriendlyName"),
    ({"FriendlyName": ""}, 20001, "FriendlyName"),
    ({"FriendlyName": "a\x00b"}, 20001, "FriendlyName"),
    ({"InboundRequestUrl": "https://example.com/" + "a" * 1005}, 20001, "InboundRequestUrl"),
    ({"FallbackUrl": "https://example.com/a\x00b"}, 20001, "FallbackUrl"),
]


@pytest.mark.parametrize(("form", "code", "names"), BAD_SETTINGS, ids=lambda v: str(v)[:30])
def test_create_refuses_bad_settings(
    tenant: Tenant, form: dict[str, str], code: int, names: str
) -> None:
    response = tenant.http.post(SERVICES, data={"FriendlyName": "s", **form})
    refused(response, 400, code, names=names)
    assert tenant.get(SERVICES)["services"] == []


@pytest.mark.parametrize(("form", "code", "names"), BAD_SETTINGS, ids=lambda v: str(v)[:30])
def test_update_refuses_bad_settings(
    tenant: Tenant, form: dict[str, str], code: int, names: str
) -> None:
    sid = tenant.service()
    before = tenant.get(f"{SERVICES}/{sid}")
    refused(tenant.http.post(f"{SERVICES}/{sid}", data=form), 400, code, names=names)
    assert tenant.get(f"{SERVICES}/{sid}") == before


def test_friendly_name_is_required(tenant: Tenant) -> None:
    refused(tenant.http.post(SERVICES, data={}), 400, 20001, names="FriendlyName is required")
    with pytest.raises(TwilioRestException) as caught:
        tenant.client.messaging.v1.services.create(friendly_name="")
    assert (caught.value.status, caught.value.code) == (400, 20001)


def test_delete_removes_the_service_its_pool_and_its_mappings(tenant: Tenant) -> None:
    herald = tenant.herald
    sid, other = tenant.service(), tenant.service()
    number = tenant.number()
    tenant.client.messaging.v1.services(sid).phone_numbers.create(phone_number_sid=number)
    tenant.client.messaging.v1.services(sid).alpha_senders.create(alpha_sender="Herald")
    add_mapping(herald, sid, "+14155550001", number)
    add_mapping(herald, other, "+14155550001", number)
    assert tenant.client.messaging.v1.services(sid).delete() is True
    assert (pool_rows(herald, sid), mappings(herald, sid)) == (0, {})
    assert mappings(herald, other) == {"+14155550001": number}  # another service's: kept
    for method in ("GET", "POST", "DELETE"):
        refused(tenant.http.request(method, f"{SERVICES}/{sid}"), 404, 20404)
    refused(tenant.http.get(f"{SERVICES}/{sid}/PhoneNumbers"), 404, 20404)
    # The number is free again.
    tenant.client.messaging.v1.services(other).phone_numbers.create(phone_number_sid=number)


@pytest.mark.parametrize(
    "sid", [f"MG{UNKNOWN}", "MGnot-a-sid", f"PN{UNKNOWN}", "MG%00", f"MG{UNKNOWN}{'0' * 2000}"]
)
def test_unknown_services_are_20404(tenant: Tenant, sid: str) -> None:
    for method in ("GET", "POST", "DELETE"):
        refused(tenant.http.request(method, f"{SERVICES}/{sid}"), 404, 20404)
    for pool in ("PhoneNumbers", "ShortCodes", "AlphaSenders"):
        refused(tenant.http.get(f"{SERVICES}/{sid}/{pool}"), 404, 20404)
    refused(
        tenant.http.post(f"{SERVICES}/{sid}/AlphaSenders", data={"AlphaSender": "A"}), 404, 20404
    )


@pytest.mark.parametrize("sender", [f"PN{UNKNOWN}", f"SC{UNKNOWN}", f"AI{UNKNOWN}", "PN%00", "x"])
def test_unknown_senders_are_20404(tenant: Tenant, sender: str) -> None:
    sid = tenant.service()
    tenant.client.messaging.v1.services(sid).alpha_senders.create(alpha_sender="Herald")
    for pool in ("PhoneNumbers", "ShortCodes", "AlphaSenders"):
        for method in ("GET", "DELETE"):
            path = f"{SERVICES}/{sid}/{pool}/{sender}"
            refused(tenant.http.request(method, path), 404, 20404)
    assert pool_rows(tenant.herald, sid) == 1


def test_wrong_methods_are_20004(tenant: Tenant) -> None:
    refused(tenant.http.put(SERVICES), 405, 20004)
    refused(tenant.http.delete(SERVICES), 405, 20004)


# -- paging ----------------------------------------------------------------------------


def test_the_official_client_pages_through_services(tenant: Tenant) -> None:
    sids = [tenant.service(f"s{i}") for i in range(5)]
    listed = tenant.client.messaging.v1.services.list(page_size=2)
    assert [s.sid for s in listed] == sids
    streamed = tenant.client.messaging.v1.services.stream(page_size=2, limit=3)
    assert [s.sid for s in streamed] == sids[:3]
    page = tenant.client.messaging.v1.services.page(page_size=2)
    assert [s.sid for s in page] == sids[:2]
    second = page.next_page()
    assert second is not None and [s.sid for s in second] == sids[2:4]
    last = second.next_page()
    assert last is not None and [s.sid for s in last] == sids[4:]
    assert last.next_page() is None
    before = last.previous_page()
    assert before is not None and [s.sid for s in before] == sids[2:4]


def test_the_envelope_is_twilios_with_absolute_urls(tenant: Tenant) -> None:
    sids = [tenant.service(f"s{i}") for i in range(3)]
    base = f"{tenant.herald.base_url}{SERVICES}"
    first = tenant.get(SERVICES, PageSize=2)
    tenant.check(first, SERVICES, "get", 200)
    assert [s["sid"] for s in first["services"]] == sids[:2]
    assert first["meta"] == {
        "page": 0,
        "page_size": 2,
        "first_page_url": f"{base}?PageSize=2&Page=0",
        "previous_page_url": None,
        "url": f"{base}?PageSize=2&Page=0",
        "next_page_url": f"{base}?PageSize=2&Page=1&PageToken=PA{sids[1]}",
        "key": "services",
    }
    second = tenant.http.get(first["meta"]["next_page_url"]).json()
    tenant.check(second, SERVICES, "get", 200)
    assert [s["sid"] for s in second["services"]] == sids[2:]
    assert second["meta"]["next_page_url"] is None
    assert second["meta"]["previous_page_url"] == f"{base}?PageSize=2&Page=0&PageToken=PB{sids[2]}"
    assert second["meta"]["url"] == f"{base}?PageSize=2&Page=1&PageToken=PA{sids[1]}"
    default = tenant.get(SERVICES)
    assert default["meta"]["page_size"] == 50 and len(default["services"]) == 3
    beyond = tenant.get(SERVICES, PageSize=2, Page=5)
    assert beyond["services"] == [] and beyond["meta"]["previous_page_url"] is not None


def test_urls_follow_the_public_url_or_the_host(
    tenant: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    sid = tenant.service()
    runtime = tenant.herald.runtime
    monkeypatch.setattr(
        runtime, "settings", replace(runtime.settings, public_url="https://sms.example.org")
    )
    body = tenant.get(f"{SERVICES}/{sid}")
    assert body["url"] == f"https://sms.example.org{SERVICES}/{sid}"
    listed = tenant.get(SERVICES, PageSize=1)
    assert listed["meta"]["url"] == f"https://sms.example.org{SERVICES}?PageSize=1&Page=0"
    monkeypatch.undo()
    proxied = tenant.http.get(f"{SERVICES}/{sid}", headers={"Host": "herald.internal:9000"})
    assert proxied.json()["url"] == f"http://herald.internal:9000{SERVICES}/{sid}"


@pytest.mark.parametrize(
    "params",
    [
        {"PageSize": "0"},
        {"PageSize": "1001"},
        {"PageSize": "x"},
        {"Page": "-1"},
        {"Page": "y"},
        {"Page": "99999999999999999999"},
        {"Page": "922337203685477580", "PageSize": "1000"},
        {"PageToken": "XX1"},
    ],
)
def test_bad_paging_is_20001(tenant: Tenant, params: dict[str, str]) -> None:
    sid = tenant.service()
    refused(tenant.http.get(SERVICES, params=params), 400, 20001)
    for pool in ("PhoneNumbers", "ShortCodes", "AlphaSenders"):
        refused(tenant.http.get(f"{SERVICES}/{sid}/{pool}", params=params), 400, 20001)


# -- the sender pool -------------------------------------------------------------------


def test_phone_numbers_in_a_pool(tenant: Tenant) -> None:
    sid = tenant.service()
    number = tenant.number()
    pool = tenant.client.messaging.v1.services(sid).phone_numbers
    added = pool.create(phone_number_sid=number)
    assert (added.sid, added.service_sid, added.account_sid) == (number, sid, tenant.account.sid)
    assert added.country_code == "US" and added.phone_number.startswith("+1415555")
    assert added.capabilities == ["MMS", "SMS", "Voice"]
    assert pool(number).fetch().phone_number == added.phone_number
    assert [n.sid for n in pool.list()] == [number]

    path = f"{SERVICES}/{sid}/PhoneNumbers"
    listed = tenant.get(path)
    tenant.check(listed, POOLS["phone_numbers"], "get", 200)
    assert listed["meta"]["key"] == "phone_numbers"
    fetched = tenant.get(f"{path}/{number}")
    tenant.check(fetched, POOLS["phone_numbers"] + "/{Sid}", "get", 200)
    assert fetched["url"] == f"{tenant.herald.base_url}{path}/{number}"

    sms_only = tenant.number(**{"Capabilities.Mms": "false", "Capabilities.Voice": "false"})
    body = tenant.post(path, {"PhoneNumberSid": sms_only})
    tenant.check(body, POOLS["phone_numbers"], "post", 201)
    assert body["capabilities"] == ["SMS"]

    assert pool(number).delete() is True
    refused(tenant.http.get(f"{path}/{number}"), 404, 20404)
    refused(tenant.http.delete(f"{path}/{number}"), 404, 20404)
    assert [n.sid for n in pool.list()] == [sms_only]
    # The number itself is untouched.
    assert tenant.client.incoming_phone_numbers(number).fetch().sid == number


def test_short_codes_in_a_pool(tenant: Tenant) -> None:
    sid = tenant.service()
    code = tenant.short_code()
    pool = tenant.client.messaging.v1.services(sid).short_codes
    added = pool.create(short_code_sid=code)
    assert (added.sid, added.service_sid, added.country_code) == (code, sid, "US")
    assert added.capabilities == ["SMS"] and len(added.short_code) == 5
    mms = tenant.short_code(**{"Capabilities.Mms": "true", "IsoCountry": "GB"})
    path = f"{SERVICES}/{sid}/ShortCodes"
    body = tenant.post(path, {"ShortCodeSid": mms})
    tenant.check(body, POOLS["short_codes"], "post", 201)
    assert (body["capabilities"], body["country_code"]) == (["MMS", "SMS"], "GB")
    listed = tenant.get(path, PageSize=1)
    tenant.check(listed, POOLS["short_codes"], "get", 200)
    assert [c["sid"] for c in listed["short_codes"]] == [code]
    assert [c.sid for c in pool.list(page_size=1)] == [code, mms]
    tenant.check(tenant.get(f"{path}/{mms}"), POOLS["short_codes"] + "/{Sid}", "get", 200)
    assert pool(code).delete() is True
    assert [c.sid for c in pool.list()] == [mms]


def test_alpha_senders_in_a_pool(tenant: Tenant) -> None:
    sid = tenant.service()
    pool = tenant.client.messaging.v1.services(sid).alpha_senders
    added = pool.create(alpha_sender="Herald")
    assert added.sid.startswith("AI") and len(added.sid) == 34
    assert (added.alpha_sender, added.capabilities) == ("Herald", ["SMS"])
    path = f"{SERVICES}/{sid}/AlphaSenders"
    body = tenant.http.post(path, data={"AlphaSender": "My Shop", "RegisteredIn": ["gb,FR", "DE"]})
    assert body.status_code == 201, body.text
    tenant.check(body.json(), POOLS["alpha_senders"], "post", 201)
    assert body.json()["registered_in"] == ["DE", "FR", "GB"]
    fetched = tenant.get(f"{path}/{added.sid}")
    tenant.check(fetched, POOLS["alpha_senders"] + "/{Sid}", "get", 200)
    assert fetched["registered_in"] == []
    listed = tenant.get(path)
    tenant.check(listed, POOLS["alpha_senders"], "get", 200)
    assert [a["alpha_sender"] for a in listed["alpha_senders"]] == ["Herald", "My Shop"]
    assert pool(added.sid).delete() is True
    assert [a.alpha_sender for a in pool.list()] == ["My Shop"]
    # The same ID in another service is that service's own.
    other = tenant.service()
    tenant.client.messaging.v1.services(other).alpha_senders.create(alpha_sender="My Shop")


@pytest.mark.parametrize(
    ("pool", "form", "status", "code", "names"),
    [
        ("PhoneNumbers", {}, 400, 20001, "PhoneNumberSid is required"),
        ("PhoneNumbers", {"PhoneNumberSid": "PN123"}, 400, 20001, "PhoneNumberSid"),
        ("PhoneNumbers", {"PhoneNumberSid": f"SC{UNKNOWN}"}, 400, 20001, "PhoneNumberSid"),
        ("PhoneNumbers", {"PhoneNumberSid": f"PN{UNKNOWN}"}, 404, 20404, "PhoneNumberSid"),
        ("ShortCodes", {}, 400, 20001, "ShortCodeSid is required"),
        ("ShortCodes", {"ShortCodeSid": f"PN{UNKNOWN}"}, 400, 20001, "ShortCodeSid"),
        ("ShortCodes", {"ShortCodeSid": f"SC{UNKNOWN}"}, 404, 20404, "ShortCodeSid"),
        ("AlphaSenders", {}, 400, 20001, "AlphaSender is required"),
        ("AlphaSenders", {"AlphaSender": "123456"}, 400, 21709, ""),
        ("AlphaSenders", {"AlphaSender": "TwelveLetter"}, 400, 21709, ""),
        ("AlphaSenders", {"AlphaSender": "Shop!"}, 400, 21709, ""),
        ("AlphaSenders", {"AlphaSender": "Shop", "RegisteredIn": "GBR"}, 400, 20001, "GBR"),
    ],
)
def test_bad_senders_are_refused(
    tenant: Tenant, pool: str, form: dict[str, str], status: int, code: int, names: str
) -> None:
    sid = tenant.service()
    refused(tenant.http.post(f"{SERVICES}/{sid}/{pool}", data=form), status, code, names=names)
    assert pool_rows(tenant.herald, sid) == 0


def test_a_sender_joins_one_service_only(tenant: Tenant) -> None:
    first, second = tenant.service(), tenant.service()
    number, code = tenant.number(), tenant.short_code()
    for pool, param, sender in (
        ("PhoneNumbers", "PhoneNumberSid", number),
        ("ShortCodes", "ShortCodeSid", code),
    ):
        tenant.post(f"{SERVICES}/{first}/{pool}", {param: sender})
        again = tenant.http.post(f"{SERVICES}/{first}/{pool}", data={param: sender})
        refused(again, 400, 21710)
        elsewhere = tenant.http.post(f"{SERVICES}/{second}/{pool}", data={param: sender})
        refused(elsewhere, 400, 21712)
    tenant.post(f"{SERVICES}/{first}/AlphaSenders", {"AlphaSender": "Herald"})
    twice = tenant.http.post(f"{SERVICES}/{first}/AlphaSenders", data={"AlphaSender": "Herald"})
    refused(twice, 400, 21710, names="Herald")
    assert pool_rows(tenant.herald, first) == 3
    assert pool_rows(tenant.herald, second) == 0


def test_senders_that_cannot_send_sms_are_21715(tenant: Tenant) -> None:
    sid = tenant.service()
    mms_only = tenant.number(**{"Capabilities.Sms": "false"})
    with pytest.raises(TwilioRestException) as caught:
        tenant.client.messaging.v1.services(sid).phone_numbers.create(phone_number_sid=mms_only)
    assert (caught.value.status, caught.value.code) == (400, 21715)
    silent = tenant.short_code(**{"Capabilities.Sms": "false"})
    refused(
        tenant.http.post(f"{SERVICES}/{sid}/ShortCodes", data={"ShortCodeSid": silent}), 400, 21715
    )
    assert pool_rows(tenant.herald, sid) == 0


def test_a_pool_holds_400_numbers_and_short_codes(tenant: Tenant) -> None:
    herald = tenant.herald
    sid = tenant.service()
    code = tenant.short_code()
    tenant.post(f"{SERVICES}/{sid}/ShortCodes", {"ShortCodeSid": code})

    def fill(conn: Connection) -> None:
        rows = [
            {
                "sid": f"PN{sid[2:10]}{i:024x}",
                "account_sid": tenant.account.sid,
                "service_sid": sid,
                "kind": "phone_number",
                "date_created": 0,
                "date_updated": 0,
            }
            for i in range(MAX_POOL - 1)
        ]
        conn.execute(insert(service_senders), rows)

    herald.runtime.db.run(fill)
    number, other_code = tenant.number(), tenant.short_code()
    with pytest.raises(TwilioRestException) as caught:
        tenant.client.messaging.v1.services(sid).phone_numbers.create(phone_number_sid=number)
    assert (caught.value.status, caught.value.code) == (400, 21714)
    full = tenant.http.post(f"{SERVICES}/{sid}/ShortCodes", data={"ShortCodeSid": other_code})
    refused(full, 400, 21714)
    # Alphanumeric IDs do not count.
    tenant.post(f"{SERVICES}/{sid}/AlphaSenders", {"AlphaSender": "Herald"})
    assert pool_rows(herald, sid) == MAX_POOL + 1
    tenant.client.messaging.v1.services(sid).short_codes(code).delete()
    tenant.client.messaging.v1.services(sid).phone_numbers.create(phone_number_sid=number)


# -- leaving a pool takes the Sticky Sender mappings along -----------------------------


def test_removing_a_sender_from_the_pool_deletes_its_mappings(tenant: Tenant) -> None:
    herald = tenant.herald
    sid = tenant.service()
    kept, removed = tenant.number(), tenant.number()
    alpha = tenant.client.messaging.v1.services(sid).alpha_senders.create(alpha_sender="Herald")
    for number in (kept, removed):
        tenant.client.messaging.v1.services(sid).phone_numbers.create(phone_number_sid=number)
    add_mapping(herald, sid, "+14155550001", kept)
    add_mapping(herald, sid, "+14155550002", removed)
    add_mapping(herald, sid, "+14155550003", removed)
    add_mapping(herald, sid, "+447700900001", alpha.sid)
    tenant.client.messaging.v1.services(sid).phone_numbers(removed).delete()
    assert mappings(herald, sid) == {"+14155550001": kept, "+447700900001": alpha.sid}
    tenant.client.messaging.v1.services(sid).alpha_senders(alpha.sid).delete()
    assert mappings(herald, sid) == {"+14155550001": kept}


def test_deleting_a_number_or_short_code_takes_it_out_of_its_pool(tenant: Tenant) -> None:
    herald = tenant.herald
    sid = tenant.service()
    number, kept, code = tenant.number(), tenant.number(), tenant.short_code()
    service = tenant.client.messaging.v1.services(sid)
    service.phone_numbers.create(phone_number_sid=number)
    service.phone_numbers.create(phone_number_sid=kept)
    service.short_codes.create(short_code_sid=code)
    add_mapping(herald, sid, "+14155550001", number)
    add_mapping(herald, sid, "+14155550002", kept)
    add_mapping(herald, sid, "+14155550003", code)

    assert tenant.client.incoming_phone_numbers(number).delete() is True
    assert [n.sid for n in service.phone_numbers.list()] == [kept]
    refused(tenant.http.get(f"{SERVICES}/{sid}/PhoneNumbers/{number}"), 404, 20404)
    assert mappings(herald, sid) == {"+14155550002": kept, "+14155550003": code}

    short_code_path = f"/2010-04-01/Accounts/{tenant.account.sid}/SMS/ShortCodes/{code}.json"
    assert tenant.http.delete(short_code_path).status_code == 204
    assert service.short_codes.list() == []
    assert mappings(herald, sid) == {"+14155550002": kept}
    assert pool_rows(herald, sid) == 1


# -- credentials and isolation ---------------------------------------------------------


def test_an_api_key_reaches_its_accounts_services(tenant: Tenant) -> None:
    keys = f"/2010-04-01/Accounts/{tenant.account.sid}/Keys.json"
    key = tenant.post(keys, {"FriendlyName": "v1"})
    own = tenant.service("own")
    client = client_for(tenant.herald.base_url, key["sid"], key["secret"], tenant.account.sid)
    created = client.messaging.v1.services.create(friendly_name="by key")
    assert created.account_sid == tenant.account.sid
    assert [s.sid for s in client.messaging.v1.services.list()] == [own, created.sid]
    number = tenant.number()
    client.messaging.v1.services(own).phone_numbers.create(phone_number_sid=number)
    assert client.messaging.v1.services(own).phone_numbers(number).fetch().sid == number

    wrong = httpx.get(f"{tenant.herald.base_url}{SERVICES}", auth=(key["sid"], "nope"))
    refused(wrong, 401, 20003)
    refused(httpx.get(f"{tenant.herald.base_url}{SERVICES}"), 401, 20003)
    refused(
        httpx.post(f"{tenant.herald.base_url}{SERVICES}", data={"FriendlyName": "x"}), 401, 20003
    )


@pytest.fixture
def two(tenant_factory: Callable[[], Tenant]) -> tuple[Tenant, Tenant, dict[str, str]]:
    """Account A with a service holding a number, a short code and an alpha ID; and B."""
    a, b = tenant_factory(), tenant_factory()
    sid = a.service("A's")
    number, code = a.number(), a.short_code()
    service = a.client.messaging.v1.services(sid)
    service.phone_numbers.create(phone_number_sid=number)
    service.short_codes.create(short_code_sid=code)
    alpha = service.alpha_senders.create(alpha_sender="Aaa").sid
    return a, b, {"service": sid, "number": number, "code": code, "alpha": alpha}


ON_A = [
    ("GET", "{service}", None),
    ("POST", "{service}", {"FriendlyName": "stolen"}),
    ("DELETE", "{service}", None),
    ("GET", "{service}/PhoneNumbers", None),
    ("POST", "{service}/PhoneNumbers", {"PhoneNumberSid": "{number}"}),
    ("GET", "{service}/PhoneNumbers/{number}", None),
    ("DELETE", "{service}/PhoneNumbers/{number}", None),
    ("GET", "{service}/ShortCodes", None),
    ("POST", "{service}/ShortCodes", {"ShortCodeSid": "{code}"}),
    ("GET", "{service}/ShortCodes/{code}", None),
    ("DELETE", "{service}/ShortCodes/{code}", None),
    ("GET", "{service}/AlphaSenders", None),
    ("POST", "{service}/AlphaSenders", {"AlphaSender": "Bbb"}),
    ("GET", "{service}/AlphaSenders/{alpha}", None),
    ("DELETE", "{service}/AlphaSenders/{alpha}", None),
]


@pytest.mark.parametrize(("method", "template", "form"), ON_A, ids=[f"{m} {t}" for m, t, _ in ON_A])
def test_another_accounts_service_is_20404(
    two: tuple[Tenant, Tenant, dict[str, str]],
    method: str,
    template: str,
    form: dict[str, str] | None,
) -> None:
    a, b, sids = two
    before = {
        path: a.get(f"{SERVICES}/{sids['service']}{path}")
        for path in ("", "/PhoneNumbers", "/ShortCodes", "/AlphaSenders")
    }
    path = f"{SERVICES}/{template.format(**sids)}"
    data = {k: v.format(**sids) for k, v in (form or {}).items()}
    response = b.http.request(method, path, data=data or None)
    refused(response, 404, 20404)
    for leaked in (sids["number"], sids["code"], sids["alpha"], a.account.sid):
        assert leaked not in response.text or leaked in path + str(data)
    after = {path: a.get(f"{SERVICES}/{sids['service']}{path}") for path in before}
    assert after == before


def test_another_accounts_senders_cannot_join_and_lists_are_own(
    two: tuple[Tenant, Tenant, dict[str, str]],
) -> None:
    a, b, sids = two
    own = b.service("B's")
    for pool, param, sender in (
        ("PhoneNumbers", "PhoneNumberSid", sids["number"]),
        ("ShortCodes", "ShortCodeSid", sids["code"]),
    ):
        refused(b.http.post(f"{SERVICES}/{own}/{pool}", data={param: sender}), 404, 20404)
        # A's sender under B's own service is not found either.
        refused(b.http.get(f"{SERVICES}/{own}/{pool}/{sender}"), 404, 20404)
        refused(b.http.delete(f"{SERVICES}/{own}/{pool}/{sender}"), 404, 20404)
    assert [s.sid for s in b.client.messaging.v1.services.list()] == [own]
    assert [s.sid for s in a.client.messaging.v1.services.list()] == [sids["service"]]
    assert pool_rows(a.herald, sids["service"]) == 3
