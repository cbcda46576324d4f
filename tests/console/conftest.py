"""The console's browser tests: Playwright driving Debian's Chromium (`/usr/bin/chromium`,
headless; `make test` installs it), against a real Herald on 127.0.0.1. Screenshots go to
`test-output/console/` at the repository's root."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, Playwright, sync_playwright

from tests.conftest import Herald

CHROMIUM = os.environ.get("HERALD_TEST_CHROMIUM", "/usr/bin/chromium")
SHOTS = Path(__file__).resolve().parents[2] / "test-output" / "console"
PHONE = {"width": 390, "height": 844}


# Package scope, not session: Playwright's sync API runs an event loop in the main thread
# while it is started, and tests after the console's call asyncio.run().
@pytest.fixture(scope="package")
def playwright() -> Iterator[Playwright]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"no Chromium at {CHROMIUM}: `make test` installs Debian's chromium")
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="package")
def browser(playwright: Playwright) -> Iterator[Browser]:
    browser = playwright.chromium.launch(
        executable_path=CHROMIUM, headless=True, args=["--no-sandbox", "--disable-gpu"]
    )
    yield browser
    browser.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(10_000)
    tab = context.new_page()
    yield tab
    context.close()


@pytest.fixture
def phone(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
    context.set_default_timeout(10_000)
    tab = context.new_page()
    yield tab
    context.close()


def sign_in(page: Page, herald: Herald, sid: str, token: str) -> None:
    page.goto(f"{herald.base_url}/console/sign-in")
    page.get_by_label("Account SID").fill(sid)
    page.get_by_label("Auth Token").fill(token)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state()


def shoot(page: Page, name: str) -> Path:
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
