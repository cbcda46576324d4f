"""Alerts in the console: an inbound webhook answered with TwiML Herald cannot read raises
a 12100 alert, listed, filtered and opened; a filter that is not one is refused in place;
another account sees none of it; a phone's width."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.conftest import Herald, eventually
from tests.console.conftest import shoot, sign_in
from tests.inbound.tenant import handset, number
from tests.webhooks.receiver import Receiver, Reply

XML = (("Content-Type", "text/xml"),)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as r:
        r.route("/bad", Reply(headers=XML, body=b"<Nope>not twiml"))
        yield r


def _alerts(herald: Herald, account: Any) -> list[dict[str, Any]]:
    answer = httpx.get(f"{herald.base_url}/v1/Alerts", auth=(account.sid, account.auth_token))
    assert answer.status_code == 200, answer.text
    found: list[dict[str, Any]] = answer.json()["alerts"]
    return found


def _twiml_alert(herald: Herald, receiver: Receiver) -> tuple[Any, dict[str, Any], str]:
    """An account whose number's webhook answers with a TwiML error, texted once: the
    account, its alert, and the inbound message's SID."""
    account = herald.account()
    ours = herald.client(account).incoming_phone_numbers.create(
        phone_number=number(), sms_url=f"{receiver.url}/bad"
    )
    inbound = httpx.post(
        f"{herald.base_url}/herald/v1/Simulator/Inbound",
        data={"From": handset(), "To": ours.phone_number, "Body": "hello"},
        auth=(account.sid, account.auth_token),
    )
    assert inbound.status_code == 201, inbound.text
    alert = eventually(lambda: _alerts(herald, account))[0]
    return account, alert, inbound.json()["sid"]


def test_a_twiml_error_is_listed_filtered_and_opened(
    page: Page, phone: Page, herald: Herald, receiver: Receiver
) -> None:
    account, alert, message_sid = _twiml_alert(herald, receiver)
    assert alert["error_code"] == "12100"
    sign_in(page, herald, account.sid, account.auth_token)
    page.goto(f"{herald.base_url}/console/alerts")
    row = page.get_by_role("row").filter(has_text="12100")
    expect(row).to_contain_text("TwiML error")
    expect(row).to_contain_text(f"{receiver.url}/bad")
    expect(row.get_by_role("link", name=message_sid)).to_have_attribute(
        "href", f"/console/messages/{message_sid}"
    )
    shoot(page, "alerts")

    page.get_by_label("Kind").select_option("webhook")
    page.get_by_role("button", name="Filter").click()
    expect(page.get_by_text("No alert matches.")).to_be_visible()
    page.get_by_label("Kind").select_option("twiml")
    page.get_by_label("Log level").select_option("error")
    page.get_by_label("Resource SID").fill(message_sid)
    page.get_by_role("button", name="Filter").click()
    expect(page.get_by_role("row").filter(has_text="12100")).to_have_count(1)

    page.get_by_role("row").filter(has_text="12100").get_by_role("link", name="12100").click()
    expect(page).to_have_url(f"{herald.base_url}/console/alerts/{alert['sid']}")
    expect(page.get_by_role("heading", level=1)).to_contain_text("TwiML error 12100")
    expect(page.locator("main")).to_contain_text(alert["alert_text"])
    expect(page.get_by_role("link", name="Twilio's page on it")).to_have_attribute(
        "href", "https://www.twilio.com/docs/errors/12100"
    )
    shoot(page, "alert-page")

    sign_in(phone, herald, account.sid, account.auth_token)
    phone.goto(f"{herald.base_url}/console/alerts")
    expect(phone.get_by_role("row").filter(has_text="12100")).to_be_visible()
    assert phone.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    shoot(phone, "alerts-phone")


def test_a_filter_that_is_not_one_is_refused_in_place(page: Page, herald: Herald) -> None:
    account = herald.account()
    sign_in(page, herald, account.sid, account.auth_token)
    answer = page.goto(f"{herald.base_url}/console/alerts?code=11x&from=yesterday")
    assert answer is not None and answer.status == 400
    expect(page.get_by_role("alert")).to_have_text("Dates are YYYY-MM-DD")
    answer = page.goto(f"{herald.base_url}/console/alerts?code=11x")
    expect(page.get_by_role("alert")).to_have_text("The error code '11x' is not a number")


def test_another_account_sees_none_of_them(page: Page, herald: Herald, receiver: Receiver) -> None:
    _, alert, _ = _twiml_alert(herald, receiver)
    other = herald.account()
    sign_in(page, herald, other.sid, other.auth_token)
    page.goto(f"{herald.base_url}/console/alerts")
    expect(page.get_by_text("No alerts: nothing has gone wrong yet.")).to_be_visible()
    answer = page.goto(f"{herald.base_url}/console/alerts/{alert['sid']}")
    assert answer is not None and answer.status == 404
    expect(page.get_by_role("alert")).to_contain_text("no such alert")
