"""SIGTERM: a node stops taking requests, hands back what it holds (sender leases,
leased callbacks) and exits 0 within its grace period; the next node carries on at once,
not after the leases would have expired."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
from sqlalchemy import text

from tests.nodes import Node, first_account, node_env
from tests.ports import free_port
from tests.webhooks.receiver import Receiver, Reply

SENDER = "+14152030000"
_NOT_FINAL = text("SELECT count(*) FROM messages WHERE status NOT IN ('delivered', 'undelivered')")


def test_sigterm_hands_back_leases_and_callbacks(empty_postgres: str, tmp_path: Path) -> None:
    url = empty_postgres
    env = node_env(url, HERALD_CALLBACK_TIMEOUT_S="30", HERALD_SHUTDOWN_GRACE_S="5")
    first = Node(tmp_path, free_port(), env=env).start()
    engine, account, token = first_account(url)
    base = f"/2010-04-01/Accounts/{account}"
    try:
        with Receiver() as receiver:
            receiver.always(Reply(delay=20.0))  # callbacks in flight when SIGTERM comes
            with httpx.Client(base_url=first.url, auth=(account, token)) as api:
                made = api.post(
                    f"{base}/IncomingPhoneNumbers.json", data={"PhoneNumber": SENDER, "Mps": "2"}
                )
                assert made.status_code == 201, made.text
                for n in range(10):  # five seconds of sending at 2 MPS
                    form = {
                        "To": f"+1415555010{n}",
                        "From": SENDER,
                        "Body": f"m{n}",
                        "StatusCallback": receiver.url + "/cb",
                    }
                    assert api.post(f"{base}/Messages.json", data=form).status_code == 201
            receiver.wait_for(1, timeout=10)
            stopping = time.monotonic()
            assert first.stop(timeout=15) == 0, first.log_tail()
            took = time.monotonic() - stopping
            with engine.connect() as conn:
                leases = conn.execute(text("SELECT owner, expires_at FROM sender_leases")).all()
                nodes = conn.execute(text("SELECT count(*) FROM nodes")).scalar_one()
                leased = conn.execute(
                    text("SELECT count(*) FROM callbacks WHERE leased_by IS NOT NULL")
                ).scalar_one()
                waiting = conn.execute(
                    text("SELECT count(*) FROM messages WHERE status IN ('queued', 'sending')")
                ).scalar_one()
            assert took < 5 + 3  # the grace period, and the process's own exit
            assert len(leases) == 1 and leases[0][1] <= time.time() * 1e6  # free at once
            assert nodes == 0 and leased == 0
            assert waiting > 0  # work was handed back, not finished in a hurry

            receiver.always(Reply())
            second = Node(tmp_path, free_port(), env=env).start()
            started = time.monotonic()
            with engine.connect() as conn:
                while time.monotonic() - started < 30:
                    left = conn.execute(_NOT_FINAL).scalar_one()
                    conn.rollback()
                    if left == 0:
                        break
                    time.sleep(0.2)
            assert left == 0
            # At 2 MPS the rest takes a few seconds: no wait for a 10-second lease expiry.
            assert time.monotonic() - started < 10
            assert second.stop() == 0
    finally:
        first.stop()
        engine.dispose()
