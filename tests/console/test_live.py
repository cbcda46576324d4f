"""The live view: rates, outcomes and queues that update without a reload, one account's
numbers only, a JSON endpoint that wants a session, a phone's width, and the carriers'
connections as the running process sees them."""

from __future__ import annotations

import itertools
import re
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from herald.config import Settings
from herald.runtime import build
from tests.carriers.smpp_peer import SmppPeer
from tests.conftest import METRICS_TOKEN, Herald, _Server, database_url, eventually
from tests.console.conftest import shoot, sign_in

_numbers = itertools.count(1)
SECONDS = re.compile(r"^\d+ s$")


def number(herald: Herald, account: Any, mps: int) -> str:
    """A number of the account's own, sending at `mps`."""
    phone = f"+1415556{next(_numbers):04d}"
    registered = httpx.post(
        herald.url(account, "IncomingPhoneNumbers.json"),
        data={"PhoneNumber": phone, "Mps": str(mps)},
        auth=(account.sid, account.auth_token),
    )
    assert registered.status_code == 201, registered.text
    return phone


def send(herald: Herald, account: Any, sender: str, to: str, count: int) -> list[str]:
    client = herald.client(account)
    return [client.messages.create(to=to, from_=sender, body=f"live {i}").sid for i in range(count)]


def test_the_numbers_move_without_a_reload(page: Page, herald: Herald) -> None:
    account = herald.account()
    sender = number(herald, account, mps=50)
    sign_in(page, herald, account.sid, account.auth_token)
    page.goto(f"{herald.base_url}/console/live")
    expect(page.get_by_test_id("sent-minute")).to_have_text("0")
    expect(page.locator("#carriers")).to_contain_text("Carrier simulator")
    flat = page.locator('[data-points="charts.throughput.sent"]').get_attribute("points")

    send(herald, account, sender, "+14155550150", 3)  # 555-01xx: always delivered
    send(herald, account, sender, "+14155553003", 1)  # …3003: undelivered, 30003
    expect(page.get_by_test_id("sent-minute")).to_have_text("4")  # polled, not reloaded
    expect(page.get_by_test_id("delivered")).to_have_text("3")
    expect(page.get_by_test_id("undelivered")).to_have_text("1")
    expect(page.get_by_test_id("delivered-share")).to_have_text("75%")
    expect(page.get_by_test_id("failed-share")).to_have_text("25%")
    expect(page.locator('[data-points="charts.throughput.sent"]')).not_to_have_attribute(
        "points", flat or ""
    )
    shoot(page, "live")


def test_a_slow_sender_shows_its_queue_and_oldest_wait(page: Page, herald: Herald) -> None:
    account = herald.account()
    slow = number(herald, account, mps=1)
    sign_in(page, herald, account.sid, account.auth_token)
    send(herald, account, slow, "+14155550160", 4)  # one a second: three wait
    page.goto(f"{herald.base_url}/console/live")
    row = page.locator("#queues tbody tr", has_text=slow)
    expect(row).to_be_visible()
    cells = row.locator("td")
    assert int(cells.nth(1).inner_text()) >= 1  # waiting
    expect(cells.nth(4)).to_have_text(SECONDS)  # oldest wait
    expect(cells.nth(5)).to_have_text("1/s")
    shoot(page, "live-queue")
    expect(row).to_have_count(0, timeout=15_000)  # drained, seen by polling
    expect(page.get_by_text("No messages waiting.")).to_be_visible()
    expect(page.get_by_test_id("delivered")).to_have_text("4")


def test_one_account_never_sees_another_s_numbers(page: Page, herald: Herald) -> None:
    sender_account, other = herald.account(), herald.account()
    send(herald, sender_account, number(herald, sender_account, mps=1), "+14155550170", 3)
    sign_in(page, herald, other.sid, other.auth_token)
    page.goto(f"{herald.base_url}/console/live")
    expect(page.get_by_test_id("sent-minute")).to_have_text("0")
    expect(page.get_by_text("No messages waiting.")).to_be_visible()
    seen = page.request.get(f"{herald.base_url}/console/live.json").json()
    assert seen["queues"] == [] and seen["rates"]["sent_minute"] == 0
    assert seen["outcomes"]["delivered"] == 0 and seen["callbacks"]["owed"] == 0


def test_without_javascript_the_page_still_reads(browser: Browser, herald: Herald) -> None:
    account = herald.account()
    sids = send(herald, account, number(herald, account, mps=50), "+14155550190", 2)
    client = herald.client(account)
    eventually(lambda: all(client.messages(sid).fetch().status == "delivered" for sid in sids))
    context = browser.new_context(java_script_enabled=False)
    try:
        tab = context.new_page()
        sign_in(tab, herald, account.sid, account.auth_token)
        tab.goto(f"{herald.base_url}/console/live")
        expect(tab.get_by_test_id("sent-minute")).to_have_text("2")  # as rendered
        expect(tab.locator("#carriers")).to_contain_text("Carrier simulator")
    finally:
        context.close()


def test_the_json_wants_a_session(herald: Herald) -> None:
    answer = httpx.get(f"{herald.base_url}/console/live.json", follow_redirects=False)
    assert answer.status_code == 401
    assert answer.json()["status"] == 401  # JSON, for the page's script


def test_the_live_view_fits_a_phone(phone: Page, herald: Herald) -> None:
    account = herald.account()
    send(herald, account, number(herald, account, mps=1), "+14155550180", 3)
    sign_in(phone, herald, account.sid, account.auth_token)
    phone.goto(f"{herald.base_url}/console/live")
    expect(phone.get_by_role("heading", name="Queues")).to_be_visible()
    width = phone.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"the page is {width}px wide"
    shoot(phone, "live-phone")


# ---- the carriers' connections: a server of its own with a carriers file (SQLite only:
# nothing here touches the database differently on PostgreSQL)


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def smpp_herald(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Herald]:
    tmp: Path = tmp_path_factory.mktemp("live-smpp")
    fast = "reconnect_min_s = 0.1\nreconnect_max_s = 0.2\ndown_after_failures = 2\n"
    with SmppPeer() as peer:
        carriers = tmp / "carriers.toml"
        carriers.write_text(
            f'[[connections]]\nname = "acme"\nhost = "127.0.0.1"\nport = {peer.port}\n'
            f'system_id = "esme1"\npassword = "pw123"\nwindow = 10\n{fast}\n'
            f'[[connections]]\nname = "gone"\nhost = "127.0.0.1"\nport = {_closed_port()}\n'
            f'system_id = "esme1"\npassword = "pw123"\n{fast}\n'
            '[[routes]]\nconnection = "acme"\ncountries = ["US"]\n'
        )
        settings = Settings(
            data_dir=tmp,
            database_url=database_url("sqlite", None, tmp),
            simulator_latency="instant",
            metrics_token=METRICS_TOKEN,
            carriers_file=carriers,
        )
        runtime = build(settings)
        server = _Server(runtime)
        base_url = server.start()
        peer.wait_for_sessions(1)
        yield Herald(base_url=base_url, runtime=runtime, backend="sqlite")
        server.stop()


def test_the_carriers_connections_show_their_state(page: Page, smpp_herald: Herald) -> None:
    account = smpp_herald.account()
    sign_in(page, smpp_herald, account.sid, account.auth_token)
    page.goto(f"{smpp_herald.base_url}/console/live")
    acme = page.locator('tr[data-connection="acme"]')
    expect(acme.locator('[data-field="state"]')).to_have_text("bound")
    expect(acme.locator('[data-field="binds"]')).to_have_text("1 of 1")
    expect(acme.locator('[data-field="window"]')).to_have_text("0 of 10")
    gone = page.locator('tr[data-connection="gone"]')
    expect(gone.locator('[data-field="state"]')).to_contain_text("down")
    shoot(page, "live-carriers")
