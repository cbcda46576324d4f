"""The console end to end, as a user meets it (issue 15's "Must show"): sign in, create a
service, add senders, send a test message, open its page, see its routing explanation and
its timeline reach `delivered`, and find a recipient who texted STOP in the ledger. Then
every main page at a phone's width, and one account never seeing another's data."""

from __future__ import annotations

import itertools
import re

import httpx
import pytest
from playwright.sync_api import Locator, Page, expect

from tests.conftest import Herald
from tests.console.conftest import shoot, sign_in

SQLITE_ONLY = pytest.mark.parametrize("herald", ["sqlite"], indirect=True)
_numbers = itertools.count(150)
PAGES = ("live", "messages", "send", "services", "numbers", "opt-outs", "alerts")


def test_a_user_configures_a_service_sends_and_follows_the_message(
    page: Page, herald: Herald
) -> None:
    account = herald.account()
    base = herald.base_url
    number = f"+1415555{next(_numbers):04d}"
    sign_in(page, herald, account.sid, account.auth_token)

    page.goto(f"{base}/console/numbers")
    page.get_by_label("Phone number", exact=True).fill(number)
    page.get_by_role("button", name="Register number").click()
    expect(page.locator("main")).to_contain_text(number)

    page.goto(f"{base}/console/services")
    page.get_by_label("Friendly name").fill("Spring sale")
    page.get_by_role("button", name="Create service").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Spring sale")
    _choose(page.get_by_label("Phone number", exact=True), number)
    page.get_by_role("button", name="Add number").click()
    expect(page.locator("#sender-pool-title").locator("..")).to_contain_text(number)
    shoot(page, "flow-service")

    page.goto(f"{base}/console/send")
    _choose(page.get_by_label("From"), "Spring sale")
    page.get_by_label("To").fill("+14155550177")
    page.get_by_label("Body").fill("Hello from the console")
    preview = page.locator("[data-preview-panel]")
    expect(preview).to_contain_text("GSM-7")
    expect(preview).to_contain_text(number)  # the sender the service would choose
    page.get_by_role("button", name="Send", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Message")
    routing = page.locator("#h-routing").locator("..")
    expect(routing).to_contain_text(number)
    timeline = page.locator("#h-timeline").locator("..")
    for _ in range(20):  # the instant simulator delivers within moments
        if "delivered" in timeline.inner_text():
            break
        page.wait_for_timeout(250)
        page.reload()
        timeline = page.locator("#h-timeline").locator("..")
    expect(timeline).to_contain_text("delivered")
    shoot(page, "message-page-flow")

    answer = httpx.post(
        f"{base}/herald/v1/Simulator/Inbound",
        auth=(account.sid, account.auth_token),
        data={"From": "+14155550178", "To": number, "Body": "STOP"},
    )
    assert answer.status_code == 201, answer.text
    page.goto(f"{base}/console/opt-outs")
    page.get_by_label(re.compile("Recipient")).fill("+14155550178")
    page.get_by_role("button", name=re.compile("Search")).click()
    expect(page.locator("main table")).to_contain_text("+14155550178")
    shoot(page, "flow-opt-outs")


@SQLITE_ONLY
def test_every_main_page_fits_a_phone(phone: Page, herald: Herald) -> None:
    account = herald.account()
    herald.client(account).incoming_phone_numbers.create(
        phone_number=f"+1415555{next(_numbers):04d}"
    )
    sign_in(phone, herald, account.sid, account.auth_token)
    for name in PAGES:
        phone.goto(f"{herald.base_url}/console/{name}")
        expect(phone.locator("main h1")).to_be_visible()
        overflow = phone.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"/console/{name} is {overflow} px wider than the phone"
    shoot(phone, "phone-live")


@SQLITE_ONLY
def test_one_account_never_sees_anothers_data(page: Page, herald: Herald) -> None:
    owner, other = herald.account(), herald.account()
    number = f"+1415555{next(_numbers):04d}"
    client = herald.client(owner)
    client.incoming_phone_numbers.create(phone_number=number)
    service = client.messaging.v1.services.create(friendly_name="Owner's service")
    message = client.messages.create(to="+14155550179", from_=number, body="private")
    sign_in(page, herald, other.sid, other.auth_token)
    for path in ("messages", "services", "numbers", "opt-outs", "alerts", "live"):
        page.goto(f"{herald.base_url}/console/{path}")
        text = page.locator("main").inner_text()
        for secret in (number, service.sid, message.sid, "Owner's service", "private"):
            assert secret not in text, f"/console/{path} shows the other account's {secret}"
    for path in (f"messages/{message.sid}", f"services/{service.sid}"):
        response = page.goto(f"{herald.base_url}/console/{path}")
        assert response is not None and response.status == 404, path


def _choose(select: Locator, text: str) -> None:
    """Select the option whose label contains `text`."""
    value = select.locator("option", has_text=text).first.get_attribute("value")
    assert value, f"no option with {text!r}"
    select.select_option(value)
