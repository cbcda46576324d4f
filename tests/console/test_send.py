"""Sending a test message from the console: the live preview (encoding, segments, the
sender routing would choose, its wait and the price) before sending, the send through
the API, and the new message's page with its routing explanation and a timeline that
reaches `delivered`; a refused send shows the API's error in place."""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect
from twilio.rest import Client

from herald.domain.accounts import Account
from tests.conftest import Herald
from tests.console.conftest import PHONE, shoot, sign_in
from tests.inbound.tenant import handset
from tests.webhooks.receiver import Receiver

_numbers = itertools.count(100)


MESSAGE_PAGE = re.compile(r"/console/messages/SM[0-9a-f]{32}(\?|$)")


def number(area: str = "415") -> str:
    return f"+1{area}558{next(_numbers):04d}"


def service_with_numbers(herald: Herald, *areas: str) -> tuple[Account, str, list[str]]:
    """An account with a Messaging Service whose pool holds a number in each area code."""
    account = herald.account()
    client: Client = herald.client(account)
    service = client.messaging.v1.services.create(friendly_name="Console tests")
    phones = [number(area) for area in areas]
    for phone in phones:
        pn = client.incoming_phone_numbers.create(phone_number=phone)
        client.messaging.v1.services(service.sid).phone_numbers.create(phone_number_sid=pn.sid)
    return account, str(service.sid), phones


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """The status callbacks' target."""
    with Receiver() as r:
        yield r


def test_send_from_a_service_previews_then_lands_on_a_delivered_message(
    page: Page, herald: Herald, receiver: Receiver
) -> None:
    account, service, phones = service_with_numbers(herald, "415", "646")
    sign_in(page, herald, account.sid, account.auth_token)
    page.goto(f"{herald.base_url}/console/send")
    page.get_by_label("From").select_option(service)
    page.get_by_label("To").fill(handset("415"))
    page.get_by_label("Body").fill("Hello from the console")
    panel = page.locator("[data-preview-panel]")
    expect(panel.locator("[data-field=encoding]")).to_have_text("GSM-7")
    expect(panel.locator("[data-field=segments]")).to_have_text("1")
    expect(panel.locator("[data-field=sender]")).to_have_text(phones[0])
    expect(panel.locator("[data-field=rule]")).to_contain_text("Area Code Geomatch")
    expect(panel.locator("[data-field=wait]")).to_have_text("0 s")
    expect(panel.locator("[data-field=price]")).to_have_text("-0.00790 USD")
    page.get_by_label("Body").fill("Hello 👋 " + "x" * 70)  # an emoji: UCS-2, 67 a segment
    expect(panel.locator("[data-field=encoding]")).to_have_text("UCS-2")
    expect(panel.locator("[data-field=segments]")).to_have_text("2")
    expect(panel.locator("[data-field=price]")).to_have_text("-0.01580 USD")
    page.get_by_label("Status callback URL").fill(f"{receiver.url}/status")
    shoot(page, "send")

    page.get_by_role("button", name="Send").click()
    expect(page).to_have_url(MESSAGE_PAGE)
    expect(page.get_by_role("status")).to_contain_text("is accepted")
    # The page reloads itself while the message is in flight; the simulator is instant.
    expect(page.locator("[data-status]")).to_have_text("delivered", timeout=15_000)
    timeline = page.get_by_role("table", name="Timeline")
    for status in ("accepted", "queued", "sent", "delivered"):
        expect(timeline).to_contain_text(status)
    callbacks = page.get_by_role("table", name="Status callbacks")
    expect(callbacks.locator("tr[data-reports=delivered]")).to_contain_text("HTTP 200")
    routing = page.get_by_role("region", name="Routing")
    expect(routing).to_contain_text("Area Code Geomatch")
    expect(routing).to_contain_text(phones[0])
    expect(routing.get_by_role("table", name="Why the other senders lost")).to_contain_text(
        "not the recipient's area code"
    )
    shoot(page, "message-page")


def test_send_from_a_number_previews_it_and_a_refusal_is_shown_in_place(
    page: Page, herald: Herald
) -> None:
    account = herald.account()
    phone = number()
    herald.client(account).incoming_phone_numbers.create(phone_number=phone)
    sign_in(page, herald, account.sid, account.auth_token)
    page.goto(f"{herald.base_url}/console/send")
    page.get_by_label("From").select_option(phone)
    page.get_by_label("To").fill(handset("212"))
    page.get_by_label("Body").fill("x" * 161)  # GSM-7: two segments past 160
    panel = page.locator("[data-preview-panel]")
    expect(panel.locator("[data-field=encoding]")).to_have_text("GSM-7")
    expect(panel.locator("[data-field=segments]")).to_have_text("2")
    expect(panel.locator("[data-field=sender]")).to_have_text(phone)
    expect(panel.locator("[data-field=price]")).to_have_text("-0.01580 USD")
    page.get_by_label("To").fill("not a number")
    expect(panel.locator("[data-field=error]")).to_contain_text("not a valid phone number")

    page.get_by_role("button", name="Send").click()  # the API refuses it: 21211, in place
    expect(page.get_by_role("alert")).to_contain_text("21211")
    expect(page.get_by_label("To")).to_have_value("not a number")
    expect(page.get_by_label("Body")).to_have_value("x" * 161)
    expect(page.get_by_label("From")).to_have_value(phone)

    page.get_by_label("To").fill(handset("212"))
    page.get_by_role("button", name="Send").click()
    expect(page).to_have_url(MESSAGE_PAGE)
    expect(page.get_by_role("region", name="Routing")).to_contain_text("named its sender")


def test_the_preview_works_without_javascript_and_at_a_phone_width(
    browser: Browser, herald: Herald
) -> None:
    account, service, phones = service_with_numbers(herald, "415")
    context = browser.new_context(viewport=PHONE, is_mobile=True, java_script_enabled=False)
    phone = context.new_page()
    try:
        sign_in(phone, herald, account.sid, account.auth_token)
        phone.goto(f"{herald.base_url}/console/send?From={service}")
        phone.get_by_label("To").fill(handset("415"))
        phone.get_by_label("Body").fill("Hi")
        phone.get_by_role("button", name="Preview").click()  # the form's own: a page load
        expect(phone.locator("[data-field=sender]")).to_have_text(phones[0])
        expect(phone.locator("[data-field=segments]")).to_have_text("1")
        expect(phone.get_by_label("Body")).to_have_value("Hi")
        phone.wait_for_load_state("load")
        assert_fits(phone)
    finally:
        context.close()


def assert_fits(page: Page) -> None:
    """Nothing on the page is wider than a phone's 390 px (no sideways scrolling)."""
    width = page.evaluate("document.documentElement.scrollWidth")
    wide = page.evaluate(
        "() => [...document.querySelectorAll('body *')]"
        ".filter(e => e.getBoundingClientRect().right > innerWidth + 1)"
        ".map(e => e.tagName + ' ' + e.className).slice(0, 5)"
    )
    assert width <= PHONE["width"], f"{width}px wide at a phone's {PHONE['width']}: {wide}"
