"""Three `herald serve` processes on one PostgreSQL database, started at once on an empty
one: 50 senders, thousands of messages accepted by all three, one node killed with
SIGKILL and restarted mid-run. Every message is delivered exactly once, no sender goes
over its MPS in any one-second window (both read from the simulator's own log), and
every callback owed arrives."""

from __future__ import annotations

import random
import threading
import time
from collections import defaultdict, deque
from pathlib import Path

import httpx
from sqlalchemy import Engine, text

from tests.nodes import Node, first_account, node_env
from tests.ports import free_port
from tests.webhooks.receiver import Receiver

SENDERS = [f"+1415202{n:04d}" for n in range(50)]
MPS = 10
MESSAGES = 3000
FINAL = ("delivered", "undelivered", "failed")


def busiest_second(log: list[tuple[str, int]]) -> int:
    """The most submissions any sender has in any one-second window (t − 1 s, t]."""
    by_sender: dict[str, list[int]] = defaultdict(list)
    for sender, at in log:
        by_sender[sender].append(at)
    worst = 0
    for times in by_sender.values():
        window: deque[int] = deque()
        for at in sorted(times):
            window.append(at)
            while window[0] <= at - 1_000_000:
                window.popleft()
            worst = max(worst, len(window))
    return worst


def _owned(node: Node) -> int:
    try:
        text_ = node.metrics().text
    except httpx.TransportError:
        return 0
    for line in text_.splitlines():
        if line.startswith("herald_owned_senders{"):
            return int(float(line.rsplit(" ", 1)[1]))
    return 0


def _send(node: Node, auth: tuple[str, str], hook: str, seed: int, into: list[str]) -> None:
    rng = random.Random(seed)
    with httpx.Client(base_url=node.url, auth=auth) as api:
        for n in range(MESSAGES // 3):
            form = {
                "To": f"+1{rng.choice(('415', '628'))}55501{n % 100:02d}",
                "From": rng.choice(SENDERS),
                "Body": f"node {seed} message {n}",
                "StatusCallback": hook,
            }
            try:
                response = api.post(f"/2010-04-01/Accounts/{auth[0]}/Messages.json", data=form)
            except httpx.TransportError:
                continue  # the node was killed: not accepted, and the client knows it
            if response.status_code == 201:
                into.append(response.json()["sid"])


def _received(receiver: Receiver) -> set[tuple[str, int]]:
    return {
        (dict(r.form)["MessageSid"], int(r.headers["x-herald-sequence"])) for r in receiver.requests
    }


_PROGRESS = text(
    "SELECT count(*) FILTER (WHERE status NOT IN ('delivered','undelivered','failed')), "
    "coalesce(sum(callback_sequence), 0) FROM messages"
)
_STUCK = text(
    "SELECT status, count(*) FROM messages "
    "WHERE status NOT IN ('delivered','undelivered','failed') GROUP BY status"
)
_LEASES = text("SELECT owner, count(*), min(expires_at) FROM sender_leases GROUP BY owner")


def _wait_until_done(engine: Engine, receiver: Receiver, timeout: float = 120.0) -> None:
    """Every message final and every callback owed received, or fail saying what is not."""
    deadline = time.monotonic() + timeout
    with engine.connect() as conn:
        while time.monotonic() < deadline:
            waiting, owed = conn.execute(_PROGRESS).one()
            conn.rollback()
            if waiting == 0 and len(_received(receiver)) >= owed:
                return
            time.sleep(0.3)
        stuck, leases = conn.execute(_STUCK).all(), conn.execute(_LEASES).all()
    raise AssertionError(f"not done: {stuck}; {len(_received(receiver))} callbacks; {leases}")


def test_three_nodes_one_killed_exactly_once_and_within_rates(
    empty_postgres: str, tmp_path: Path
) -> None:
    url = empty_postgres
    env = node_env(
        url,
        HERALD_CALLBACK_PROCESSES="0",
        HERALD_CALLBACK_TIMEOUT_S="2",
        HERALD_CALLBACK_BACKOFF_S="0.2",
    )
    nodes = []
    for i in range(3):
        (tmp_path / f"n{i}").mkdir()
        nodes.append(Node(tmp_path / f"n{i}", free_port(), env=env))
    for node in nodes:  # all at once: migrations and the first account under a lock
        node.start(wait=False)
    for node in nodes:
        node.wait_healthy()
    engine, account, token = first_account(url)
    accepted: list[str] = []
    try:
        with Receiver() as receiver:
            with httpx.Client(base_url=nodes[0].url, auth=(account, token)) as api:
                for number in SENDERS:
                    made = api.post(
                        f"/2010-04-01/Accounts/{account}/IncomingPhoneNumbers.json",
                        data={"PhoneNumber": number, "Mps": str(MPS)},
                    )
                    assert made.status_code == 201, made.text
            clients = [
                threading.Thread(
                    target=_send, args=(node, (account, token), receiver.url + "/cb", i, accepted)
                )
                for i, node in enumerate(nodes)
            ]
            for thread in clients:
                thread.start()
            time.sleep(2.5)
            owners = [_owned(node) for node in nodes]
            nodes[1].kill()
            time.sleep(1.0)
            nodes[1].start()
            for thread in clients:
                thread.join()
            _wait_until_done(engine, receiver)
            got = _received(receiver)
        with engine.connect() as conn:
            statuses = dict(conn.execute(text("SELECT sid, status FROM messages")).all())
            sequences = dict(
                conn.execute(text("SELECT sid, callback_sequence FROM messages")).all()
            )
            log = conn.execute(
                text(
                    "SELECT reference, message_sid, duplicate, sender, received_at "
                    "FROM simulator_submissions"
                )
            ).all()
    finally:
        for node in nodes:
            node.stop()
        engine.dispose()

    assert len(accepted) > MESSAGES / 2  # node 1's client loses what it sends while it is down
    assert sum(1 for o in owners if o > 0) >= 2, owners  # the senders were shared out
    assert [sid for sid in accepted if sid not in statuses] == []
    assert {sid: s for sid, s in statuses.items() if s not in FINAL} == {}
    # Exactly once: one logged submission per message (all single-segment), none a resend.
    references = [row[0] for row in log]
    assert len(references) == len(set(references)) and not any(row[2] for row in log)
    assert sorted(row[1] for row in log) == sorted(statuses)
    # No sender over its MPS in any one-second window (t − 1 s, t] of the carrier's log.
    assert busiest_second([(row[3], row[4]) for row in log]) <= MPS
    # Every callback owed arrived.
    owed = {(sid, n) for sid, count in sequences.items() for n in range(1, count + 1)}
    assert owed - got == set()
    assert "lease taken over from node" in "".join(node.log_tail(400) for node in nodes)


def test_api_only_and_dispatch_only_nodes(empty_postgres: str, tmp_path: Path) -> None:
    url = empty_postgres
    env = node_env(url)
    (tmp_path / "api").mkdir()
    (tmp_path / "dispatch").mkdir()
    api_node = Node(tmp_path / "api", free_port(), env=env, args=("--no-dispatch",)).start()
    engine, account, token = first_account(url)
    base = f"/2010-04-01/Accounts/{account}"
    dispatcher = Node(tmp_path / "dispatch", free_port(), env=env, args=("--no-api",))
    try:
        with httpx.Client(base_url=api_node.url, auth=(account, token)) as api:
            made = api.post(f"{base}/IncomingPhoneNumbers.json", data={"PhoneNumber": SENDERS[0]})
            assert made.status_code == 201, made.text
            form = {"To": "+14155550100", "From": SENDERS[0], "Body": "hi"}
            sid = api.post(f"{base}/Messages.json", data=form).json()["sid"]
            time.sleep(1.5)
            assert api.get(f"{base}/Messages/{sid}.json").json()["status"] == "queued"
            dispatcher.start()
            # The dispatch-only node serves no API, only its health and metrics.
            other = httpx.get(dispatcher.url + f"{base}/Messages/{sid}.json", auth=(account, token))
            assert other.status_code == 404
            assert dispatcher.metrics().status_code == 200
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline:
                status = api.get(f"{base}/Messages/{sid}.json").json()["status"]
                if status == "delivered":
                    break
                time.sleep(0.2)
            assert status == "delivered"
            assert 'herald_owned_senders{node="' in dispatcher.metrics().text
    finally:
        dispatcher.stop()
        api_node.stop()
        engine.dispose()
