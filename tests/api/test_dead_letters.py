"""Callbacks a receiver never accepts end as dead letters, listable and retryable, and
telling nothing of what sits at their address."""

from __future__ import annotations

import logging
import socket
import socketserver
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest

from tests.api.test_delivery_e2e import setup
from tests.conftest import Herald, eventually
from tests.webhooks.receiver import Receiver, Reply

SETTINGS = {"callback_max_attempts": 1, "callback_timeout_s": 0.5}


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


class _NotHttp(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        self.request.recv(4096)
        self.request.sendall(b"SSH-2.0-OpenSSH_9.6\r\n")


@contextmanager
def not_http() -> Iterator[str]:
    """A TCP server that answers a request with something that is not HTTP."""
    with socketserver.ThreadingTCPServer(("127.0.0.1", 0), _NotHttp) as server:
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield f"http://127.0.0.1:{server.server_address[1]}/cb"
        finally:
            server.shutdown()


def _closed_port() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}/cb"


def test_dead_letters_do_not_tell_what_sits_at_an_address(
    herald: Herald, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="herald.webhooks")
    account = herald.account()
    client = herald.client(account)
    auth = (account.sid, account.auth_token)
    base = f"{herald.base_url}/herald/v1/Accounts/{account.sid}"
    number = "+14155557000"  # at 50 MPS, so that the six messages go out at once
    made = httpx.post(
        herald.url(account, "IncomingPhoneNumbers.json"),
        data={"PhoneNumber": number, "Mps": "50"},
        auth=auth,
    )
    assert made.status_code == 201, made.text
    with Receiver() as silent, Receiver() as dropping, Receiver() as locked, not_http() as junk:
        silent.always(Reply(delay=5.0))  # longer than the 0.5 s time limit
        dropping.always(Reply(drop=True))  # connection reset
        locked.always(Reply(status=401))
        urls = {
            "refused": _closed_port(),
            "not http": junk,
            "timed out": silent.url + "/cb",
            "reset": dropping.url + "/cb",
            "no such host": "http://no-such-host.invalid/cb",
            "401": locked.url + "/cb",
        }
        sids = {
            what: client.messages.create(
                to="+14155550132", from_=number, body=what, status_callback=url
            ).sid
            for what, url in urls.items()
        }

        def all_dead() -> list[dict[str, Any]]:
            found = httpx.get(f"{base}/DeadLetters.json", auth=auth).json()["dead_letters"]
            return found if len(found) == 2 * len(urls) else []

        letters = eventually(all_dead, timeout=20)
    shown = {}
    for letter in letters:
        what = next(w for w, sid in sids.items() if sid == letter["message_sid"])
        shown.setdefault(what, set()).add((letter["last_error"], letter["last_status_code"]))
    no_answer = {("HTTP retrieval failure", None)}
    assert shown == {
        "refused": no_answer,
        "not http": no_answer,
        "timed out": no_answer,
        "reset": no_answer,
        "no such host": no_answer,
        "401": {("HTTP retrieval failure", 401)},  # an answer's status, as Twilio shows it
    }
    # The operator's log says exactly why, once per dead letter.
    logged = "\n".join(r.getMessage() for r in caplog.records if "dead-lettered" in r.getMessage())
    for cause in ("Connection refused", "malformed HTTP answer", "timed out", "could not resolve"):
        assert cause in logged, logged
