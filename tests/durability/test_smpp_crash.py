"""kill -9 with SMPP submits in doubt: two submit_sm the SMSC never answered, and a third
it accepted whose receipt comes only after the restart. The restarted node counts the
two as ambiguous and submits them again (the default), the SMSC accepts each once, and
the late receipt finds its message by the id recorded before the crash."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import httpx

from tests.carriers.smpp_peer import SmppPeer
from tests.conftest import METRICS_AUTH, METRICS_TOKEN, eventually
from tests.nodes import Node, credentials
from tests.ports import free_port

NUMBER, OTHER, THIRD = "+14155207101", "+14155207102", "+14155207103"
IN_DOUBT = ("+12125550141", "+12125550142")
LATE = "+12125550143"


def _statuses(workdir: Path) -> dict[str, str]:
    with sqlite3.connect(workdir / "var" / "herald.db", timeout=30) as conn:
        return dict(conn.execute("SELECT to_number, status FROM messages").fetchall())


def _ambiguous(node: Node) -> float:
    text = httpx.get(f"{node.url}/metrics", headers=METRICS_AUTH).text
    for line in text.splitlines():
        if line.startswith('herald_smpp_ambiguous_submits_total{connection="acme"}'):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_kill_9_with_submits_unanswered_and_a_receipt_still_to_come(tmp_path: Path) -> None:
    with SmppPeer() as peer:
        carriers = tmp_path / "carriers.toml"
        carriers.write_text(
            f'[[connections]]\nname = "acme"\nhost = "127.0.0.1"\nport = {peer.port}\n'
            'system_id = "esme1"\npassword = "pw123"\nresponse_timeout_s = 60\n'
            'reconnect_min_s = 0.1\n\n[[routes]]\nconnection = "acme"\ncountries = ["US"]\n'
        )
        env = {"HERALD_CARRIERS_FILE": str(carriers), "HERALD_METRICS_TOKEN": METRICS_TOKEN}
        node = Node(tmp_path, free_port(), env=env).start()
        peer.wait_for_sessions(1)
        account, token = credentials(tmp_path)
        with httpx.Client(base_url=node.url, auth=(account, token)) as api:
            base = f"/2010-04-01/Accounts/{account}"
            for number in (NUMBER, OTHER, THIRD):
                made = api.post(f"{base}/IncomingPhoneNumbers.json", data={"PhoneNumber": number})
                assert made.status_code == 201, made.text
            peer.set_mode(receipt_delay_ms=4000)
            late = api.post(f"{base}/Messages.json", data={"To": LATE, "From": NUMBER, "Body": "x"})
            assert late.status_code == 201, late.text
            eventually(lambda: _statuses(tmp_path).get(LATE) == "sent", timeout=10)
            peer.set_mode(drop_resp_next=2)
            for to, sender in zip(IN_DOUBT, (OTHER, THIRD), strict=True):  # a sender waits
                sent = api.post(
                    f"{base}/Messages.json", data={"To": to, "From": sender, "Body": to}
                )
                assert sent.status_code == 201, sent.text  # for its answer: one each
        peer.wait_for_records(3, timeout=15)
        node.kill()
        assert [_statuses(tmp_path)[to] for to in IN_DOUBT] == ["sending", "sending"]

        peer.set_mode(drop_resp_next=0, receipt_delay_ms=0)
        node.start()
        eventually(lambda: set(_statuses(tmp_path).values()) == {"delivered"}, timeout=30)
        assert _ambiguous(node) == 2.0
        records = peer.records()
        for to in IN_DOUBT:
            answers = [r["status"] for r in records if r["destination_addr"] == to[1:]]
            assert answers == [None, 0]  # the unanswered submit, then the one resent
        assert len([r for r in records if r["destination_addr"] == LATE[1:]]) == 1
        node.stop()
