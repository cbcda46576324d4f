"""kill -9 between the carrier's hand-over and the webhook: the inbound message was
acknowledged (stored), its webhook was in flight to a receiver that had not answered.
After the restart the message exists once (the carrier's redelivery of the same id
stores nothing new), its webhook is called again carrying the same idempotency token,
and its STOP took effect once: one ledger entry, one confirmation sent."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import httpx

from tests.conftest import eventually
from tests.nodes import Node, credentials
from tests.ports import free_port
from tests.webhooks.receiver import Receiver, Reply

NUMBER = "+14155207001"
HANDSET = "+12125550199"


def _db(workdir: Path) -> sqlite3.Connection:
    return sqlite3.connect(workdir / "var" / "herald.db", timeout=30)


def test_kill_9_before_the_webhook_answered(tmp_path: Path) -> None:
    env = {
        "HERALD_SIMULATOR_LATENCY": "instant",
        "HERALD_WEBHOOK_ALLOW_PRIVATE": "true",
        "HERALD_CALLBACK_BACKOFF_S": "0.2",
    }
    with Receiver() as receiver:
        receiver.route("/sms", Reply(delay=60))  # the first call hangs until the kill
        node = Node(tmp_path, free_port(), env=env).start()
        account, token = credentials(tmp_path)
        inbound = {"From": HANDSET, "To": NUMBER, "Body": "STOP", "CarrierMessageId": "mo-1"}
        with httpx.Client(base_url=node.url, auth=(account, token)) as api:
            made = api.post(
                f"/2010-04-01/Accounts/{account}/IncomingPhoneNumbers.json",
                data={"PhoneNumber": NUMBER, "SmsUrl": f"{receiver.url}/sms"},
            )
            assert made.status_code == 201, made.text
            handed = api.post("/herald/v1/Simulator/Inbound", data=inbound)
            assert handed.status_code == 201, handed.text
            sid = handed.json()["sid"]
        first = receiver.wait_for(1, timeout=10)[0]
        node.kill()

        receiver.route("/sms", Reply())
        node.start()
        with httpx.Client(base_url=node.url, auth=(account, token)) as api:
            again = api.post("/herald/v1/Simulator/Inbound", data=inbound)  # redelivered
            assert again.status_code == 201 and again.json()["sid"] == sid
        calls = receiver.wait_for(2, timeout=20)
        assert {dict(c.form)["MessageSid"] for c in calls} == {sid}
        tokens = {c.headers["i-twilio-idempotency-token"] for c in calls}
        assert tokens == {first.headers["i-twilio-idempotency-token"]}
        print(f"inbound webhook calls for one message: {len(calls)} (repeats: {len(calls) - 1})")

        def confirmed() -> bool:
            with _db(tmp_path) as conn:
                [(status,)] = conn.execute(
                    "SELECT status FROM messages WHERE direction = 'outbound-reply'"
                ).fetchall()
            return status == "delivered"

        eventually(confirmed, timeout=20)
        with _db(tmp_path) as conn:
            stored = conn.execute(
                "SELECT count(*) FROM messages WHERE direction = 'inbound'"
            ).fetchone()
            entries = conn.execute(
                "SELECT recipient, keyword, message_sid FROM opt_outs"
            ).fetchall()
            submitted = conn.execute(
                "SELECT count(*) FROM simulator_submissions WHERE recipient = ?", (HANDSET,)
            ).fetchone()
            webhook = conn.execute("SELECT state FROM inbound_webhooks").fetchall()
        assert stored == (1,)
        assert entries == [(HANDSET, "STOP", sid)]
        assert submitted == (1,)  # the confirmation, once
        assert webhook == [("done",)]
        assert node.stop() == 0
