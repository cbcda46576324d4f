"""Numbers and short codes in the console: registered, their webhooks, capabilities and MPS
edited (read back through the REST API), a refusal shown in place, removed; another
account sees none of them; the list at a phone's width."""

from __future__ import annotations

import itertools
from typing import Any

import httpx
from playwright.sync_api import Page, expect

from tests.conftest import Herald
from tests.console.conftest import shoot, sign_in
from tests.inbound.tenant import number

_codes = itertools.count(71000)


def _fetch(herald: Herald, account: Any, path: str) -> dict[str, Any]:
    answer = httpx.get(herald.url(account, path), auth=(account.sid, account.auth_token))
    assert answer.status_code == 200, answer.text
    found: dict[str, Any] = answer.json()
    return found


def _accept_confirm(page: Page) -> None:
    page.once("dialog", lambda dialog: dialog.accept())


def test_register_edit_and_remove_a_number(page: Page, herald: Herald) -> None:
    account = herald.account()
    phone = number()
    sign_in(page, herald, account.sid, account.auth_token)
    page.goto(f"{herald.base_url}/console/numbers")
    page.get_by_label("Phone number", exact=True).fill(phone)
    page.locator("#number-FriendlyName").fill("Support line")
    page.get_by_label("SMS webhook URL", exact=True).fill("https://example.com/sms")
    page.get_by_role("button", name="Register number").click()
    expect(page.locator(".notice")).to_have_text(f"Registered {phone}.")
    sid = page.url.rsplit("/", 1)[-1].split("?")[0]
    assert sid.startswith("PN")

    page.get_by_label("SMS webhook URL", exact=True).fill("https://example.com/in")
    page.get_by_label("SMS webhook URL method").select_option("GET")
    page.get_by_label("Fallback URL", exact=True).fill("https://example.com/fallback")
    page.get_by_label("Status callback URL", exact=True).fill("https://example.com/status")
    page.get_by_label("MMS", exact=True).uncheck()
    page.get_by_label("Fax", exact=True).check()
    page.get_by_label("MPS").fill("5")
    page.get_by_role("button", name="Save").click()
    expect(page.locator(".notice")).to_have_text("Saved.")
    stored = _fetch(herald, account, f"IncomingPhoneNumbers/{sid}.json")
    assert (stored["sms_url"], stored["sms_method"]) == ("https://example.com/in", "GET")
    assert stored["sms_fallback_url"] == "https://example.com/fallback"
    assert stored["status_callback"] == "https://example.com/status"
    assert stored["capabilities"] == {"voice": True, "sms": True, "mms": False, "fax": True}
    assert (stored["mps"], stored["friendly_name"]) == (5, "Support line")

    page.get_by_label("SMS webhook URL", exact=True).fill("not a url")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("alert")).to_contain_text("SmsUrl 'not a url' is not a valid")
    expect(page.get_by_label("SMS webhook URL", exact=True)).to_have_value("not a url")
    expect(page.get_by_label("Fax", exact=True)).to_be_checked()  # what was sent, kept
    assert _fetch(herald, account, f"IncomingPhoneNumbers/{sid}.json")["sms_url"] == (
        "https://example.com/in"
    )
    shoot(page, "number-page")

    _accept_confirm(page)
    page.get_by_role("button", name="Remove number").click()
    expect(page.locator(".notice")).to_have_text(f"Removed {phone}.")
    expect(page.get_by_text("No numbers yet")).to_be_visible()
    listed = _fetch(herald, account, "IncomingPhoneNumbers.json")["incoming_phone_numbers"]
    assert listed == []


def test_a_refused_registration_keeps_what_was_typed(page: Page, herald: Herald) -> None:
    account = herald.account()
    sign_in(page, herald, account.sid, account.auth_token)
    page.goto(f"{herald.base_url}/console/numbers")
    page.get_by_label("Phone number", exact=True).fill("+1415")
    page.locator("#number-FriendlyName").fill("Typo")
    page.get_by_role("button", name="Register number").click()
    expect(page.get_by_role("alert")).to_contain_text("The phone number +1415 is not valid")
    expect(page.get_by_label("Phone number", exact=True)).to_have_value("+1415")
    expect(page.locator("#number-FriendlyName")).to_have_value("Typo")


def test_a_short_code_and_the_list(page: Page, phone: Page, herald: Herald) -> None:
    account = herald.account()
    client = herald.client(account)
    service = client.messaging.v1.services.create(friendly_name="Alerts service")
    pooled = client.incoming_phone_numbers.create(
        phone_number=number(), friendly_name="Pooled", sms_url="https://example.com/pooled"
    )
    client.messaging.v1.services(service.sid).phone_numbers.create(phone_number_sid=pooled.sid)
    code = str(next(_codes))
    sign_in(page, herald, account.sid, account.auth_token)
    page.goto(f"{herald.base_url}/console/numbers")
    page.get_by_label("Short code", exact=True).fill(code)
    page.get_by_label("Short code SMS webhook URL", exact=True).fill("https://example.com/sc")
    page.get_by_label("MMS", exact=True).check()
    page.get_by_role("button", name="Register short code").click()
    expect(page.locator(".notice")).to_have_text(f"Registered short code {code}.")
    sid = page.url.rsplit("/", 1)[-1].split("?")[0]
    page.get_by_label("SMS webhook URL", exact=True).fill("https://example.com/sc2")
    page.get_by_label("MPS").fill("100")
    page.get_by_role("button", name="Save").click()
    expect(page.locator(".notice")).to_have_text("Saved.")
    stored = _fetch(herald, account, f"SMS/ShortCodes/{sid}.json")
    assert (stored["sms_url"], stored["mps"]) == ("https://example.com/sc2", 100)
    assert stored["capabilities"] == {"sms": True, "mms": True}

    page.goto(f"{herald.base_url}/console/numbers")
    pooled_row = page.get_by_role("row").filter(has_text=pooled.phone_number)
    expect(pooled_row).to_contain_text("Alerts service")
    expect(pooled_row).to_contain_text("POST https://example.com/pooled")
    code_row = page.get_by_role("row").filter(has_text=code)
    expect(code_row).to_contain_text("https://example.com/sc2")
    expect(code_row).to_contain_text("100")
    shoot(page, "numbers")

    sign_in(phone, herald, account.sid, account.auth_token)
    phone.goto(f"{herald.base_url}/console/numbers")
    expect(phone.get_by_role("link", name=code)).to_be_visible()
    assert phone.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    shoot(phone, "numbers-phone")

    page.goto(f"{herald.base_url}/console/short-codes/{sid}")
    _accept_confirm(page)
    page.get_by_role("button", name="Remove short code").click()
    expect(page.locator(".notice")).to_have_text(f"Removed {code}.")
    assert _fetch(herald, account, "SMS/ShortCodes.json")["short_codes"] == []


def test_another_account_sees_none_of_them(page: Page, herald: Herald) -> None:
    owner, other = herald.account(), herald.account()
    theirs = herald.client(owner).incoming_phone_numbers.create(phone_number=number())
    sign_in(page, herald, other.sid, other.auth_token)
    page.goto(f"{herald.base_url}/console/numbers")
    expect(page.get_by_text("No numbers yet")).to_be_visible()
    expect(page.get_by_text(theirs.phone_number)).to_have_count(0)
    answer = page.goto(f"{herald.base_url}/console/numbers/{theirs.sid}")
    assert answer is not None and answer.status == 404
    csrf = page.locator("input[name=csrf]").first.get_attribute("value") or ""
    edit = page.request.post(
        f"{herald.base_url}/console/numbers/{theirs.sid}",
        form={"csrf": csrf, "SmsUrl": "https://evil.example/"},
    )
    gone = page.request.post(
        f"{herald.base_url}/console/numbers/{theirs.sid}/delete", form={"csrf": csrf}
    )
    assert (edit.status, gone.status) == (404, 404)
    kept = _fetch(herald, owner, f"IncomingPhoneNumbers/{theirs.sid}.json")
    assert kept["sms_url"] == ""
    bad = page.goto(f"{herald.base_url}/console/numbers/PN-not-a-sid")
    assert bad is not None and bad.status == 404
