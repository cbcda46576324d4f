"""kill -9 on a real `herald serve`, again and again at random points (while it accepts,
while it submits, while it delivers callbacks), then a restart: nothing accepted is lost,
nothing reaches a handset twice, nothing is stuck, and every callback owed arrives
(at least once, a repeat carrying the same `X-Herald-Sequence` and body)."""

from __future__ import annotations

import random
import sqlite3
import threading
import time
from collections import defaultdict
from pathlib import Path

import httpx

from tests.nodes import Node, credentials
from tests.ports import free_port
from tests.webhooks.receiver import Received, Receiver

ROUNDS = 6
SENDERS = [f"+1415201{n:04d}" for n in range(5)]
BODIES = ("Your code is {n}.", "Reminder {n}: " + "a long message that takes two segments " * 4)
FINAL = ("delivered", "undelivered", "failed")


def _send_until(
    stop: threading.Event, api: httpx.Client, path: str, hook: str, into: list[str]
) -> None:
    n = 0
    while not stop.is_set():
        n += 1
        form = {
            "To": f"+1{random.choice(('415', '628', '212'))}55501{n % 100:02d}",
            "From": random.choice(SENDERS),
            "Body": random.choice(BODIES).format(n=n),
            "StatusCallback": hook,
        }
        try:
            response = api.post(path, data=form, timeout=5)
        except httpx.TransportError:
            time.sleep(0.05)  # killed: not accepted, and the client knows it
            continue
        if response.status_code == 201:
            into.append(response.json()["sid"])
        else:
            assert response.status_code in (429, 503), response.text


def _db(workdir: Path) -> sqlite3.Connection:
    return sqlite3.connect(workdir / "var" / "herald.db", timeout=30)


def test_kill_9_at_random_points_loses_nothing_and_sends_nothing_twice(tmp_path: Path) -> None:
    rng = random.Random(20261122)
    env = {
        "HERALD_SIMULATOR_LATENCY": "instant",
        "HERALD_SIMULATOR_SEED": "3",
        "HERALD_CALLBACK_TIMEOUT_S": "2",
        "HERALD_CALLBACK_BACKOFF_S": "0.2",
        "HERALD_WEBHOOK_ALLOW_PRIVATE": "true",  # the receiver listens on 127.0.0.1
    }
    with Receiver() as receiver:
        node = Node(tmp_path, free_port(), env=env).start()
        account, token = credentials(tmp_path)
        base = f"/2010-04-01/Accounts/{account}"
        with httpx.Client(base_url=node.url, auth=(account, token)) as api:
            for number in SENDERS:  # 5 × 40 segments a second: a backlog builds up
                made = api.post(
                    f"{base}/IncomingPhoneNumbers.json", data={"PhoneNumber": number, "Mps": "40"}
                )
                assert made.status_code == 201, made.text
        accepted: list[str] = []
        phases = []
        for _ in range(ROUNDS):
            phase = rng.choice(("accepting", "submitting", "delivering callbacks"))
            phases.append(phase)
            stop = threading.Event()
            with httpx.Client(base_url=node.url, auth=(account, token)) as api:
                sender = threading.Thread(
                    target=_send_until,
                    args=(stop, api, f"{base}/Messages.json", receiver.url + "/cb", accepted),
                )
                sender.start()
                time.sleep(rng.uniform(0.3, 1.2))
                if phase != "accepting":
                    stop.set()  # the queue drains (submitting), then callbacks go out
                    time.sleep(rng.uniform(0.05, 0.4) if phase == "submitting" else 1.0)
                node.kill()
                stop.set()
                sender.join()
            node.start()

        # The last run finishes everything the earlier ones left.
        with _db(tmp_path) as conn:
            deadline = time.monotonic() + 90
            while time.monotonic() < deadline:
                waiting = conn.execute(
                    "SELECT count(*) FROM messages WHERE status NOT IN (?, ?, ?)", FINAL
                ).fetchone()[0]
                owed = conn.execute(
                    "SELECT coalesce(sum(callback_sequence), 0) FROM messages"
                ).fetchone()[0]
                if (
                    waiting == 0
                    and len(
                        {
                            (r.target, r.headers["x-herald-sequence"], _sid(r))
                            for r in receiver.requests
                        }
                    )
                    >= owed
                ):
                    break
                time.sleep(0.2)
            assert node.stop() == 0, node.log_tail()

            statuses = dict(conn.execute("SELECT sid, status FROM messages").fetchall())
            log_rows = conn.execute(
                "SELECT reference, message_sid, duplicate FROM simulator_submissions"
            ).fetchall()
            sequences = dict(conn.execute("SELECT sid, callback_sequence FROM messages").fetchall())

    assert len(accepted) > 200, phases  # the test did put load on every run
    # Nothing accepted is lost; nothing is stuck.
    missing = [sid for sid in accepted if sid not in statuses]
    assert missing == []
    stuck = {sid: s for sid, s in statuses.items() if s not in FINAL}
    assert stuck == {}, phases
    # Nothing reached a handset twice: each segment was logged once, none as a resend.
    references = [row[0] for row in log_rows]
    assert len(references) == len(set(references))
    assert not any(row[2] for row in log_rows)
    assert {row[1] for row in log_rows} == {s for s, st in statuses.items() if st != "failed"}
    # Every callback owed arrived, in order per message; repeats are identical.
    seen: dict[tuple[str, str], set[bytes]] = defaultdict(set)
    order: dict[str, list[int]] = defaultdict(list)
    for request in receiver.requests:
        sequence = request.headers["x-herald-sequence"]
        seen[_sid(request), sequence].add(request.body)
        order[_sid(request)].append(int(sequence))
    for sid, owed in sequences.items():
        for sequence in range(1, owed + 1):
            assert (sid, str(sequence)) in seen, (sid, sequence, phases)
    assert all(len(bodies) == 1 for bodies in seen.values())
    for sid, arrived in order.items():
        firsts = list(dict.fromkeys(arrived))
        assert firsts == sorted(firsts), (sid, arrived)


def _sid(request: Received) -> str:
    return dict(request.form)["MessageSid"]
