"""Signing in and out of the console, and what is refused: wrong credentials, an expired
session, a forged form post; a page at a phone's width."""

from __future__ import annotations

import httpx
from playwright.sync_api import Page, expect

from tests.conftest import Herald
from tests.console.conftest import shoot, sign_in

SETTINGS = {"console_idle_s": 3}


def test_sign_in_shows_the_console_and_sign_out_ends_it(page: Page, herald: Herald) -> None:
    account = herald.account()
    page.goto(f"{herald.base_url}/console/live")
    expect(page).to_have_url(f"{herald.base_url}/console/sign-in?next=/console/live")
    shoot(page, "sign-in")
    sign_in(page, herald, account.sid, account.auth_token)
    expect(page.locator("header .account")).to_have_text(account.sid)
    cookie = next(c for c in page.context.cookies() if c["name"] == "herald_console")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(f"{herald.base_url}/console/sign-in")
    page.goto(f"{herald.base_url}/console/live")
    expect(page.get_by_role("button", name="Sign in")).to_be_visible()


def test_wrong_credentials_are_refused(page: Page, herald: Herald) -> None:
    account = herald.account()
    sign_in(page, herald, account.sid, "0" * 32)
    expect(page.get_by_role("alert")).to_contain_text("not right")
    assert not [c for c in page.context.cookies() if c["name"] == "herald_console"]


def test_an_expired_session_is_refused(page: Page, herald: Herald) -> None:
    account = herald.account()
    sign_in(page, herald, account.sid, account.auth_token)
    page.wait_for_timeout(3_500)  # HERALD_CONSOLE_IDLE_S is 3 in this module
    page.goto(f"{herald.base_url}/console/live")
    expect(page.get_by_role("button", name="Sign in")).to_be_visible()


def test_a_forged_form_post_is_refused(page: Page, herald: Herald) -> None:
    account = herald.account()
    sign_in(page, herald, account.sid, account.auth_token)
    cookies = {c["name"]: c["value"] for c in page.context.cookies()}
    with httpx.Client(base_url=herald.base_url, cookies=cookies) as forger:
        no_token = forger.post("/console/sign-out", data={})
        wrong = forger.post("/console/sign-out", data={"csrf": "x" * 32})
        other_site = forger.post(
            "/console/sign-out", data={"csrf": "x"}, headers={"Origin": "https://evil.example"}
        )
    assert (no_token.status_code, wrong.status_code, other_site.status_code) == (403, 403, 403)
    page.goto(f"{herald.base_url}/console/live")  # the session is still there
    expect(page.locator("header .account")).to_have_text(account.sid)
