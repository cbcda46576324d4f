"""Messaging Services in the console: create one, edit its settings (and find them through
the REST API), its sender pool with an API refusal shown in place, Advanced Opt-Out,
deleting it; another account's service is a 404 page; a phone's width."""

from __future__ import annotations

import itertools
import re

import httpx
from playwright.sync_api import Page, expect
from twilio.rest import Client

from tests.conftest import Herald
from tests.console.conftest import shoot, sign_in

_numbers = itertools.count(100)


def _number(client: Client, **capabilities: bool) -> str:
    """A new number of the client's account (distinct in each test of the module)."""
    phone = f"+1415555{next(_numbers):04d}"
    created = client.incoming_phone_numbers.create(phone_number=phone, **capabilities)
    return str(created.sid)


def _short_code(herald: Herald, sid: str, token: str, code: str) -> str:
    answer = httpx.post(
        f"{herald.base_url}/2010-04-01/Accounts/{sid}/SMS/ShortCodes.json",
        data={"ShortCode": code, "FriendlyName": "Promo"},
        auth=(sid, token),
    )
    assert answer.status_code == 201, answer.text
    return str(answer.json()["sid"])


def _service_sid(page: Page) -> str:
    found = re.search(r"/console/services/(MG[0-9a-f]{32})", page.url)
    assert found, page.url
    return found.group(1)


def test_create_a_service_and_edit_its_settings(page: Page, herald: Herald) -> None:
    account = herald.account()
    sign_in(page, herald, account.sid, account.auth_token)
    page.goto(f"{herald.base_url}/console/services")
    expect(page.get_by_text("No Messaging Services yet")).to_be_visible()
    page.get_by_label("Friendly name").fill("Appointment reminders")
    page.get_by_role("button", name="Create service").click()
    expect(page.get_by_role("heading", name="Appointment reminders")).to_be_visible()
    expect(page.get_by_role("status")).to_contain_text("created")
    sid = _service_sid(page)

    integration = page.locator("#integration")
    integration.get_by_label("Send a webhook").check()
    integration.get_by_label("Request URL").fill("https://example.com/inbound")
    integration.get_by_label("Request method").select_option("GET")
    integration.get_by_label("Delivery status callback").fill("https://example.com/status")
    integration.get_by_label("Validity period (seconds)").fill("600")
    integration.get_by_role("button", name="Save integration").click()
    expect(page.get_by_role("status")).to_have_text("Settings saved.")
    expect(page).to_have_url(re.compile(r"#integration$"))
    page.get_by_label("Smart Encoding").uncheck()
    page.get_by_role("button", name="Save content settings").click()
    page.get_by_label("Sticky Sender").uncheck()
    page.get_by_label("Area Code Geomatch").uncheck()
    page.get_by_role("button", name="Save sender selection").click()
    page.get_by_label("Use case").select_option("marketing")
    page.get_by_role("button", name="Save properties").click()
    page.get_by_label("Scan message content").select_option("disable")
    page.get_by_label("Skip unregistered alphanumeric sender IDs").check()
    page.get_by_role("button", name="Save compliance").click()
    expect(page.get_by_role("status")).to_have_text("Settings saved.")

    # the page after each save is read back from the store
    expect(page.get_by_label("Validity period (seconds)")).to_have_value("600")
    expect(page.get_by_label("Request method")).to_have_value("GET")
    expect(page.get_by_label("Smart Encoding")).not_to_be_checked()
    expect(page.get_by_label("MMS Converter")).to_be_checked()  # a part saves only its own
    service = herald.client(account).messaging.v1.services(sid).fetch()
    assert (service.inbound_request_url, service.inbound_method) == (
        "https://example.com/inbound",
        "GET",
    )
    assert service.use_inbound_webhook_on_number is False
    assert (service.status_callback, service.validity_period) == ("https://example.com/status", 600)
    assert (service.smart_encoding, service.mms_converter) == (False, True)
    assert (service.sticky_sender, service.area_code_geomatch) == (False, False)
    assert (service.usecase, service.scan_message_content) == ("marketing", "disable")

    client = herald.client(account)
    marketing = client.messaging.v1.services.create(friendly_name="Marketing")
    client.messaging.v1.services(marketing.sid).phone_numbers.create(
        phone_number_sid=_number(client)
    )
    client.messaging.v1.services(marketing.sid).alpha_senders.create(alpha_sender="Herald")
    page.goto(f"{herald.base_url}/console/services")
    expect(page.get_by_role("row", name=re.compile("Appointment reminders"))).to_contain_text(sid)
    expect(page.get_by_role("row", name=re.compile("Marketing"))).to_contain_text(
        re.compile(rf"{marketing.sid}\s*2\s")  # its two senders
    )
    shoot(page, "services-list")

    page.get_by_role("link", name="Appointment reminders").click()
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Delete service").click()
    expect(page.get_by_role("status")).to_have_text("Service deleted.")
    expect(page.get_by_role("link", name="Appointment reminders")).to_have_count(0)
    assert [s.sid for s in client.messaging.v1.services.list()] == [marketing.sid]


def test_the_sender_pool_with_the_api_refusal_in_place(page: Page, herald: Herald) -> None:
    account = herald.account()
    client = herald.client(account)
    first, second = _number(client), _number(client)
    code_sid = _short_code(herald, account.sid, account.auth_token, "24681")
    service = client.messaging.v1.services.create(friendly_name="Pool")
    other = client.messaging.v1.services.create(friendly_name="Other")
    client.messaging.v1.services(other.sid).phone_numbers.create(phone_number_sid=second)
    sign_in(page, herald, account.sid, account.auth_token)
    page.goto(f"{herald.base_url}/console/services/{service.sid}")

    choices = page.get_by_label("Phone number").locator("option")
    expect(choices).to_have_count(1)  # the number in the other service is not offered
    page.get_by_label("Phone number").select_option(first)
    page.get_by_role("button", name="Add number").click()
    expect(page.get_by_role("status")).to_have_text("Number added.")
    pool = page.get_by_role("table", name="Senders in this service")
    expect(pool).to_contain_text(first)
    expect(page.get_by_text("Every number of this account is in a service already")).to_be_visible()
    page.get_by_label("Short code").select_option(code_sid)
    page.get_by_role("button", name="Add short code").click()
    page.get_by_label("Alphanumeric sender ID", exact=True).fill("Herald")
    page.get_by_label("Pre-registered in").fill("gb, DE")
    page.get_by_role("button", name="Add sender ID").click()
    expect(pool).to_contain_text("registered in DE, GB")
    shoot(page, "service-page")

    page.get_by_label("Alphanumeric sender ID", exact=True).fill("Not*valid!")
    page.get_by_role("button", name="Add sender ID").click()
    alert = page.locator("#sender-pool").get_by_role("alert")
    expect(alert).to_contain_text("alphanumeric sender ID is invalid")
    expect(alert).to_contain_text("21709")
    expect(page.get_by_label("Alphanumeric sender ID", exact=True)).to_have_value("Not*valid!")

    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Remove +1415555").click()
    expect(page.get_by_role("status")).to_have_text("Sender removed.")
    expect(pool).not_to_contain_text("+1415555")
    expect(page.get_by_label("Phone number").locator("option")).to_have_count(1)
    senders = client.messaging.v1.services(service.sid)
    assert senders.phone_numbers.list() == []
    assert [c.sid for c in senders.short_codes.list()] == [code_sid]
    assert [a.alpha_sender for a in senders.alpha_senders.list()] == ["Herald"]


def test_advanced_opt_out_is_edited(page: Page, herald: Herald) -> None:
    account = herald.account()
    service = herald.client(account).messaging.v1.services.create(friendly_name="Opt-outs")
    sign_in(page, herald, account.sid, account.auth_token)
    page.goto(f"{herald.base_url}/console/services/{service.sid}#opt-out")
    expect(page.get_by_label("Opt-out keywords")).to_have_value(re.compile("^STOP, STOPALL"))
    expect(page.get_by_label("Enable Advanced Opt-Out")).not_to_be_checked()

    page.get_by_label("Opt-out keywords").fill("PARAR")  # STOP cannot go
    page.get_by_role("button", name="Save Advanced Opt-Out").click()
    expect(page.locator("#opt-out").get_by_role("alert")).to_contain_text("must keep STOP")
    expect(page.get_by_label("Opt-out keywords")).to_have_value("PARAR")

    page.get_by_label("Enable Advanced Opt-Out").check()
    page.get_by_label("Opt-out keywords").fill("STOP, ARRET, PARAR")
    page.get_by_label("Help reply").fill("Call 0800 123 for help.")
    page.get_by_label("Languages").fill('[{"language": "es", "help_keywords": ["AYUDA"]}]')
    page.get_by_role("button", name="Save Advanced Opt-Out").click()
    expect(page.get_by_role("status")).to_have_text("Advanced Opt-Out saved.")
    expect(page.get_by_label("Help reply")).to_have_value("Call 0800 123 for help.")

    stored = httpx.get(
        f"{herald.base_url}/v1/Services/{service.sid}/OptOut",
        auth=(account.sid, account.auth_token),
    ).json()
    assert stored["enabled"] is True
    assert stored["opt_out_keywords"] == ["STOP", "ARRET", "PARAR"]
    assert stored["help_reply"] == "Call 0800 123 for help."
    assert [s["language"] for s in stored["languages"]] == ["es"]


def test_another_accounts_service_is_not_found(page: Page, herald: Herald) -> None:
    owner, stranger = herald.account(), herald.account()
    theirs = herald.client(owner).messaging.v1.services.create(friendly_name="Private")
    sign_in(page, herald, stranger.sid, stranger.auth_token)
    page.goto(f"{herald.base_url}/console/services")
    expect(page.get_by_text("No Messaging Services yet")).to_be_visible()
    for path in (theirs.sid, "MG" + "0" * 32, "not-a-sid"):
        response = page.goto(f"{herald.base_url}/console/services/{path}")
        assert response is not None and response.status == 404
        expect(page.get_by_role("heading", name="No such service")).to_be_visible()
    cookies = {c["name"]: c["value"] for c in page.context.cookies()}
    csrf = page.locator("input[name=csrf]").first.get_attribute("value")
    with httpx.Client(base_url=herald.base_url, cookies=cookies) as browser:
        renamed = browser.post(
            f"/console/services/{theirs.sid}/settings",
            data={"csrf": csrf or "", "part": "properties", "FriendlyName": "Mine now"},
        )
        deleted = browser.post(f"/console/services/{theirs.sid}/delete", data={"csrf": csrf or ""})
    assert (renamed.status_code, deleted.status_code) == (404, 404)
    assert herald.client(owner).messaging.v1.services(theirs.sid).fetch().friendly_name == "Private"


def test_the_pages_fit_a_phone(phone: Page, herald: Herald) -> None:
    account = herald.account()
    client = herald.client(account)
    service = client.messaging.v1.services.create(friendly_name="On the go")
    client.messaging.v1.services(service.sid).phone_numbers.create(phone_number_sid=_number(client))
    sign_in(phone, herald, account.sid, account.auth_token)
    for path in ("/console/services", f"/console/services/{service.sid}"):
        phone.goto(f"{herald.base_url}{path}")
        expect(phone.get_by_role("heading", level=1)).to_be_visible()
        overflow = phone.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"{path} is {overflow}px wider than the phone"
    phone.get_by_label("Sticky Sender").uncheck()
    phone.get_by_role("button", name="Save sender selection").click()
    expect(phone.get_by_role("status")).to_have_text("Settings saved.")
    shoot(phone, "service-page-phone")
