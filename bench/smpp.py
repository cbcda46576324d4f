"""SMPP benchmark: how fast Herald drains queued messages over SMPP to a real SMSC, with a
delivery receipt per message and status callbacks, over one submitting bind and over two.

    .venv/bin/python bench/smpp.py [--messages 10000] [--binds 1|2|both] [--window 100]
                                   [--senders 100] [--mps 1000] [--repeat 1]
                                   [--profile OUT.prof | --sample OUT.txt]

The SMSC is tests/smpp_peer (Node.js, the npm `smpp` package; `make test` or `npm ci
--prefix tests/smpp_peer` installs it), one fresh process per run, counting only
(`keep_records=false`), answering every submit_sm and sending a DELIVRD receipt for each.
Each run starts `herald serve` on a fresh data directory, registers the senders through
the API, stops it, bulk-inserts N `queued` one-segment messages into SQLite (each with a
`StatusCallback`, as bench/dispatch.py does) and starts Herald again with a carriers file
that routes every US message to SMPP: one connection (one transceiver bind), or two
connections with different system_ids, each taking half the senders (two binds). A
receiver in its own process (this file with `--serve-receiver`) answers every callback 200
and counts them, `delivered` ones apart. It measures submit_sm/s (from the first segment
the SMSC accepted to the last, by the ids Herald recorded in `smpp_submits`), `delivered`
callbacks/s, the time until every message is final, Herald's CPU per message, the SMSC's
CPU, Herald's peak RSS, and sent → delivered latency from the messages' dates, and sets
them beside Kannel 1.4.5's on this machine (issue 13: end to end through a Node.js SMSC
simulator, with receipts). `--profile` runs Herald under cProfile, `--sample` under a
light stack sampler that sorts its CPU by what it was doing. The last line is one JSON
object. Everything talks to 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
sys.path.insert(0, str(BENCH_DIR))
sys.path.insert(1, str(REPO))

import dispatch  # noqa: E402  (bench/dispatch.py: processes, /proc, set-up helpers)

from herald.domain.encoding import encode_body  # noqa: E402
from herald.domain.sids import Prefix, format_sid  # noqa: E402
from tests.carriers.smpp_peer import SmppPeer  # noqa: E402

PYTHON = Path(sys.executable)
POLL_S = 0.2
SAMPLE_S = 0.002
REPORT_S = 10.0
FINAL = dispatch.FINAL
ACCOUNTS = (("esme1", "pw123"), ("esme2", "pw2"))  # one per submitting bind
KANNEL = {"msgs_per_s": 4100.0, "callbacks_per_s": 3600.0, "cpu_ms_per_msg": 0.41}

# One-segment bodies, by (weight, template): GSM-7 and UCS-2, so that one message is one
# submit_sm, one receipt and two callbacks (`sent`, `delivered`).
BODIES = (
    (90, "Your Herald code is {n:08d}. It expires in 10 minutes; do not share it. Reply "
         "STOP to opt out."),
    (10, "Ваш код Herald: {n:08d}. Никому его не сообщайте."),
)  # fmt: skip


@dataclass(frozen=True)
class Options:
    messages: int
    binds: tuple[int, ...]
    window: int
    senders: int
    mps: int
    repeat: int
    herald_sync: str
    callback_processes: int
    stall_timeout: float
    profile: Path | None
    sample: Path | None
    keep: bool
    seed: int


@dataclass
class Run:
    """What was measured while Herald drained the queue over SMPP."""

    binds: int
    round: int
    spawned_us: int = 0
    # (wall µs, CPU s of Herald and its helper, CPU s of its main thread: the event loop)
    cpu_samples: list[tuple[int, float, float]] = field(default_factory=list)
    herald_cpu_s: float = 0.0  # the server and its callback helper processes
    helper_cpu_s: float = 0.0
    peer_cpu_s: float = 0.0
    receiver_cpu_s: float = 0.0
    machine_cpu_s: float = 0.0  # busy CPU of everything but Herald, the SMSC, the receiver, us
    wall_s: float = 0.0
    peak_rss_mb: float = 0.0
    receiver: dict[str, int] = field(default_factory=dict)
    peer: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    stalled: bool = False
    exit_code: int | None = None


# --- the callback receiver (its own process) ---------------------------------------------


class _Tally:
    count = 0
    delivered = 0
    first_us = 0
    last_us = 0
    delivered_last_us = 0
    duplicates = 0
    tokens: set[bytes] = set()  # noqa: RUF012 (one receiver per process)

    @classmethod
    def record(cls, token: bytes | None, body: bytes) -> None:
        now = time.time_ns() // 1000
        cls.count += 1
        cls.first_us = cls.first_us or now
        cls.last_us = now
        if b"MessageStatus=delivered" in body:
            cls.delivered += 1
            cls.delivered_last_us = now
        if token is not None:
            cls.duplicates += token in cls.tokens
            cls.tokens.add(token)

    @classmethod
    def as_json(cls) -> bytes:
        names = ("count", "delivered", "first_us", "last_us", "delivered_last_us", "duplicates")
        return json.dumps({name: getattr(cls, name) for name in names}).encode()


class _Hook(asyncio.Protocol):
    """HTTP/1.1 with keep-alive and Content-Length bodies: all a callback needs."""

    def __init__(self) -> None:
        self._buffer = b""
        self._transport: asyncio.WriteTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]  # uvloop's is no subclass

    def data_received(self, data: bytes) -> None:
        buffer, replies = self._buffer + data, []
        while (end := buffer.find(b"\r\n\r\n")) >= 0:
            head = buffer[:end]
            lower = head.lower()
            length = int(dispatch._header(head, lower, b"content-length") or 0)
            if len(buffer) < end + 4 + length:
                break
            body, buffer = buffer[end + 4 : end + 4 + length], buffer[end + 4 + length :]
            if head.startswith(b"GET /count"):
                answer = _Tally.as_json()
                replies.append(
                    b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n\r\n%s" % (len(answer), answer)
                )
            else:
                _Tally.record(dispatch._header(head, lower, b"i-twilio-idempotency-token"), body)
                replies.append(dispatch._OK)
        self._buffer = buffer
        if replies and self._transport is not None:
            self._transport.write(b"".join(replies))


@contextlib.contextmanager
def receiver_running() -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    argv = [str(PYTHON), str(Path(__file__).resolve()), "--serve-receiver"]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, cwd=REPO)
    try:
        assert proc.stdout is not None
        port = int(proc.stdout.readline())
        yield proc, f"http://127.0.0.1:{port}"
    finally:
        dispatch.stop_process(proc, 10)


# --- set-up ------------------------------------------------------------------------------


def herald_env(opts: Options, data_dir: Path, carriers: Path | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HERALD_")}
    env.update(
        HERALD_DATA_DIR=str(data_dir),
        HERALD_LOG_LEVEL="WARNING",
        HERALD_SIMULATOR_LATENCY="instant",
        HERALD_SQLITE_SYNCHRONOUS=opts.herald_sync,
        HERALD_CALLBACK_PROCESSES=str(opts.callback_processes),
        HERALD_METRICS_TOKEN=dispatch.METRICS_TOKEN,
        HERALD_WEBHOOK_ALLOW_PRIVATE="true",  # the receiver listens on 127.0.0.1
    )
    if carriers is not None:
        env["HERALD_CARRIERS_FILE"] = str(carriers)
    return env


def spawn_herald(
    env: dict[str, str], data_dir: Path, port: int, wrapper: list[str] | None = None
) -> subprocess.Popen[bytes]:
    """`herald serve`, or this file running it under a profiler (`wrapper`: its flag and
    output path)."""
    argv = [str(PYTHON), "-m", "herald", "serve", "--port", str(port)]
    if wrapper:
        argv = [str(PYTHON), str(Path(__file__).resolve()), *wrapper]
        argv += ["--", "serve", "--port", str(port)]
    with (data_dir / "server.log").open("ab") as log:
        return subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=REPO)


def sender_addresses(count: int) -> list[str]:
    return [f"+1415201{i:04d}" for i in range(count)]


def register_senders(opts: Options, port: int, data_dir: Path) -> tuple[str, list[dispatch.Sender]]:
    """Long codes with an `Mps` override, through the API."""
    account_sid, token = dispatch.read_credentials(data_dir / "credentials.env")
    base = f"http://127.0.0.1:{port}" + dispatch.API.format(sid=account_sid)
    senders = []
    with httpx.Client(auth=(account_sid, token), timeout=10) as client:
        for address in sender_addresses(opts.senders):
            form = {"PhoneNumber": address, "Mps": str(opts.mps)}
            response = client.post(f"{base}/IncomingPhoneNumbers.json", data=form)
            if response.status_code != 201:
                raise SystemExit(f"registering {address}: {response.status_code} {response.text}")
            senders.append(dispatch.Sender(response.json()["sid"], address, "long-code"))
    return account_sid, senders


def message_rows(
    opts: Options, account_sid: str, senders: list[dispatch.Sender], callback_url: str
) -> Iterator[dict[str, Any]]:
    rng = random.Random(opts.seed)
    recipients, _ = dispatch.recipients(rng)
    weights, templates = zip(*BODIES, strict=True)
    created = dispatch.now_us()
    for n in range(opts.messages):
        sender = senders[n % len(senders)]
        body = rng.choices(templates, weights)[0].format(n=n)
        encoded = encode_body(body, smart=False)
        yield {
            "sid": format_sid(Prefix.MESSAGE, rng.randbytes(16)),
            "account_sid": account_sid,
            "direction": "outbound-api",
            "from_number": sender.address,
            "to_number": recipients[n % len(recipients)],
            "sender_sid": sender.sid,
            "body": body,
            "status": "queued",
            "encoding": encoded.encoding.value,
            "num_segments": encoded.num_segments,
            "num_media": 0,
            "price_unit": "USD",
            "status_callback": callback_url,
            "provide_feedback": 0,
            "callback_sequence": 0,
            "date_created": created,
            "date_updated": created,
        }


def carriers_toml(opts: Options, binds: int, peer_port: int) -> str:
    """One connection per submitting bind; with two, each takes half the senders."""
    addresses = sender_addresses(opts.senders)
    text = ""
    for i, (system_id, password) in enumerate(ACCOUNTS[:binds]):
        text += (
            f'[[connections]]\nname = "smsc{i + 1}"\nhost = "127.0.0.1"\nport = {peer_port}\n'
            f'system_id = "{system_id}"\npassword = "{password}"\nwindow = {opts.window}\n\n'
        )
    for i in range(binds):
        share = addresses[i::binds] if binds > 1 else []
        senders = f"senders = {json.dumps(share)}\n" if share else ""
        text += f'[[routes]]\nconnection = "smsc{i + 1}"\ncountries = ["US"]\n{senders}\n'
    return text


def prepare(opts: Options, data_dir: Path, callback_url: str) -> int:
    """Register the senders (Herald running, no carriers file), then queue the messages
    (Herald stopped)."""
    port = dispatch.free_port()
    proc = spawn_herald(herald_env(opts, data_dir, None), data_dir, port)
    try:
        dispatch.wait_healthy(proc, port, data_dir)
        account_sid, senders = register_senders(opts, port, data_dir)
    finally:
        dispatch.stop_process(proc)
    rows = message_rows(opts, account_sid, senders, callback_url)
    messages, segments = dispatch.insert_messages(data_dir / "herald.db", rows)
    if segments != messages:
        raise SystemExit(f"{segments} segments for {messages} messages: bodies must be one each")
    return messages


# --- the measured run ------------------------------------------------------------------


def receiver_tally(url: str) -> dict[str, int]:
    tally: dict[str, int] = httpx.get(f"{url}/count", timeout=5).json()
    return tally


def progress(started: float, run: Run) -> None:
    print(
        f"  {time.monotonic() - started:5.0f} s: SMSC {run.peer.get('submits', 0):,} submits, "
        f"{run.peer.get('receipts_sent', 0):,} receipts; {run.receiver.get('count', 0):,} "
        f"callbacks ({run.receiver.get('delivered', 0):,} delivered)",
        flush=True,
    )


def finished(run: Run, messages: int) -> bool:
    return run.receiver.get("count", 0) >= 2 * messages


def watch(opts: Options, run: Run, proc: subprocess.Popen[bytes], peer: SmppPeer, url: str) -> None:
    """Sample until every callback arrived or nothing moved for `stall_timeout`."""
    started = time.monotonic()
    last, moved_at, next_report = (-1, -1), started, started + REPORT_S
    while proc.poll() is None:
        time.sleep(POLL_S)
        run.cpu_samples.append(
            (dispatch.now_us(), dispatch.tree_cpu_seconds(proc.pid), main_thread_cpu(proc.pid))
        )
        run.receiver = receiver_tally(url)
        run.peer = peer.stats()
        if finished(run, opts.messages):
            return
        now, seen = time.monotonic(), (run.receiver["count"], run.peer.get("submits", 0))
        if seen != last:
            last, moved_at = seen, now
        elif now - moved_at > opts.stall_timeout:
            run.stalled = True
            return
        if now >= next_report:
            next_report += REPORT_S
            progress(started, run)


def main_thread_cpu(pid: int) -> float:
    """User + system CPU of the process's main thread (Herald's event loop)."""
    try:
        text = Path(f"/proc/{pid}/task/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = text.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / dispatch.CLK_TCK


def peer_pid(peer: SmppPeer) -> int:
    process = peer._process  # the test helper keeps its child private
    assert process is not None
    return process.pid


def drain(opts: Options, run: Run, data_dir: Path, receiver: tuple[int, str]) -> None:
    """Start Herald with the carriers file on the queued messages, against a fresh SMSC."""
    receiver_pid, url = receiver
    accounts = dict(ACCOUNTS[1 : run.binds])
    with SmppPeer(*ACCOUNTS[0], accounts=accounts) as peer:
        peer.set_mode(keep_records=False)
        carriers = data_dir / "carriers.toml"
        carriers.write_text(carriers_toml(opts, run.binds, peer.port))
        port = dispatch.free_port()
        (busy_before, _), started = dispatch.machine_seconds(), time.monotonic()
        own_before, receiver_before = dispatch.own_cpu_seconds(), dispatch.cpu_seconds(receiver_pid)
        peer_before = dispatch.cpu_seconds(peer_pid(peer))
        run.spawned_us = dispatch.now_us()
        env = herald_env(opts, data_dir, carriers)
        proc = spawn_herald(env, data_dir, port, profiler_flags(opts, run))
        try:
            watch(opts, run, proc, peer, url)
            run.wall_s = time.monotonic() - started
            if proc.poll() is None:
                run.herald_cpu_s = dispatch.tree_cpu_seconds(proc.pid)
                run.helper_cpu_s = run.herald_cpu_s - dispatch.cpu_seconds(proc.pid)
                run.peak_rss_mb = dispatch.tree_peak_rss_mb(proc.pid)
                run.metrics = dispatch.herald_metrics(port)
            run.peer_cpu_s = dispatch.cpu_seconds(peer_pid(peer)) - peer_before
            run.peer = peer.stats()
            run.receiver_cpu_s = dispatch.cpu_seconds(receiver_pid) - receiver_before
            busy, _ = dispatch.machine_seconds()
            others = run.herald_cpu_s + run.peer_cpu_s + run.receiver_cpu_s
            own = dispatch.own_cpu_seconds() - own_before
            run.machine_cpu_s = busy - busy_before - others - own
        finally:
            run.exit_code = dispatch.stop_process(proc)
    if run.exit_code not in (0, -signal.SIGTERM):
        sys.stderr.write(dispatch.log_tail(data_dir))


def output_path(base: Path | None, opts: Options, run: Run) -> Path | None:
    """OUT.prof for a single run, else OUT-binds1-round1.prof and so on."""
    if base is None or len(opts.binds) * opts.repeat == 1:
        return base
    return base.with_name(f"{base.stem}-binds{run.binds}-round{run.round}{base.suffix}")


def profiler_flags(opts: Options, run: Run) -> list[str]:
    if (profile := output_path(opts.profile, opts, run)) is not None:
        return ["--profiled-herald", str(profile)]
    if (sample := output_path(opts.sample, opts, run)) is not None:
        return ["--sampled-herald", str(sample)]
    return []


# --- analysis of the database ------------------------------------------------------------


@dataclass
class Outcome:
    statuses: dict[str, int]
    callback_states: dict[str, int]
    accepted_parts: int
    first_accepted_us: int
    last_accepted_us: int
    last_final_us: int
    latencies_ms: list[float]


def analyse(db_path: Path) -> Outcome:
    with contextlib.closing(sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)) as conn:
        statuses = dict(conn.execute("SELECT status, count(*) FROM messages GROUP BY status"))
        states = dict(conn.execute("SELECT state, count(*) FROM callbacks GROUP BY state"))
        parts, first, last = conn.execute(
            "SELECT count(*), min(submitted_at), max(submitted_at) FROM smpp_submits"
        ).fetchone()
        (last_final,) = conn.execute(
            "SELECT max(date_updated) FROM messages WHERE status IN (?, ?, ?)", FINAL
        ).fetchone()
        latencies = sorted(
            (updated - sent) / 1000
            for sent, updated in conn.execute(
                "SELECT date_sent, date_updated FROM messages "
                "WHERE status = 'delivered' AND date_sent IS NOT NULL"
            )
        )
    return Outcome(
        statuses=statuses,
        callback_states=states,
        accepted_parts=parts,
        first_accepted_us=first or 0,
        last_accepted_us=last or 0,
        last_final_us=last_final or 0,
        latencies_ms=latencies,
    )


def percentile(values: list[float], share: float) -> float:
    if not values:
        return float("nan")
    return values[min(len(values) - 1, int(share * len(values)))]


# --- report ------------------------------------------------------------------------------


def cpu_at(run: Run, at_us: int, main_thread: bool = False) -> float:
    """Herald's CPU seconds (or its main thread's) at the last sample taken before `at_us`."""
    before = [
        main if main_thread else tree for when, tree, main in run.cpu_samples if when <= at_us
    ]
    return before[-1] if before else 0.0


def metric_sum(metrics: dict[str, float], name: str) -> int:
    return int(sum(value for key, value in metrics.items() if key.split("{")[0] == name))


def figures(opts: Options, run: Run, out: Outcome, messages: int) -> dict[str, Any]:
    t0 = out.first_accepted_us or run.spawned_us
    submit_s = max(out.last_accepted_us - t0, 1) / 1e6
    final_s = max(out.last_final_us - t0, 1) / 1e6
    callbacks_s = max(run.receiver.get("delivered_last_us", 0) - t0, 1) / 1e6
    all_callbacks_s = max(run.receiver.get("last_us", 0) - t0, 1) / 1e6
    run_cpu = run.herald_cpu_s - cpu_at(run, t0)
    last_us = out.last_accepted_us
    loop_cores = (cpu_at(run, last_us, True) - cpu_at(run, t0, True)) / submit_s
    herald_cores = (cpu_at(run, last_us) - cpu_at(run, t0)) / submit_s
    cpu_ms = run_cpu / messages * 1000
    rate = messages / submit_s
    return {
        "binds": run.binds,
        "round": run.round,
        "messages": messages,
        "window": opts.window,
        "senders": opts.senders,
        "mps_per_sender": opts.mps,
        "startup_s": round((t0 - run.spawned_us) / 1e6, 2),
        "first_accepted_us": t0,
        "submit_s": round(submit_s, 2),
        "final_s": round(final_s, 2),
        "callbacks_done_s": round(all_callbacks_s, 2),
        "msgs_per_s": round(rate, 1),
        "msgs_per_s_until_final": round(messages / final_s, 1),
        "callbacks_per_s": round(run.receiver.get("delivered", 0) / callbacks_s, 1),
        "all_callbacks_per_s": round(run.receiver.get("count", 0) / all_callbacks_s, 1),
        "cpu_ms_per_msg": round(cpu_ms, 3),
        "cpu_s_per_1k_msgs": round(cpu_ms, 3),
        "life_cpu_ms_per_msg": round(run.herald_cpu_s / messages * 1000, 3),
        "herald_cpu_s": round(run.herald_cpu_s, 2),
        "run_cpu_s": round(run_cpu, 2),
        "helper_cpu_s": round(run.helper_cpu_s, 2),
        "herald_cores": round(run_cpu / all_callbacks_s, 2),
        "herald_cores_while_submitting": round(herald_cores, 2),
        "loop_cores_while_submitting": round(loop_cores, 2),
        "peer_cpu_ms_per_msg": round(run.peer_cpu_s / messages * 1000, 3),
        "peer_cores": round(run.peer_cpu_s / all_callbacks_s, 2),
        "receiver_cpu_s": round(run.receiver_cpu_s, 2),
        "other_load_cores": round(max(0.0, run.machine_cpu_s) / max(run.wall_s, 1e-9), 2),
        "peak_rss_mb": round(run.peak_rss_mb, 1),
        "p50_ms": round(percentile(out.latencies_ms, 0.50), 1),
        "p99_ms": round(percentile(out.latencies_ms, 0.99), 1),
        "max_ms": round(out.latencies_ms[-1] if out.latencies_ms else float("nan"), 1),
        "cpu_ratio_vs_kannel": round(cpu_ms / KANNEL["cpu_ms_per_msg"], 2),
        "rate_ratio_vs_kannel": round(KANNEL["msgs_per_s"] / rate, 2),
        "callbacks_ratio_vs_kannel": round(
            KANNEL["callbacks_per_s"] / max(run.receiver.get("delivered", 0) / callbacks_s, 1e-9), 2
        ),
        "smsc_submits": run.peer.get("submits", 0),
        "smsc_receipts_sent": run.peer.get("receipts_sent", 0),
        "smsc_errors": run.peer.get("errors", 0),
        "accepted_segments": out.accepted_parts,
        "ambiguous_submits": metric_sum(run.metrics, "herald_smpp_ambiguous_submits_total"),
        "pushback": metric_sum(run.metrics, "herald_smpp_pushback_total"),
        "receipts_unmatched": metric_sum(run.metrics, "herald_smpp_receipts_unmatched_total"),
        "callbacks_received": run.receiver.get("count", 0),
        "delivered_callbacks_received": run.receiver.get("delivered", 0),
        "callback_duplicates_received": run.receiver.get("duplicates", 0),
        "status_counts": out.statuses,
        "callback_state_counts": out.callback_states,
    }


def warnings_for(fig: dict[str, Any], run: Run) -> list[str]:
    n = fig["messages"]
    delivered = fig["status_counts"].get("delivered", 0)
    checks = [
        (run.stalled, f"nothing moved for {fig['callbacks_done_s']} s: gave up waiting"),
        (delivered != n, f"only {delivered:,} of {n:,} messages delivered"),
        (fig["smsc_submits"] != n, f"the SMSC counted {fig['smsc_submits']:,} submit_sm for "
         f"{n:,} messages"),
        (fig["smsc_receipts_sent"] != n, f"the SMSC sent {fig['smsc_receipts_sent']:,} receipts"),
        (fig["accepted_segments"] != n, f"{fig['accepted_segments']:,} ids in smpp_submits"),
        (fig["callbacks_received"] != 2 * n, f"{fig['callbacks_received']:,} of {2 * n:,} "
         "callbacks arrived"),
        (fig["delivered_callbacks_received"] != n, "not one `delivered` callback per message"),
        (fig["callback_duplicates_received"] > 0, "the receiver got duplicate callbacks"),
        (fig["ambiguous_submits"] > 0, f"{fig['ambiguous_submits']} ambiguous submits"),
        (fig["receipts_unmatched"] > 0, f"{fig['receipts_unmatched']} receipts unmatched"),
        (fig["smsc_errors"] > 0, f"the SMSC caught {fig['smsc_errors']} errors"),
        (run.exit_code not in (0, -signal.SIGTERM), f"Herald exited with {run.exit_code}"),
    ]  # fmt: skip
    return [text for failed, text in checks if failed]


def report(f: dict[str, Any]) -> None:
    print(
        f"binds {f['binds']}, round {f['round']}: {f['messages']:,} messages, window "
        f"{f['window']}; the first accepted {f['startup_s']:.2f} s after start, the last "
        f"{f['submit_s']:.2f} s later; all final at {f['final_s']:.2f} s, every callback at "
        f"{f['callbacks_done_s']:.2f} s"
    )
    print(
        f"  submit_sm/s       {f['msgs_per_s']:>8,.0f}   (Kannel {KANNEL['msgs_per_s']:,.0f}: "
        f"Herald at 1/{f['rate_ratio_vs_kannel']:.2f} of it)"
    )
    print(
        f"  delivered cb/s    {f['callbacks_per_s']:>8,.0f}   (Kannel "
        f"{KANNEL['callbacks_per_s']:,.0f}); all callbacks {f['all_callbacks_per_s']:,.0f}/s"
    )
    print(
        f"  CPU ms/message    {f['cpu_ms_per_msg']:>8.3f}   from the first submit, helper "
        f"included ({f['cpu_ratio_vs_kannel']:.2f}x Kannel's {KANNEL['cpu_ms_per_msg']}); "
        f"{f['life_cpu_ms_per_msg']:.3f} over Herald's life; {f['herald_cores']:.2f} cores "
        f"({f['herald_cores_while_submitting']:.2f} while submitting, of which the event loop "
        f"{f['loop_cores_while_submitting']:.2f})"
    )
    print(
        f"  SMSC CPU ms/msg   {f['peer_cpu_ms_per_msg']:>8.3f}   ({f['peer_cores']:.2f} cores); "
        f"receiver {f['receiver_cpu_s']:.1f} s; other processes {f['other_load_cores']:.2f} cores"
    )
    print(
        f"  sent -> delivered p50 {f['p50_ms']:,.0f} ms, p99 {f['p99_ms']:,.0f} ms, max "
        f"{f['max_ms']:,.0f} ms; peak RSS {f['peak_rss_mb']:.0f} MB"
    )
    print(
        f"  SMSC: {f['smsc_submits']:,} submits, {f['smsc_receipts_sent']:,} receipts; "
        f"ambiguous {f['ambiguous_submits']}, pushback {f['pushback']}, statuses "
        f"{f['status_counts']}, callback outbox {f['callback_state_counts']}"
    )


def summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Per bind count, the median of each headline figure over its rounds."""
    keys = ("msgs_per_s", "callbacks_per_s", "cpu_ms_per_msg", "final_s", "p50_ms", "p99_ms",
            "peer_cpu_ms_per_msg", "peak_rss_mb", "other_load_cores")  # fmt: skip
    found: dict[str, Any] = {}
    for binds in sorted({r["binds"] for r in runs}):
        mine = [r for r in runs if r["binds"] == binds]
        median = {k: round(statistics.median(r[k] for r in mine), 3) for k in keys}
        median["cpu_ratio_vs_kannel"] = round(
            median["cpu_ms_per_msg"] / KANNEL["cpu_ms_per_msg"], 2
        )
        median["rate_ratio_vs_kannel"] = round(KANNEL["msgs_per_s"] / median["msgs_per_s"], 2)
        found[f"binds_{binds}"] = median
    return found


# --- the sampler (in Herald's process) ---------------------------------------------------

# Where a sample's CPU goes: walking out from the innermost frame, the first frame one of
# these names (SQL run by `store/raw.py` for the smpp_submits insert counts as that).
CATEGORIES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("PDU encode (smpplib)", ("carriers/smpp_pdu.py:encode", "smpplib/")),
    ("PDU decode", ("carriers/smpp_pdu.py:",)),
    ("receipt text parsing", ("domain/smpp.py:parse_receipt",)),
    ("smpp_submits insert", ("store/smpp.py:record",)),
    ("smpp_submits lookup", ("store/smpp.py:find",)),
    ("SMPP link, session, connection, matcher", ("carriers/smpp",)),
    ("SQL: mark sending / sent", ("store/dispatch.py:mark_sending", "store/dispatch.py:mark_sent")),
    ("SQL: receipts' final statuses", ("store/dispatch.py:finish",)),
    ("SQL: callback enqueue", ("store/callbacks.py:enqueue", "store/outbox.py:")),
    ("SQL: callback claim, record, wake", ("store/callbacks.py:", "webhooks/delivery.py:write")),
    ("group commit (other statements, commit)", ("store/group_commit.py:", "store/db.py:")),
    ("other SQL", ("store/",)),
    ("callback requests, helper pipe", ("webhooks/",)),
    ("dispatcher (queues, sender loops, receipts)", ("dispatch/",)),
    ("metrics", ("prometheus_client/",)),
    ("event loop and asyncio", ("asyncio/", "uvloop/")),
)


def sampled_herald(out: Path, argv: list[str]) -> int:
    """`herald …` with a thread that looks at the main thread (the event loop) every
    SAMPLE_S and charges the CPU it used since the last look to its stack then. cProfile
    inflates call-heavy code (PDU encoding) several times over; this costs ~1 % and keeps
    the shares. One line per sample, `wall_µs cpu_µs stack` (frames `;`-joined, outermost
    first), is written at exit."""
    from herald.cli import main as herald_main

    main_id = threading.main_thread().ident
    assert main_id is not None
    clock = time.pthread_getcpuclockid(main_id)
    samples: list[str] = []
    done = threading.Event()

    def sample() -> None:
        last = time.clock_gettime(clock)
        while not done.wait(SAMPLE_S):
            now, frame = time.clock_gettime(clock), sys._current_frames().get(main_id)
            used, last = now - last, now
            names = []
            while frame is not None:
                code = frame.f_code
                file = Path(code.co_filename)
                names.append(f"{file.parent.name}/{file.name}:{code.co_name}")
                frame = frame.f_back
            if names and used > 0:
                samples.append(
                    f"{time.time_ns() // 1000} {round(used * 1e6)} {';'.join(names[::-1])}"
                )

    sampler = threading.Thread(target=sample, name="bench-sampler", daemon=True)
    sampler.start()
    try:
        return herald_main(argv)
    finally:
        done.set()
        sampler.join()
        out.write_text("".join(line + "\n" for line in samples))


def category_of(frames: list[str]) -> str:
    """The CATEGORIES entry of the innermost frame one names (`store/raw.py`, which runs
    every precompiled statement, names none: its caller does)."""
    for frame in reversed(frames):
        if frame.startswith("store/raw.py:"):
            continue
        for label, markers in CATEGORIES:
            if frame.startswith(markers):
                return label
    return "other"


def print_samples(path: Path, since_us: int, top: int = 25) -> None:
    """Where the main thread's CPU went from `since_us` on (the first submit): by
    category, and the functions on the stack (inclusive) and at its top (own)."""
    inclusive, own, kinds, total = Counter[str](), Counter[str](), Counter[str](), 0
    for line in path.read_text().splitlines():
        at, us, stack = line.split(" ", 2)
        if int(at) < since_us:
            continue
        frames = stack.split(";")
        total += int(us)
        own[frames[-1]] += int(us)
        kinds[category_of(frames)] += int(us)
        for name in set(frames):
            inclusive[name] += int(us)
    print(
        f"samples of Herald's main thread in {path}: {total / 1e6:.2f} CPU s from the first submit"
    )
    for title, counts in (("category", kinds), ("inclusive", inclusive), ("own", own)):
        print(f"  top {top} by {title} share:")
        for name, us in counts.most_common(top):
            print(f"    {us / max(total, 1):6.1%}  {name}")


# --- main -------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> Options | None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=10_000, help="messages per run")
    parser.add_argument("--binds", choices=["1", "2", "both"], default="both")
    parser.add_argument("--window", type=int, default=100, help="each connection's window")
    parser.add_argument("--senders", type=int, default=100, help="long codes")
    parser.add_argument("--mps", type=int, default=1000, help="each sender's Mps override")
    parser.add_argument("--repeat", type=int, default=1, help="rounds (each runs every binds)")
    parser.add_argument("--herald-sync", choices=["FULL", "NORMAL"], default="FULL")
    parser.add_argument("--callback-processes", type=int, default=1)
    parser.add_argument("--stall-timeout", type=float, default=30.0, help="seconds")
    parser.add_argument("--profile", type=Path, help="cProfile Herald (main thread CPU) to here")
    parser.add_argument(
        "--sample", type=Path, help="sample Herald's main thread (CPU-weighted stacks) to here"
    )
    parser.add_argument("--keep", action="store_true", help="keep the data directories")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--serve-receiver", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--profiled-herald", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--sampled-herald", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("herald_argv", nargs="*", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve_receiver or args.profiled_herald or args.sampled_herald:
        return None
    if args.profile and args.sample:
        parser.error("--profile and --sample exclude each other")
    if not 1 <= args.mps <= 10_000:
        parser.error("--mps must be from 1 to 10000 (Herald's limit)")
    return Options(
        messages=max(1, args.messages),
        binds=(1, 2) if args.binds == "both" else (int(args.binds),),
        window=args.window,
        senders=max(2, args.senders),
        mps=args.mps,
        repeat=max(1, args.repeat),
        herald_sync=args.herald_sync,
        callback_processes=args.callback_processes,
        stall_timeout=args.stall_timeout,
        profile=args.profile.resolve() if args.profile else None,
        sample=args.sample.resolve() if args.sample else None,
        keep=args.keep,
        seed=args.seed,
    )


def one_run(opts: Options, run: Run) -> dict[str, Any]:
    data_dir = Path(tempfile.mkdtemp(prefix=f"herald-bench-smpp{run.binds}-"))
    try:
        with receiver_running() as (receiver_proc, receiver_url):
            messages = prepare(opts, data_dir, f"{receiver_url}/status")
            drain(opts, run, data_dir, (receiver_proc.pid, receiver_url))
        fig = figures(opts, run, analyse(data_dir / "herald.db"), messages)
        report(fig)
        profile = output_path(opts.profile, opts, run)
        if profile is not None and profile.exists():
            dispatch.print_profile(profile)
        sample = output_path(opts.sample, opts, run)
        if sample is not None and sample.exists():
            print_samples(sample, fig["first_accepted_us"])
        dispatch.print_warnings(warnings_for(fig, run))
        return fig
    finally:
        dispatch.discard(data_dir, opts.keep)


def main(argv: list[str] | None = None) -> int:
    opts = parse_args(argv)
    if opts is None:
        args = sys.argv[1:] if argv is None else argv
        if args[0] == "--profiled-herald":
            return dispatch.profiled_herald(Path(args[1]), args[3:])
        if args[0] == "--sampled-herald":
            return sampled_herald(Path(args[1]), args[3:])
        dispatch.serve_receiver(_Hook)
        return 0
    print(
        f"smpp: {opts.messages:,} one-segment messages from {opts.senders} senders (Mps "
        f"{opts.mps}) to tests/smpp_peer, binds {'/'.join(map(str, opts.binds))}, window "
        f"{opts.window}, {opts.repeat} round(s); {os.cpu_count()} CPUs, load average "
        f"{os.getloadavg()[0]:.2f} at start",
        flush=True,
    )
    runs = [
        one_run(opts, Run(binds=binds, round=round_))
        for round_ in range(1, opts.repeat + 1)
        for binds in opts.binds
    ]
    result = {
        "messages": opts.messages,
        "window": opts.window,
        "kannel_msgs_per_s": KANNEL["msgs_per_s"],
        "kannel_callbacks_per_s": KANNEL["callbacks_per_s"],
        "kannel_cpu_ms_per_msg": KANNEL["cpu_ms_per_msg"],
        **summary(runs),
        "runs": runs,
    }
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
