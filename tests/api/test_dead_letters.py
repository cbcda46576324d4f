"""Callbacks a receiver never accepts end as dead letters, listable and retryable."""

from __future__ import annotations

import httpx

from tests.api.test_delivery_e2e import setup
from tests.conftest import Herald, eventually
from tests.webhooks.receiver import Receiver, Reply

SETTINGS = {"callback_max_attempts": 1}


def test_dead_letters_are_listed_and_can_be_retried(herald: Herald) -> None:
    account, client, number = setup(herald)
    auth = (account.sid, account.auth_token)  # type: ignore[attr-defined]
    base = f"{herald.base_url}/herald/v1/Accounts/{account.sid}"  # type: ignore[attr-defined]
    with Receiver() as receiver:
        receiver.always(Reply(status=500))
        url = f"{receiver.url}/broken"
        message = client.messages.create(  # type: ignore[attr-defined]
            to="+14155550131", from_=number, body="x", status_callback=url
        )
        receiver.wait_for(2, timeout=10)  # sent, then delivered, each refused once

        def two_dead() -> list[dict]:  # type: ignore[type-arg]
            found = httpx.get(f"{base}/DeadLetters.json", auth=auth).json()["dead_letters"]
            return found if len(found) == 2 else []

        letters = eventually(two_dead)
        assert [d["message_sid"] for d in letters] == [message.sid] * 2
        assert sorted(d["sequence"] for d in letters) == [1, 2]
        assert all(d["last_status_code"] == 500 and d["attempts"] == 1 for d in letters)
        receiver.always(Reply(status=200))
        first = min(letters, key=lambda d: d["sequence"])
        retried = httpx.post(f"{base}/DeadLetters/{first['id']}/Retry.json", auth=auth)
        assert retried.status_code == 200
        got = receiver.wait_for(3, timeout=10)
        assert dict(got[2].form)["MessageStatus"] == "sent"
        assert got[2].headers["x-herald-sequence"] == "1"
    missing = httpx.post(f"{base}/DeadLetters/999999/Retry.json", auth=auth)
    assert missing.status_code == 404 and missing.json()["code"] == 20404
    other = herald.account()
    foreign = httpx.get(f"{base}/DeadLetters.json", auth=(other.sid, other.auth_token))
    assert foreign.status_code == 404
