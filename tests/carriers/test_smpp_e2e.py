"""Herald over SMPP, end to end: the official `twilio` client sends, Herald binds to a real
SMSC that Herald's code did not write (`tests/smpp_peer`, on the npm `smpp` package), and
what the SMSC records, answers and reports back is checked against Herald's messages,
callbacks and inbound webhooks."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from twilio.rest import Client

from herald.config import Settings
from herald.runtime import build
from tests.carriers.smpp_peer import SmppPeer
from tests.conftest import (
    BACKENDS,
    METRICS_TOKEN,
    Herald,
    _Postgres,
    _Server,
    database_url,
    eventually,
)
from tests.webhooks.receiver import Receiver, Reply

# What does not touch the database differently on PostgreSQL runs on SQLite only.
SQLITE_ONLY = pytest.mark.parametrize("herald", ["sqlite"], indirect=True)
_numbers = itertools.count(100)
_handsets = itertools.count(1000)
SAR_SENDER, PAYLOAD_SENDER, SPLIT_SENDER = "+14155550201", "+14155550202", "+14155550203"
NARROW_SENDER = "+14155550204"
FAST = (
    "reconnect_min_s = 0.1\nreconnect_max_s = 0.4\nresponse_timeout_s = 2\n"
    "multipart_receipt_wait_s = 1\nreassembly_timeout_s = 1\n"
)


def carriers_toml(port: int) -> str:
    def connection(name: str, system_id: str, password: str, extra: str = "") -> str:
        return (
            f'[[connections]]\nname = "{name}"\nhost = "127.0.0.1"\nport = {port}\n'
            f'system_id = "{system_id}"\npassword = "{password}"\nwindow = 20\n{FAST}{extra}\n'
        )

    return (
        connection("acme", "esme1", "pw123", 'price = "0.00500"\n')
        + connection("sar", "esme2", "pw2", 'long_messages = "sar"\n')
        + connection("pay", "esme3", "pw3", 'long_messages = "payload"\n')
        + connection("split", "esme4", "pw4", 'bind = "transmitter+receiver"\n')
        + connection("bad", "esme1", "wrong", 'failover = "acme"\ndown_after_failures = 2\n')
        + connection("narrow", "esme1", "pw123", "window = 1\n").replace("window = 20\n", "")
        + f'[[routes]]\nconnection = "sar"\nsenders = ["{SAR_SENDER}"]\n\n'
        + f'[[routes]]\nconnection = "pay"\nsenders = ["{PAYLOAD_SENDER}"]\n\n'
        + f'[[routes]]\nconnection = "split"\nsenders = ["{SPLIT_SENDER}"]\n\n'
        + f'[[routes]]\nconnection = "narrow"\nsenders = ["{NARROW_SENDER}"]\n\n'
        + '[[routes]]\nconnection = "bad"\ncountries = ["CA"]\n\n'
        + '[[routes]]\nconnection = "acme"\ncountries = ["US"]\n'
    )


@pytest.fixture(scope="module")
def peer() -> Iterator[SmppPeer]:
    with SmppPeer(accounts={"esme2": "pw2", "esme3": "pw3", "esme4": "pw4"}) as p:
        yield p


@pytest.fixture(scope="module", params=BACKENDS)
def herald(
    request: pytest.FixtureRequest,
    postgres: _Postgres | None,
    tmp_path_factory: pytest.TempPathFactory,
    peer: SmppPeer,
) -> Iterator[Herald]:
    tmp = tmp_path_factory.mktemp("smpp")
    carriers = tmp / "carriers.toml"
    carriers.write_text(carriers_toml(peer.port))
    settings = Settings(
        data_dir=tmp,
        database_url=database_url(request.param, postgres, tmp),
        simulator_latency="instant",
        metrics_token=METRICS_TOKEN,
        webhook_allow_private=True,
        carriers_file=carriers,
    )
    runtime = build(settings)
    server = _Server(runtime)
    base_url = server.start()
    peer.wait_for_sessions(6)  # acme, sar, pay, narrow, and split's two binds
    yield Herald(base_url=base_url, runtime=runtime, backend=request.param)
    server.stop()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as r:
        yield r


@pytest.fixture(autouse=True)
def default_mode(peer: SmppPeer) -> None:
    peer.reset_mode()


class Tenant:
    def __init__(self, herald: Herald, receiver: Receiver, sender: str | None = None) -> None:
        self.herald, self.receiver = herald, receiver
        self.account = herald.account()
        self.client: Client = herald.client(self.account)
        self.number = sender or f"+1415557{next(_numbers):04d}"
        self.pn_sid = self.client.incoming_phone_numbers.create(
            phone_number=self.number, sms_url=f"{receiver.url}/sms"
        ).sid

    def send(self, body: str, to: str | None = None, **extra: Any) -> Any:
        return self.client.messages.create(
            to=to or handset(),
            from_=self.number,
            body=body,
            status_callback=f"{self.receiver.url}/status",
            **extra,
        )

    def final(self, sid: str, timeout: float = 15.0) -> Any:
        def done() -> Any:
            message = self.client.messages(sid).fetch()
            return message if message.status in ("delivered", "undelivered", "failed") else None

        return eventually(done, timeout)


def handset() -> str:
    return f"+1212555{next(_handsets):04d}"


def records_to(peer: SmppPeer, to: str) -> list[dict[str, Any]]:
    return [r for r in peer.records() if r["destination_addr"] == to.removeprefix("+")]


def submits_within_half_a_second(herald: Herald) -> tuple[float, float]:
    """Submit batches answered within 0.5 s, and all of them (`herald_submit_seconds`)."""
    text = herald.metrics()
    quick = next(
        line
        for line in text.splitlines()
        if line.startswith('herald_submit_seconds_bucket{le="0.5"}')
    )
    count = next(
        line for line in text.splitlines() if line.startswith("herald_submit_seconds_count")
    )
    return float(quick.rsplit(" ", 1)[1]), float(count.rsplit(" ", 1)[1])


def metric(herald: Herald, name: str, connection: str) -> float:
    for line in herald.metrics().splitlines():
        if line.startswith(name + "{") and f'connection="{connection}"' in line:
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_gsm7_message_is_submitted_with_data_coding_0_and_delivered_with_callbacks(
    herald: Herald, peer: SmppPeer, receiver: Receiver
) -> None:
    t = Tenant(herald, receiver)
    message = t.send("Hello from Herald [over SMPP] ~ {ok}")
    final = t.final(message.sid)
    assert final.status == "delivered" and final.error_code is None
    assert final.price == "-0.00500"
    (record,) = records_to(peer, message.to)
    assert record["data_coding"] == 0 and record["registered_delivery"] == 1
    assert record["source_addr"] == t.number[1:] and record["source_addr_ton"] == 1
    assert record["udh"] is None and record["text"] == "Hello from Herald [over SMPP] ~ {ok}"
    statuses = [dict(r.form)["MessageStatus"] for r in receiver.wait_for(2, timeout=10)]
    assert statuses == ["sent", "delivered"]


def test_ucs2_and_multipart_messages_carry_their_coding_and_udh(
    herald: Herald, peer: SmppPeer, receiver: Receiver
) -> None:
    t = Tenant(herald, receiver)
    emoji = t.send("Grüße 👋 from Herald")
    long_text = "".join(f"{i:03d} word " for i in range(40))  # 360 GSM-7 characters: 3 parts
    long = t.send(long_text)
    assert t.final(emoji.sid).status == "delivered"
    assert t.final(long.sid).status == "delivered"
    (ucs2,) = records_to(peer, emoji.to)
    assert ucs2["data_coding"] == 8 and ucs2["text"] == "Grüße 👋 from Herald"
    parts = records_to(peer, long.to)
    assert [p["udh"]["seq"] for p in parts] == [1, 2, 3]
    assert {p["udh"]["total"] for p in parts} == {3} and len({p["udh"]["ref"] for p in parts}) == 1
    assert all(p["esm_class"] & 0x40 for p in parts)
    assert "".join(p["text"] for p in parts) == long_text


@SQLITE_ONLY
@pytest.mark.parametrize(("receipt_parts"), ["first", "last"])
def test_a_multipart_receipt_on_one_part_only_still_finishes_the_message(
    herald: Herald, peer: SmppPeer, receiver: Receiver, receipt_parts: str
) -> None:
    peer.set_mode(receipt_parts=receipt_parts)
    t = Tenant(herald, receiver)
    message = t.send("x" * 200)
    assert t.final(message.sid).status == "delivered"


@SQLITE_ONLY
def test_sar_and_message_payload_connections(
    herald: Herald, peer: SmppPeer, receiver: Receiver
) -> None:
    sar = Tenant(herald, receiver, SAR_SENDER)
    payload = Tenant(herald, receiver, PAYLOAD_SENDER)
    text = "y" * 170
    by_sar, by_payload = sar.send(text), payload.send(text)
    assert sar.final(by_sar.sid).status == "delivered"
    assert payload.final(by_payload.sid).status == "delivered"
    parts = records_to(peer, by_sar.to)
    assert [p["sar"]["seq"] for p in parts] == [1, 2] and all(p["udh"] is None for p in parts)
    (whole,) = records_to(peer, by_payload.to)
    assert bytes.fromhex(whole["message_payload_hex"]) == text.encode()


@SQLITE_ONLY
@pytest.mark.parametrize(
    ("stat", "err", "status", "code"),
    [
        ("UNDELIV", "000", "undelivered", 30003),
        ("UNDELIV", "001", "undelivered", 30005),  # MAP unknownSubscriber
        ("UNDELIV", "013", "undelivered", 30004),  # MAP callBarred
        ("EXPIRED", "000", "undelivered", 30003),
        ("REJECTD", "000", "undelivered", 30007),
        ("DELETED", "000", "undelivered", 30008),
        ("UNKNOWN", "000", "undelivered", 30008),
    ],
)
def test_each_receipt_kind_gives_its_status_code_and_callback(
    herald: Herald,
    peer: SmppPeer,
    receiver: Receiver,
    stat: str,
    err: str,
    status: str,
    code: int,
) -> None:
    t = Tenant(herald, receiver)
    to = handset()
    peer.set_mode(rules=[{"destination": to, "receipt": stat, "err": err}])
    message = t.final(t.send("receipt kinds", to=to).sid)
    assert (message.status, message.error_code) == (status, code)
    last = receiver.wait_for(2, timeout=10)[-1]
    assert dict(last.form)["MessageStatus"] == status
    assert dict(last.form)["ErrorCode"] == str(code)
    connection_health = (  # the connection's error mix, beside its senders'
        'herald_connection_outcomes_total{address="acme",connection="smpp:acme",'
        f'error_code="{code}",outcome="undelivered"}}'
    )
    assert connection_health in herald.metrics()


@SQLITE_ONLY
def test_no_receipt_leaves_the_message_sent(
    herald: Herald, peer: SmppPeer, receiver: Receiver
) -> None:
    peer.set_mode(receipt="none")
    t = Tenant(herald, receiver)
    sid = t.send("no receipt").sid
    eventually(lambda: t.client.messages(sid).fetch().status == "sent")


@SQLITE_ONLY
def test_a_refused_submit_fails_the_message_with_its_code(
    herald: Herald, peer: SmppPeer, receiver: Receiver
) -> None:
    peer.set_mode(refuse_status=0x0B)
    t = Tenant(herald, receiver)
    message = t.final(t.send("refused").sid)
    assert (message.status, message.error_code) == ("failed", 30005)


@SQLITE_ONLY
@pytest.mark.parametrize(
    "mode", [{"receipt_before_resp": True}, {"id_format": "hex", "receipt_id_format": "decimal"}]
)
def test_receipts_find_their_message_early_or_formatted_differently(
    herald: Herald, peer: SmppPeer, receiver: Receiver, mode: dict[str, Any]
) -> None:
    peer.set_mode(**mode)
    t = Tenant(herald, receiver)
    sids = [t.send(f"early {i}").sid for i in range(3)]
    assert [t.final(sid).status for sid in sids] == ["delivered"] * 3


def test_throttling_and_queue_full_back_off_and_lose_nothing(
    herald: Herald, peer: SmppPeer, receiver: Receiver
) -> None:
    before = metric(herald, "herald_smpp_pushback_total", "acme")
    peer.set_mode(throttle_next=2, queue_full_next=2, nack_next=1)
    senders = [Tenant(herald, receiver) for _ in range(5)]  # a long code sends 1 a second
    sent = [(t, t.send(f"pushed back {i}", to=handset())) for i, t in enumerate(senders)]
    assert [t.final(m.sid, timeout=20).status for t, m in sent] == ["delivered"] * 5
    statuses = [r["status"] for _, m in sent for r in records_to(peer, m.to)]
    assert statuses.count(0) == 5  # each accepted exactly once
    assert sorted(s for s in statuses if s) == [0x08, 0x14, 0x14, 0x58, 0x58]  # 0x08: the nack
    assert metric(herald, "herald_smpp_pushback_total", "acme") == before + 5


def test_inbound_single_concatenated_and_incomplete_reach_the_webhook(
    herald: Herald, peer: SmppPeer, receiver: Receiver
) -> None:
    receiver.always(Reply(headers=(("Content-Type", "text/xml"),), body=b"<Response/>"))
    t = Tenant(herald, receiver)
    phone = handset()
    single = peer.send_inbound(phone[1:], t.number[1:], "hello Herald", ton=1, npi=1)
    assert single["statuses"] == [0]
    long_text = "".join(f"part of a long reply {i} " for i in range(12))
    whole = peer.send_inbound(phone[1:], t.number[1:], long_text, parts=3, ton=1, npi=1)
    assert whole["statuses"] == [0, 0, 0]
    ucs2 = peer.send_inbound(phone[1:], t.number[1:], "Ça va? 😀", encoding="ucs2", ton=1, npi=1)
    assert ucs2["statuses"] == [0]
    partial = peer.send_inbound(
        phone[1:], t.number[1:], long_text, parts=3, omit_part=2, ton=1, npi=1, timeout_ms=8000
    )
    assert partial["statuses"][:2] != [None, None]
    hooks = [dict(r.form) for r in receiver.wait_for(4, timeout=15) if r.path == "/sms"]
    bodies = [h["Body"] for h in hooks]
    assert bodies[:3] == ["hello Herald", long_text, "Ça va? 😀"]
    assert all(h["From"] == phone and h["To"] == t.number for h in hooks)
    assert hooks[1]["NumSegments"] == "3"
    incomplete = t.client.messages.list(to=t.number, from_=phone, limit=10)
    assert any(m.error_code == 30009 for m in incomplete)


@SQLITE_ONLY
def test_inbound_to_a_number_that_is_not_herald_is_refused_to_the_smsc(
    herald: Herald, peer: SmppPeer
) -> None:
    answer = peer.send_inbound("12125550999", "19995550000", "who?", ton=1, npi=1)
    assert answer["statuses"] == [0x0B]


@SQLITE_ONLY
def test_a_batch_larger_than_the_window_waits_for_room_and_all_goes_out(
    herald: Herald, peer: SmppPeer, receiver: Receiver
) -> None:
    t = Tenant(herald, receiver, NARROW_SENDER)
    httpx.post(  # 50 segments a second: the five parts go in one submit batch
        herald.url(t.account, f"IncomingPhoneNumbers/{t.pn_sid}.json"),
        data={"Mps": "50"},
        auth=(t.account.sid, t.account.auth_token),  # type: ignore[attr-defined]
    ).raise_for_status()
    text = "".join(f"{i:03d} window " for i in range(60))  # 660 characters: 5 parts
    quick, batches = submits_within_half_a_second(herald)
    message = t.send(text)
    assert t.final(message.sid).status == "delivered"
    # Each PDU that fills the window is written before waiting for its answer: the batch
    # takes milliseconds, not a timer tick (0.5 s) per part.
    quick_after, batches_after = submits_within_half_a_second(herald)
    assert batches_after > batches and quick_after - quick == batches_after - batches
    parts = records_to(peer, message.to)
    assert [p["udh"]["seq"] for p in parts] == [1, 2, 3, 4, 5]
    assert all(p["status"] == 0 for p in parts)
    assert metric(herald, "herald_smpp_ambiguous_submits_total", "narrow") == 0


@SQLITE_ONLY
def test_transmitter_and_receiver_binds_carry_submits_and_receipts(
    herald: Herald, peer: SmppPeer, receiver: Receiver
) -> None:
    t = Tenant(herald, receiver, SPLIT_SENDER)
    assert t.final(t.send("two binds").sid).status == "delivered"
    kinds = {s["bind_type"] for s in peer.stats()["sessions"] if s["system_id"] == "esme4"}
    assert kinds == {"transmitter", "receiver"}


def test_a_wrong_password_is_retried_and_its_routes_fail_over(
    herald: Herald, peer: SmppPeer, receiver: Receiver
) -> None:
    eventually(lambda: metric(herald, "herald_smpp_down", "bad") == 1.0)
    assert metric(herald, "herald_smpp_bound", "bad") == 0.0
    assert metric(herald, "herald_smpp_bind_failures", "bad") >= 2
    t = Tenant(herald, receiver)
    vancouver = "+16045550123"
    message = t.final(t.send("to Vancouver via the failover", to=vancouver).sid)
    assert message.status == "delivered"
    assert records_to(peer, vancouver)[-1]["system_id"] == "esme1"  # acme's bind


# A 1×1 PNG.
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082"
)


@SQLITE_ONLY
def test_mms_to_an_smpp_route_fails_with_30011_or_goes_by_the_converter(
    herald: Herald, peer: SmppPeer, receiver: Receiver
) -> None:
    receiver.route("/cat.png", Reply(headers=(("Content-Type", "image/png"),), body=PNG))
    t = Tenant(herald, receiver)
    media = [f"{receiver.url}/cat.png"]
    direct = t.send("a picture", media_url=media)
    final = t.final(direct.sid)
    assert (final.status, final.error_code) == ("failed", 30011)
    assert records_to(peer, direct.to) == []

    service = t.client.messaging.v1.services.create(friendly_name="converts", mms_converter=True)
    number_sid = t.client.incoming_phone_numbers.list(phone_number=t.number)[0].sid
    t.client.messaging.v1.services(service.sid).phone_numbers.create(phone_number_sid=number_sid)
    to = handset()
    converted = t.client.messages.create(
        to=to, messaging_service_sid=service.sid, body="a picture", media_url=media
    )
    done = t.final(converted.sid)
    assert done.status == "delivered", (done.status, done.error_code)
    (record,) = records_to(peer, to)
    link = record["text"].split()[-1]
    assert record["text"].startswith("a picture") and "/m/" in link
    fetched = httpx.get(link.replace(link.split("/m/")[0], herald.base_url))
    assert fetched.status_code == 200 and fetched.content == PNG


def test_the_peer_restarting_mid_run_loses_nothing_and_counts_ambiguous_submits(
    herald: Herald, peer: SmppPeer, receiver: Receiver
) -> None:
    senders = [Tenant(herald, receiver) for _ in range(8)]  # each waits for its own answer
    before = metric(herald, "herald_smpp_ambiguous_submits_total", "acme")
    peer.set_mode(drop_resp_next=3)
    first = [(t, t.send(f"in doubt {i}", to=handset())) for i, t in enumerate(senders[:3])]
    eventually(lambda: sum(len(records_to(peer, m.to)) for _, m in first) >= 3)
    peer.restart(down_ms=300)
    later = [
        (t, t.send(f"during the restart {i}", to=handset())) for i, t in enumerate(senders[3:])
    ]
    finals = [t.final(m.sid, timeout=30).status for t, m in first + later]
    assert finals == ["delivered"] * 8
    assert metric(herald, "herald_smpp_ambiguous_submits_total", "acme") >= before + 3
    for _, m in first:  # the unanswered submit, then the one resent, accepted once
        assert [r["status"] for r in records_to(peer, m.to)] == [None, 0]
    for _, m in later:
        assert [r["status"] for r in records_to(peer, m.to)].count(0) == 1
    peer.wait_for_sessions(6)


@SQLITE_ONLY
def test_herald_carriers_lists_connections_with_their_live_state(
    herald: Herald, peer: SmppPeer, receiver: Receiver
) -> None:
    t = Tenant(herald, receiver)
    assert t.final(t.send("counted").sid).status == "delivered"
    carriers = herald.runtime.settings.carriers_file
    assert carriers is not None
    shown = subprocess.run(
        [sys.executable, "-m", "herald", "carriers", "--url", herald.base_url, "--json"],
        capture_output=True,
        text=True,
        timeout=30,
        env={
            "HERALD_CARRIERS_FILE": str(carriers),
            "HERALD_METRICS_TOKEN": METRICS_TOKEN,
            "PATH": "/usr/bin:/bin",
        },
        check=True,
    )
    listed = json.loads(shown.stdout.splitlines()[-1])
    states = {c["name"]: c["state"] for c in listed["connections"]}
    assert states["acme"] == "bound" and states["bad"] == "down"
    acme = next(c for c in listed["connections"] if c["name"] == "acme")
    assert 0 < acme["delivery_rate"] <= 1 and acme["window_in_use"] == 0
    assert listed["routes"][-1] == {"connection": "acme", "countries": ["US"], "senders": []}


def test_a_carriers_file_with_a_mistake_stops_serve_naming_the_key(tmp_path: Path) -> None:
    carriers = tmp_path / "carriers.toml"
    carriers.write_text('[[connections]]\nname = "x"\nhost = "h"\nport = 1\nsystem_id = "s"\n')
    shown = subprocess.run(
        [sys.executable, "-m", "herald", "--data-dir", str(tmp_path), "serve"],
        capture_output=True,
        text=True,
        timeout=30,
        env={"HERALD_CARRIERS_FILE": str(carriers), "PATH": "/usr/bin:/bin"},
    )
    assert shown.returncode == 2
    assert "connections[0].password: is required" in shown.stderr


def test_closing_unbinds_every_link(tmp_path: Path) -> None:
    with SmppPeer(accounts={"esme2": "pw2", "esme3": "pw3", "esme4": "pw4"}) as own:
        carriers = tmp_path / "carriers.toml"
        carriers.write_text(carriers_toml(own.port))
        runtime = build(Settings(data_dir=tmp_path, carriers_file=carriers))
        server = _Server(runtime)
        server.start()
        own.wait_for_sessions(6)
        server.stop()
        assert own.stats()["unbinds"] == 6
        assert own.stats()["sessions"] == []
