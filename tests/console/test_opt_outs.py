"""The opt-out ledger in the console: a recipient who texted STOP found by searching it,
an entry removed, the exports downloaded, an import from the textarea and from a file, a
refused import shown in place; another account sees none of it; a phone's width."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import httpx
from playwright.sync_api import Page, expect

from tests.conftest import Herald
from tests.console.conftest import shoot, sign_in
from tests.inbound.tenant import handset, number


def _ledger(herald: Herald, account: Any, **filters: str) -> list[dict[str, Any]]:
    answer = httpx.get(
        f"{herald.base_url}/herald/v1/Accounts/{account.sid}/OptOuts.json",
        params=filters,
        auth=(account.sid, account.auth_token),
    )
    assert answer.status_code == 200, answer.text
    entries: list[dict[str, Any]] = answer.json()["opt_outs"]
    return entries


def _stop(herald: Herald, account: Any, handset_number: str, ours: str) -> None:
    """A handset texts STOP to one of the account's numbers, through the simulator."""
    answer = httpx.post(
        f"{herald.base_url}/herald/v1/Simulator/Inbound",
        data={"From": handset_number, "To": ours, "Body": "STOP"},
        auth=(account.sid, account.auth_token),
    )
    assert answer.status_code == 201, answer.text


def _national(e164: str) -> str:
    """+14155550123 as a person types it: (415) 555-0123."""
    digits = e164[2:]
    return f"({digits[:3]}) {digits[3:6]}-{digits[6:]}"


def test_a_recipient_who_texted_stop_is_found_exported_and_removed(
    page: Page, herald: Herald
) -> None:
    account = herald.account()
    ours = herald.client(account).incoming_phone_numbers.create(phone_number=number())
    stopped, other = handset(), handset()
    _stop(herald, account, stopped, ours.phone_number)
    _stop(herald, account, other, ours.phone_number)
    sign_in(page, herald, account.sid, account.auth_token)
    page.goto(f"{herald.base_url}/console/opt-outs")
    page.get_by_label("Recipient").fill(_national(stopped))
    page.get_by_role("button", name="Search").click()
    row = page.get_by_role("row").filter(has_text=stopped)
    expect(row).to_contain_text("STOP")
    expect(row).to_contain_text(ours.phone_number)
    expect(page.get_by_role("row").filter(has_text=other)).to_have_count(0)
    shoot(page, "opt-outs")

    with page.expect_download() as started:
        page.get_by_role("link", name="Export CSV").click()
    download = started.value
    assert download.suggested_filename == f"opt-outs-{account.sid}.csv"
    rows = list(csv.DictReader(io.StringIO(Path(download.path()).read_text())))
    assert sorted(r["phone_number"] for r in rows) == sorted([stopped, other])
    assert {r["keyword"] for r in rows} == {"STOP"}
    exported = page.request.get(f"{herald.base_url}/console/opt-outs/export.json")
    assert exported.headers["content-disposition"].startswith("attachment;")
    assert len(json.loads(exported.body())["opt_outs"]) == 2

    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name=f"Remove {stopped}").click()
    expect(page.locator(".notice")).to_contain_text(f"Removed the opt-out of {stopped}")
    expect(page.get_by_label("Recipient")).to_have_value(_national(stopped))  # search kept
    expect(page.get_by_text("No entry matches.")).to_be_visible()
    assert [e["phone_number"] for e in _ledger(herald, account)] == [other]


def test_an_import_adds_entries_and_a_refusal_is_shown_in_place(
    page: Page, phone: Page, herald: Herald
) -> None:
    account = herald.account()
    pasted, from_file = handset(), handset()
    sign_in(page, herald, account.sid, account.auth_token)
    page.goto(f"{herald.base_url}/console/opt-outs")
    page.get_by_label("CSV or JSON").fill(f"phone_number,keyword\n{pasted},STOP\n")
    page.get_by_role("button", name="Import").click()
    expect(page.locator(".notice")).to_have_text("Imported 1 entry (account: 1).")
    expect(page.get_by_role("row").filter(has_text=pasted)).to_contain_text("import")

    ledger = json.dumps({"opt_outs": [{"phone_number": from_file, "keyword": "quit"}]})
    page.get_by_label("File").set_input_files(
        files=[{"name": "ledger.json", "mimeType": "application/json", "buffer": ledger.encode()}]
    )
    expect(page.get_by_label("CSV or JSON")).to_have_value(ledger)
    page.get_by_role("button", name="Import").click()
    expect(page.locator(".notice")).to_have_text("Imported 1 entry (account: 1).")
    found = {e["phone_number"]: e for e in _ledger(herald, account)}
    assert set(found) == {pasted, from_file}
    assert (found[from_file]["source"], found[from_file]["keyword"]) == ("import", "QUIT")

    page.get_by_label("CSV or JSON").fill("number\n+14155550100\n")
    page.get_by_role("button", name="Import").click()
    expect(page.get_by_role("alert")).to_contain_text("header row naming phone_number")
    expect(page.get_by_label("CSV or JSON")).to_have_value("number\n+14155550100\n")
    assert len(_ledger(herald, account)) == 2

    sign_in(phone, herald, account.sid, account.auth_token)
    phone.goto(f"{herald.base_url}/console/opt-outs")
    expect(phone.get_by_role("row").filter(has_text=pasted)).to_be_visible()
    assert phone.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    shoot(phone, "opt-outs-phone")


def test_another_account_sees_none_of_it(page: Page, herald: Herald) -> None:
    owner, other = herald.account(), herald.account()
    ours = herald.client(owner).incoming_phone_numbers.create(phone_number=number())
    stopped = handset()
    _stop(herald, owner, stopped, ours.phone_number)
    entry = _ledger(herald, owner)[0]
    sign_in(page, herald, other.sid, other.auth_token)
    page.goto(f"{herald.base_url}/console/opt-outs")
    expect(page.get_by_text("The ledger is empty.")).to_be_visible()
    exported = page.request.get(f"{herald.base_url}/console/opt-outs/export.csv")
    assert exported.text().strip() == (
        "sid,phone_number,scope,messaging_service_sid,sender,source,keyword,message_sid,"
        "date_created"
    )
    csrf = page.locator("input[name=csrf]").first.get_attribute("value") or ""
    removed = page.request.post(
        f"{herald.base_url}/console/opt-outs/{entry['sid']}/delete", form={"csrf": csrf}
    )
    assert removed.status == 404
    assert [e["sid"] for e in _ledger(herald, owner)] == [entry["sid"]]


def test_the_ledger_pages_and_filters_by_date(page: Page, herald: Herald) -> None:
    account = herald.account()
    rows = "".join(f"+1415555{n:04d}\n" for n in range(51))
    imported = httpx.post(
        f"{herald.base_url}/herald/v1/Accounts/{account.sid}/OptOuts/Import",
        content=f"phone_number\n{rows}",
        headers={"Content-Type": "text/csv"},
        auth=(account.sid, account.auth_token),
    )
    assert imported.status_code == 201, imported.text
    sign_in(page, herald, account.sid, account.auth_token)
    page.goto(f"{herald.base_url}/console/opt-outs")
    entries = page.locator("tbody tr")
    expect(entries).to_have_count(50)
    page.get_by_role("link", name="Next →").click()
    expect(entries).to_have_count(1)
    expect(page.get_by_text("Page 2")).to_be_visible()
    page.get_by_role("link", name="← Previous").click()
    expect(entries).to_have_count(50)

    page.get_by_label("Opted out on or after").fill("2999-01-01")
    page.get_by_role("button", name="Search").click()
    expect(page.get_by_text("No entry matches.")).to_be_visible()
    page.get_by_label("Opted out on or after").fill("")
    page.get_by_label("Opted out on or before").fill("2999-01-01")
    page.get_by_role("button", name="Search").click()
    expect(entries).to_have_count(50)
