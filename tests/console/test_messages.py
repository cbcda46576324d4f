"""The message log and a message's page in the console: filters and paging; status
callback attempts with their response codes; an inbound message's webhook attempts, its
TwiML and the reply it caused; one account never sees another's messages; a phone's width."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import Page, expect

from herald.domain.accounts import Account
from tests.conftest import Herald, eventually
from tests.console.conftest import shoot, sign_in
from tests.console.test_send import assert_fits
from tests.inbound.tenant import handset
from tests.webhooks.receiver import Receiver, Reply

_numbers = itertools.count(100)
XML = (("Content-Type", "text/xml"),)
TWIML = b"<Response><Message>Thanks, got it</Message></Response>"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as r:
        yield r


def number() -> str:
    return f"+1415559{next(_numbers):04d}"


def text_in(herald: Herald, account: Account, from_: str, to: str, body: str) -> str:
    """A handset texts one of the account's numbers (the simulator's endpoint)."""
    answer = httpx.post(
        f"{herald.base_url}/herald/v1/Simulator/Inbound",
        data={"From": from_, "To": to, "Body": body},
        auth=(account.sid, account.auth_token),
    )
    assert answer.status_code == 201, answer.text
    return str(answer.json()["sid"])


def rows(page: Page) -> object:
    return page.get_by_role("table", name="Message log").locator("tbody tr")


def test_the_log_filters_and_pages(page: Page, herald: Herald) -> None:
    account = herald.account()
    client = herald.client(account)
    ours = number()
    client.incoming_phone_numbers.create(phone_number=ours)
    handsets = [handset("212") for _ in range(3)]
    sent = [
        client.messages.create(from_=ours, to=h, body=f"Hi {i}") for i, h in enumerate(handsets)
    ]
    eventually(lambda: all(client.messages(m.sid).fetch().status == "delivered" for m in sent))
    text_in(herald, account, handsets[0], ours, "Hello back")
    sign_in(page, herald, account.sid, account.auth_token)

    page.goto(f"{herald.base_url}/console/messages")
    expect(rows(page)).to_have_count(4)
    expect(rows(page).first).to_contain_text("Hello back")  # newest first
    shoot(page, "messages")

    page.goto(f"{herald.base_url}/console/messages?size=3")
    expect(rows(page)).to_have_count(3)
    page.get_by_role("link", name="Older →").click()
    expect(rows(page)).to_have_count(1)
    expect(rows(page).first).to_contain_text("Hi 0")  # the oldest
    expect(page.get_by_role("link", name="Older →")).to_have_count(0)
    page.get_by_role("link", name="← Newer").click()
    expect(rows(page)).to_have_count(3)
    expect(rows(page).first).to_contain_text("Hello back")

    page.goto(f"{herald.base_url}/console/messages")
    page.get_by_label("Direction").select_option("inbound")
    page.get_by_role("button", name="Filter").click()
    expect(rows(page)).to_have_count(1)
    expect(rows(page).first).to_contain_text("received")
    page.get_by_label("Direction").select_option("")
    page.get_by_label("Status").select_option("delivered")
    page.get_by_label("To", exact=True).fill(handsets[1])
    page.get_by_role("button", name="Filter").click()
    expect(rows(page)).to_have_count(1)
    expect(rows(page).first).to_contain_text("Hi 1")
    page.get_by_label("Status").select_option("failed")
    page.get_by_role("button", name="Filter").click()
    expect(rows(page).first).to_contain_text("No messages match")


def test_status_callback_attempts_show_their_response_codes(
    page: Page, herald: Herald, receiver: Receiver
) -> None:
    receiver.route("/ok", Reply(status=200))
    receiver.route("/broken", Reply(status=500))
    account = herald.account()
    client = herald.client(account)
    ours = number()
    client.incoming_phone_numbers.create(phone_number=ours)
    heard = client.messages.create(
        from_=ours, to=handset("212"), body="heard", status_callback=f"{receiver.url}/ok"
    )
    unheard = client.messages.create(
        from_=ours, to=handset("212"), body="unheard", status_callback=f"{receiver.url}/broken"
    )
    sign_in(page, herald, account.sid, account.auth_token)

    page.goto(f"{herald.base_url}/console/messages/{heard.sid}")
    callbacks = page.get_by_role("table", name="Status callbacks")
    expect(callbacks.locator("tr[data-reports=delivered]")).to_contain_text(
        "HTTP 200", timeout=15_000
    )  # the page reloads itself until every callback is done
    expect(callbacks.locator("tr[data-reports=sent]")).to_contain_text("HTTP 200")
    timeline = page.get_by_role("table", name="Timeline")
    expect(timeline.locator("tr", has_text="delivered")).to_contain_text("status callback")

    page.goto(f"{herald.base_url}/console/messages/{unheard.sid}")
    callbacks = page.get_by_role("table", name="Status callbacks")
    expect(callbacks.locator("tbody tr").first).to_contain_text("HTTP 500", timeout=15_000)
    expect(callbacks.locator("tbody tr").first).to_contain_text("pending")


def test_an_inbound_message_shows_its_webhook_attempts_twiml_and_reply(
    page: Page, herald: Herald, receiver: Receiver
) -> None:
    receiver.route("/sms", Reply(headers=XML, body=TWIML))
    receiver.route("/down", Reply(status=500))
    account = herald.account()
    client = herald.client(account)
    answering, failing = number(), number()
    client.incoming_phone_numbers.create(phone_number=answering, sms_url=f"{receiver.url}/sms")
    client.incoming_phone_numbers.create(phone_number=failing, sms_url=f"{receiver.url}/down")
    phone = handset("212")
    answered = text_in(herald, account, phone, answering, "hello there")
    unanswered = text_in(herald, account, phone, failing, "anyone?")
    sign_in(page, herald, account.sid, account.auth_token)

    page.goto(f"{herald.base_url}/console/messages/{answered}")
    webhook = page.get_by_role("region", name="Inbound webhook")
    expect(webhook).to_contain_text("HTTP 200", timeout=15_000)
    expect(webhook.locator("pre.twiml")).to_contain_text("<Message>Thanks, got it</Message>")
    replies = page.get_by_role("table", name="Replies")
    expect(replies).to_contain_text("Thanks, got it")
    expect(page.get_by_role("region", name="Status callbacks")).to_have_count(0)
    shoot(page, "message-inbound")
    replies.get_by_role("link").first.click()
    expect(page.get_by_role("region", name="Details")).to_contain_text("outbound-reply")
    expect(page.get_by_role("region", name="Routing")).to_contain_text("A reply")

    page.goto(f"{herald.base_url}/console/messages/{unanswered}")
    webhook = page.get_by_role("region", name="Inbound webhook")
    expect(webhook).to_contain_text("HTTP 500", timeout=15_000)
    expect(webhook.locator(".attempt").first).to_contain_text("HTTP 500")  # each attempt
    expect(page.get_by_role("table", name="Alerts about this message")).to_contain_text("11200")
    expect(page.get_by_role("table", name="Replies")).to_have_count(0)


def test_another_account_sees_none_of_this_accounts_messages(page: Page, herald: Herald) -> None:
    owner, other = herald.account(), herald.account()
    client = herald.client(owner)
    ours = number()
    client.incoming_phone_numbers.create(phone_number=ours)
    secret = client.messages.create(from_=ours, to=handset("212"), body="for the owner only")
    sign_in(page, herald, other.sid, other.auth_token)

    page.goto(f"{herald.base_url}/console/messages")
    expect(rows(page).first).to_contain_text("No messages match")
    page.goto(f"{herald.base_url}/console/messages?newer={secret.sid}")
    expect(rows(page).first).to_contain_text("No messages match")
    for path in (secret.sid, "SM" + "0" * 32, "not-a-sid"):
        answer = page.goto(f"{herald.base_url}/console/messages/{path}")
        assert answer is not None and answer.status == 404
        expect(page.get_by_role("alert")).to_contain_text("no message with that SID")
    expect(page.get_by_text("for the owner only")).to_have_count(0)


def test_the_log_and_a_message_fit_a_phone(phone: Page, herald: Herald) -> None:
    account = herald.account()
    client = herald.client(account)
    ours = number()
    client.incoming_phone_numbers.create(phone_number=ours)
    message = client.messages.create(from_=ours, to=handset("212"), body="small screen " * 12)
    sign_in(phone, herald, account.sid, account.auth_token)
    phone.goto(f"{herald.base_url}/console/messages")
    expect(rows(phone)).to_have_count(1)
    assert_fits(phone)
    phone.goto(f"{herald.base_url}/console/messages/{message.sid}")
    expect(phone.get_by_role("table", name="Timeline")).to_be_visible()
    assert_fits(phone)


def test_a_retried_callback_shows_each_attempt_with_its_answer(
    page: Page, herald: Herald, receiver: Receiver
) -> None:
    receiver.plan(Reply(status=500))  # the first request fails, the retry is answered 200
    account = herald.account()
    client = herald.client(account)
    ours = number()
    client.incoming_phone_numbers.create(phone_number=ours)
    message = client.messages.create(
        from_=ours, to=handset("212"), body="retried", status_callback=f"{receiver.url}/cb"
    )
    sign_in(page, herald, account.sid, account.auth_token)
    page.goto(f"{herald.base_url}/console/messages/{message.sid}")
    first = page.get_by_role("table", name="Status callbacks").locator("tbody tr").first
    expect(first).to_contain_text("HTTP 200", timeout=15_000)  # the page reloads itself
    attempts = first.locator(".attempt")
    expect(attempts).to_have_count(2)
    expect(attempts.nth(0)).to_contain_text("HTTP 500")
    expect(attempts.nth(1)).to_contain_text("HTTP 200")
