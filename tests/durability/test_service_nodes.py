"""Messaging Service sends across nodes on one PostgreSQL database: two full nodes and an
API-only one accept sends and scheduled sends through one service. Every message is
routed once and submitted once, whichever node routes it or holds its sender's lease; a
scheduled message goes at its time; and each recipient keeps one sender (Sticky Sender)."""

from __future__ import annotations

import threading
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from sqlalchemy import Engine, text

from tests.conftest import eventually
from tests.nodes import Node, first_account, node_env
from tests.ports import free_port

SENDERS = [f"+1303555{n:04d}" for n in range(20)]
RECIPIENTS = [f"+1617555{n:04d}" for n in range(40)]
PER_RECIPIENT = 8
FINAL = ("delivered", "undelivered", "failed")


def _start(tmp_path: Path, url: str) -> list[Node]:
    env = node_env(url, HERALD_CALLBACK_PROCESSES="0", HERALD_SCHEDULE_MIN_S="1")
    roles: list[tuple[str, ...]] = [(), (), ("--no-dispatch",)]
    nodes = []
    for i, args in enumerate(roles):
        (tmp_path / f"n{i}").mkdir()
        nodes.append(Node(tmp_path / f"n{i}", free_port(), env=env, args=args))
    for node in nodes:
        node.start(wait=False)
    for node in nodes:
        node.wait_healthy()
    return nodes


def _service(api: httpx.Client, base: str) -> str:
    """A service with every sender in its pool, and one message to each recipient sent
    through it (which makes the recipient's mapping)."""
    service: str = api.post("/v1/Services", data={"FriendlyName": "nodes"}).json()["sid"]
    for number in SENDERS:
        made = api.post(
            f"{base}/IncomingPhoneNumbers.json", data={"PhoneNumber": number, "Mps": "10"}
        )
        added = api.post(
            f"/v1/Services/{service}/PhoneNumbers", data={"PhoneNumberSid": made.json()["sid"]}
        )
        assert added.status_code == 201, added.text
    for to in RECIPIENTS:
        form = {"To": to, "MessagingServiceSid": service, "Body": "first"}
        assert api.post(f"{base}/Messages.json", data=form).status_code == 201
    return service


def _send(
    node: Node, auth: tuple[str, str], service: str, offset: int, due: str, into: list[str]
) -> None:
    """Each of a third of the recipients gets PER_RECIPIENT messages, the first scheduled."""
    with httpx.Client(base_url=node.url, auth=auth) as client:
        for n in range(PER_RECIPIENT):
            for to in RECIPIENTS[offset::3]:
                form = {"To": to, "MessagingServiceSid": service, "Body": f"m{n}"}
                if n == 0:
                    form.update(ScheduleType="fixed", SendAt=due)
                made = client.post(f"/2010-04-01/Accounts/{auth[0]}/Messages.json", data=form)
                assert made.status_code == 201, made.text
                into.append(made.json()["sid"])


def test_service_sends_across_nodes(empty_postgres: str, tmp_path: Path) -> None:
    url = empty_postgres
    nodes = _start(tmp_path, url)
    engine, account, token = first_account(url)
    accepted: list[str] = []
    try:
        with httpx.Client(base_url=nodes[0].url, auth=(account, token)) as api:
            service = _service(api, f"/2010-04-01/Accounts/{account}")
        eventually(lambda: _scalar(engine, _MAPPED, n=len(RECIPIENTS)), timeout=30)
        due = (datetime.now(UTC) + timedelta(seconds=3)).strftime("%Y-%m-%dT%H:%M:%SZ")
        threads = [
            threading.Thread(target=_send, args=(n, (account, token), service, i, due, accepted))
            for i, n in enumerate(nodes)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        eventually(lambda: _scalar(engine, _WAITING) == 0, timeout=90)
        with engine.connect() as conn:
            rows = conn.execute(
                text("SELECT sid, status, from_number, to_number, date_sent, send_at FROM messages")
            ).all()
            log = conn.execute(
                text("SELECT reference, message_sid FROM simulator_submissions")
            ).all()
    finally:
        for node in nodes:
            node.stop()
        engine.dispose()

    assert len(accepted) == len(RECIPIENTS) * PER_RECIPIENT
    assert {row.status for row in rows} <= set(FINAL)
    # Routed once, submitted once: one logged submission per message.
    assert sorted(sid for _, sid in log) == sorted(row.sid for row in rows)
    assert len({ref for ref, _ in log}) == len(log)
    # Scheduled messages went at their time, not before.
    scheduled = [row for row in rows if row.send_at is not None]
    assert len(scheduled) == len(RECIPIENTS)
    assert all(row.date_sent >= row.send_at for row in scheduled)
    # Sticky Sender: one sender per recipient.
    senders: dict[str, set[str]] = defaultdict(set)
    for row in rows:
        senders[row.to_number].add(row.from_number)
    assert {to: s for to, s in senders.items() if len(s) != 1} == {}


_MAPPED = "SELECT count(*) = :n FROM sticky_mappings"
_WAITING = "SELECT count(*) FROM messages WHERE status NOT IN ('delivered','undelivered','failed')"


def _scalar(engine: Engine, sql: str, **params: object) -> object:
    with engine.connect() as conn:
        return conn.execute(text(sql), params).scalar()
