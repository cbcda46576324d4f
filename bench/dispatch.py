"""Dispatch benchmark: how fast Herald drains queued messages end to end, through the
instant carrier simulator, with delivery receipts and status callbacks to a local receiver.

    .venv/bin/python bench/dispatch.py [--messages 20000] [--senders 500] [--mps 1000]
                                       [--fail-share 0.05] [--herald-sync FULL|NORMAL]
                                       [--profile OUT.prof]

It starts `herald serve` on a fresh data directory, registers the senders through the API
(80 % long codes, 10 % toll-free numbers, 10 % short codes, each with an `Mps` override),
stops it, bulk-inserts N `queued` messages straight into the SQLite `messages` table (as
the API would have written them, every one with a `StatusCallback`), and starts Herald
again: at start-up the dispatcher loads them all and drains them. A receiver in its own
process (this file with `--serve-receiver`) answers every callback 200 and counts them.
It measures from the first submission in the simulator's log until every message is final
and until every callback (2 per message: `sent`, then `delivered`/`undelivered`) arrived,
and checks no sender exceeded its MPS in any one-second window of the simulator's log.
The last line is one JSON object with every figure. The API accept path is not measured
here (bench/api_accept.py does that). Everything talks to 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import itertools
import json
import os
import pstats
import random
import resource
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from herald.carriers.network import lookup_carrier
from herald.domain.encoding import encode_body
from herald.domain.nanp_table import AREA_CODES
from herald.domain.sids import Prefix, format_sid

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
PYTHON = Path(sys.executable)
API = "/2010-04-01/Accounts/{sid}"
CLK_TCK = os.sysconf("SC_CLK_TCK")
FINAL = ("delivered", "undelivered", "failed")
TOLL_FREE_CODES = ("800", "833", "844", "855", "866", "877", "888")
UNDELIVERED_SUFFIXES = ("3003", "3007")  # the simulator's test numbers: undelivered 30003/30007
POLL_S = 0.2
REPORT_S = 10.0
METRICS_TOKEN = "bench-metrics-token-0123456789"  # the server's HERALD_METRICS_TOKEN

# Bodies by (weight, template): GSM-7 and UCS-2, 1 to 3 segments (≈1.6 on average). The
# counter is zero-padded, so every body of a template has the same length and segments.
BODIES = (
    (45, "Your Herald code is {n:08d}. It expires in 10 minutes; do not share it. Reply STOP "
         "to opt out."),
    (10, "Ваш код Herald: {n:08d}. Никому его не сообщайте."),
    (25, "Hi from Herald! Order {n:08d} has shipped and should reach you within two working "
         "days. Track it any time at https://example.com/t/{n:08d} and reply HELP for help or "
         "STOP to opt out of these updates. Thank you for shopping with us, see you soon!"),
    (5, "Заказ {n:08d} отправлен 📦 и будет у вас через два рабочих дня. Спасибо, что "
        "выбрали нас! Ответьте STOP, чтобы отписаться."),
    (15, "Reminder {n:08d}: your appointment is tomorrow at 09:30 at 1 Example Street, suite "
         "400. Please arrive ten minutes early and bring your card and a photo ID. To move "
         "it, reply with a day and time that suits you or call us on the number in your "
         "letter. To cancel, reply CANCEL. We look forward to seeing you. Reply STOP to opt "
         "out of reminders, HELP for help."),
)  # fmt: skip


@dataclass(frozen=True)
class Options:
    messages: int
    senders: int
    mps: int
    fail_share: float
    herald_sync: str
    callback_processes: int
    stall_timeout: float
    profile: Path | None
    keep: bool
    seed: int


@dataclass(frozen=True)
class Sender:
    sid: str
    address: str
    kind: str  # long-code | toll-free | short-code


@dataclass
class Run:
    """What was measured while Herald drained the queue."""

    spawned_us: int = 0
    cpu_samples: list[tuple[int, float]] = field(default_factory=list)  # (wall µs, cpu s)
    herald_cpu_s: float = 0.0  # the server and its callback helper processes
    helper_cpu_s: float = 0.0  # of which the helpers
    receiver_cpu_s: float = 0.0
    machine_cpu_s: float = 0.0  # busy CPU of everything but Herald, the receiver and us
    steal_s: float = 0.0
    wall_s: float = 0.0
    peak_rss_mb: float = 0.0
    receiver: dict[str, int] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)  # Herald's /metrics at the end
    stalled: bool = False
    exit_code: int | None = None


# --- the callback receiver (its own process) ---------------------------------------------


class _Tally:
    count = 0
    first_us = 0
    last_us = 0
    duplicates = 0
    out_of_order = 0
    tokens: set[bytes] = set()  # noqa: RUF012 (one receiver per process)
    latest: dict[bytes, int] = {}  # noqa: RUF012  message SID -> highest sequence seen

    @classmethod
    def record(cls, token: bytes | None) -> None:
        now = time.time_ns() // 1000
        cls.count += 1
        cls.first_us = cls.first_us or now
        cls.last_us = now
        if token is None:
            return
        if token in cls.tokens:
            cls.duplicates += 1
        cls.tokens.add(token)
        sid, _, seq = token.rpartition(b"-")
        if int(seq) < cls.latest.get(sid, 0):
            cls.out_of_order += 1
        cls.latest[sid] = max(int(seq), cls.latest.get(sid, 0))

    @classmethod
    def as_json(cls) -> bytes:
        names = ("count", "first_us", "last_us", "duplicates", "out_of_order")
        return json.dumps({name: getattr(cls, name) for name in names}).encode()


def _header(head: bytes, lower: bytes, name: bytes) -> bytes | None:
    at = lower.find(b"\r\n" + name + b":")
    if at < 0:
        return None
    start = at + len(name) + 3
    end = head.find(b"\r\n", start)
    return head[start : end if end >= 0 else len(head)].strip()


_OK = b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n"


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
            length = int(_header(head, lower, b"content-length") or 0)
            if len(buffer) < end + 4 + length:
                break
            buffer = buffer[end + 4 + length :]
            if head.startswith(b"GET /count"):
                body = _Tally.as_json()
                replies.append(
                    b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n\r\n%s" % (len(body), body)
                )
            else:
                _Tally.record(_header(head, lower, b"i-twilio-idempotency-token"))
                replies.append(_OK)
        self._buffer = buffer
        if replies and self._transport is not None:
            self._transport.write(b"".join(replies))


def serve_receiver(protocol: Callable[[], asyncio.Protocol] | None = None) -> None:
    """Print the port, then answer until SIGTERM (with `_Hook`, or the caller's protocol)."""
    with contextlib.suppress(ImportError):
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())

    async def main() -> None:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(protocol or _Hook, "127.0.0.1", 0, backlog=1024)
        print(server.sockets[0].getsockname()[1], flush=True)
        stop = asyncio.Event()
        loop.add_signal_handler(signal.SIGTERM, stop.set)
        await stop.wait()
        server.close()

    asyncio.run(main())


def profiled_herald(out: Path, argv: list[str]) -> int:
    """`herald …` under cProfile timed by the main thread's CPU clock (the event loop's),
    so waiting and other processes' load do not count; the stats are written at exit."""
    from herald.cli import main as herald_main

    profiler = cProfile.Profile(time.thread_time)
    profiler.enable()
    try:
        return herald_main(argv)
    finally:
        profiler.disable()
        profiler.dump_stats(str(out))


# --- processes and /proc ---------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def cpu_seconds(pid: int) -> float:
    """User + system CPU of the whole process (all its threads)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def process_tree(pid: int) -> list[int]:
    """`pid` and its descendants (Herald's callback helper processes)."""
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        with contextlib.suppress(OSError):
            for task in Path(f"/proc/{current}/task").iterdir():
                todo += [int(c) for c in (task / "children").read_text().split()]
    return found


def tree_cpu_seconds(pid: int) -> float:
    """CPU of `pid` and its live descendants."""
    total = 0.0
    for each in process_tree(pid):
        with contextlib.suppress(OSError):
            total += cpu_seconds(each)
    return total


def tree_peak_rss_mb(pid: int) -> float:
    """The sum of the peak RSS of `pid` and its live descendants."""
    total = 0.0
    for each in process_tree(pid):
        with contextlib.suppress(OSError):
            total += peak_rss_mb(each)
    return total


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def machine_seconds() -> tuple[float, float]:
    """CPU seconds all cores spent busy (not idle, not waiting on I/O, not stolen by the
    hypervisor) since boot, and seconds stolen."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields[:8]
    return (user + nice + system + irq + softirq) / CLK_TCK, steal / CLK_TCK


def own_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def filesystem_of(path: Path) -> str:
    best, kind = "", "?"
    for line in Path("/proc/mounts").read_text().splitlines():
        mount, fstype = line.split()[1:3]
        if str(path.resolve()).startswith(mount) and len(mount) > len(best):
            best, kind = mount, fstype
    return kind


def print_warnings(warnings: Iterable[str]) -> None:
    """After the figures on stdout, each reason not to trust them on stderr."""
    sys.stdout.flush()
    for warning in warnings:
        print(f"WARNING: {warning} -- these figures are not trustworthy", file=sys.stderr)
    sys.stderr.flush()


def discard(data_dir: Path, keep: bool) -> None:
    """The run's data directory removed, or kept (`--keep`) and said where."""
    if keep:
        print(f"data kept in {data_dir}", file=sys.stderr)
    else:
        shutil.rmtree(data_dir, ignore_errors=True)


def now_us() -> int:
    return time.time_ns() // 1000


def stop_process(proc: subprocess.Popen[bytes], timeout_s: float = 60.0) -> int:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        return proc.wait()


@contextlib.contextmanager
def receiver_running() -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    argv = [str(PYTHON), str(Path(__file__).resolve()), "--serve-receiver"]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, cwd=REPO)
    try:
        assert proc.stdout is not None
        port = int(proc.stdout.readline())
        yield proc, f"http://127.0.0.1:{port}"
    finally:
        stop_process(proc, 10)


def receiver_tally(url: str) -> dict[str, int]:
    tally: dict[str, int] = httpx.get(f"{url}/count", timeout=5).json()
    return tally


def herald_env(opts: Options, data_dir: Path) -> dict[str, str]:
    env = {
        **os.environ,
        "HERALD_DATA_DIR": str(data_dir),
        "HERALD_LOG_LEVEL": "WARNING",
        "HERALD_SIMULATOR_LATENCY": "instant",
        "HERALD_SIMULATOR_SEED": "1",
        "HERALD_SQLITE_SYNCHRONOUS": opts.herald_sync,
        "HERALD_CALLBACK_PROCESSES": str(opts.callback_processes),
        "HERALD_METRICS_TOKEN": METRICS_TOKEN,
        "HERALD_WEBHOOK_ALLOW_PRIVATE": "true",  # the receiver listens on 127.0.0.1
    }
    env.pop("HERALD_DATABASE_URL", None)
    return env


def spawn_herald(
    opts: Options, data_dir: Path, port: int, profile: Path | None = None
) -> subprocess.Popen[bytes]:
    argv = [str(PYTHON), "-m", "herald", "serve", "--port", str(port)]
    if profile is not None:
        argv = [str(PYTHON), str(Path(__file__).resolve()), "--profiled-herald", str(profile)]
        argv += ["--", "serve", "--port", str(port)]
    log = (data_dir / "server.log").open("ab")
    with log:
        return subprocess.Popen(
            argv, env=herald_env(opts, data_dir), stdout=log, stderr=subprocess.STDOUT, cwd=REPO
        )


def log_tail(data_dir: Path) -> str:
    return (data_dir / "server.log").read_text(errors="replace")[-4000:]


def wait_healthy(proc: subprocess.Popen[bytes], port: int, data_dir: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return
        time.sleep(0.1)
    sys.stderr.write(log_tail(data_dir))
    raise SystemExit(f"Herald did not become healthy on port {port}")


def read_credentials(path: Path) -> tuple[str, str]:
    pairs = [line.split("=", 1) for line in path.read_text().splitlines() if "=" in line]
    values = {key.strip(): value.strip() for key, value in pairs}
    return values["TWILIO_ACCOUNT_SID"], values["TWILIO_AUTH_TOKEN"]


# --- set-up: senders through the API, messages straight into the database ----------------


def sender_plan(count: int) -> list[tuple[str, str]]:
    """(kind, address): 80 % long codes, 10 % toll-free, 10 % short codes."""
    toll_free = short = max(1, count // 10) if count >= 3 else 0
    plan = [("short-code", str(20000 + i)) for i in range(short)]
    plan += [("toll-free", f"+1{TOLL_FREE_CODES[i % 7]}201{i:04d}") for i in range(toll_free)]
    plan += [("long-code", f"+1415201{i:04d}") for i in range(count - len(plan))]
    return plan


def register_senders(opts: Options, port: int, data_dir: Path) -> tuple[str, list[Sender]]:
    account_sid, token = read_credentials(data_dir / "credentials.env")
    base = f"http://127.0.0.1:{port}" + API.format(sid=account_sid)
    senders = []
    with httpx.Client(auth=(account_sid, token), timeout=10) as client:
        for kind, address in sender_plan(opts.senders):
            if kind == "short-code":
                form = {"ShortCode": address, "IsoCountry": "US", "Mps": str(opts.mps)}
                response = client.post(f"{base}/SMS/ShortCodes.json", data=form)
            else:
                form = {"PhoneNumber": address, "Mps": str(opts.mps)}
                response = client.post(f"{base}/IncomingPhoneNumbers.json", data=form)
            if response.status_code != 201:
                raise SystemExit(f"registering {address}: {response.status_code} {response.text}")
            found = response.json()
            if kind != "short-code" and found.get("number_type", kind) != kind:
                raise SystemExit(f"{address} registered as {found['number_type']}, not {kind}")
            senders.append(Sender(found["sid"], address, kind))
    return account_sid, senders


def recipients(rng: random.Random) -> tuple[list[str], list[str]]:
    """Always-delivered numbers (+1 NPA 555-01XX) and undelivered test numbers (…3003,
    …3007) on carriers that take short codes (else a short code's message would fail)."""
    npas = sorted(a for a, row in AREA_CODES.items() if row[0] == "US" and row[4] == "in_service")
    delivered = [f"+1{npa}55501{x:02d}" for npa in npas for x in range(100)]
    undelivered = []
    for npa in npas:
        for suffix in UNDELIVERED_SUFFIXES:
            number = f"+1{npa}555{suffix}"
            info = lookup_carrier(number)
            if info is not None and info.supports_short_codes:
                undelivered.append(number)
    rng.shuffle(delivered)
    return delivered, undelivered


def message_rows(
    opts: Options, account_sid: str, senders: list[Sender], callback_url: str
) -> Iterator[dict[str, Any]]:
    rng = random.Random(opts.seed)
    delivered, undelivered = recipients(rng)
    weights, templates = zip(*BODIES, strict=True)
    created = now_us()
    for n in range(opts.messages):
        sender = senders[n % len(senders)]
        if rng.random() < opts.fail_share:
            to = undelivered[n % len(undelivered)]
        else:
            to = delivered[n % len(delivered)]
        body = rng.choices(templates, weights)[0].format(n=n)
        encoded = encode_body(body, smart=False)
        yield {
            "sid": format_sid(Prefix.MESSAGE, rng.randbytes(16)),
            "account_sid": account_sid,
            "direction": "outbound-api",
            "from_number": sender.address,
            "to_number": to,
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


def insert_messages(db_path: Path, rows: Iterator[dict[str, Any]]) -> tuple[int, int]:
    """Insert in one transaction; (messages, segments)."""
    first = next(rows)
    columns = list(first)
    sql = (
        f"INSERT INTO messages ({', '.join(columns)}) "
        f"VALUES ({', '.join(':' + c for c in columns)})"
    )
    totals = Counter[str]()

    def counted() -> Iterator[dict[str, Any]]:
        for row in itertools.chain([first], rows):
            totals["messages"] += 1
            totals["segments"] += row["num_segments"]
            yield row

    with contextlib.closing(sqlite3.connect(db_path)) as conn, conn:
        conn.executemany(sql, counted())
    return totals["messages"], totals["segments"]


# --- the measured run ------------------------------------------------------------------


def herald_metrics(port: int) -> dict[str, float]:
    """Herald's /metrics as {'name{labels}': value}; empty if it cannot be read."""
    try:
        auth = {"Authorization": f"Bearer {METRICS_TOKEN}"}
        text = httpx.get(f"http://127.0.0.1:{port}/metrics", headers=auth, timeout=10).text
    except httpx.HTTPError:
        return {}
    pairs = (line.rsplit(" ", 1) for line in text.splitlines() if line[:1] not in ("#", ""))
    return {name: float(value) for name, value in pairs}


def progress(started: float, port: int, callbacks: int) -> None:
    counts = herald_metrics(port)

    def total(status: str) -> int:
        return int(counts.get(f'herald_messages_total{{status="{status}"}}', 0))

    final = sum(total(status) for status in FINAL)
    print(
        f"  {time.monotonic() - started:5.0f} s: {total('sent'):,} sent, {final:,} final, "
        f"{callbacks:,} callbacks received",
        flush=True,
    )


def drain(
    opts: Options, data_dir: Path, receiver_url: str, receiver_pid: int, expected_callbacks: int
) -> Run:
    """Start Herald on the queued messages and wait until every callback has arrived
    (or nothing has moved for `stall_timeout`); progress every `REPORT_S`."""
    run = Run()
    port = free_port()
    (busy_before, steal_before), started = machine_seconds(), time.monotonic()
    own_before, receiver_before = own_cpu_seconds(), cpu_seconds(receiver_pid)
    run.spawned_us = now_us()
    proc = spawn_herald(opts, data_dir, port, opts.profile)
    last_count, moved_at, next_report = -1, started, started + REPORT_S
    try:
        while proc.poll() is None:
            time.sleep(POLL_S)
            run.cpu_samples.append((now_us(), tree_cpu_seconds(proc.pid)))
            run.receiver = receiver_tally(receiver_url)
            count, now = run.receiver["count"], time.monotonic()
            if count >= expected_callbacks:
                break
            if count != last_count:
                last_count, moved_at = count, now
            elif now - moved_at > opts.stall_timeout:
                run.stalled = True
                break
            if now >= next_report:
                next_report += REPORT_S
                progress(started, port, count)
        run.wall_s = time.monotonic() - started
        if proc.poll() is None:
            run.herald_cpu_s = tree_cpu_seconds(proc.pid)
            run.helper_cpu_s = run.herald_cpu_s - cpu_seconds(proc.pid)
            run.peak_rss_mb = tree_peak_rss_mb(proc.pid)
            run.metrics = herald_metrics(port)
        run.receiver_cpu_s = cpu_seconds(receiver_pid) - receiver_before
        busy, steal = machine_seconds()
        own = own_cpu_seconds() - own_before
        run.machine_cpu_s = busy - busy_before - own - run.herald_cpu_s - run.receiver_cpu_s
        run.steal_s = steal - steal_before
    finally:
        run.exit_code = stop_process(proc)
    if run.exit_code not in (0, -signal.SIGTERM):
        sys.stderr.write(log_tail(data_dir))
    return run


# --- analysis of the database ------------------------------------------------------------


@dataclass
class Outcome:
    statuses: dict[str, int]
    callback_states: dict[str, int]
    callbacks_owed: int
    submissions: int
    references: int
    duplicates: int
    first_submission_us: int
    last_final_us: int
    worst_ratio: float
    worst_sender: str
    worst_count: int
    worst_mps: int


def busiest_windows(conn: sqlite3.Connection) -> dict[str, int]:
    """Each sender's most submissions in any one-second window (t − 1 s, t] of the log
    (as `herald.store.simulator_log.busiest_second`, for all senders in one scan)."""
    busiest: dict[str, int] = {}
    sender, window = None, deque[int]()
    rows = conn.execute(
        "SELECT sender, received_at FROM simulator_submissions ORDER BY sender, received_at"
    )
    for who, at in rows:
        if who != sender:
            sender, window = who, deque()
        window.append(at)
        while window[0] <= at - 1_000_000:
            window.popleft()
        if len(window) > busiest.get(who, 0):
            busiest[who] = len(window)
    return busiest


def analyse(db_path: Path) -> Outcome:
    with contextlib.closing(sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)) as conn:
        statuses = dict(conn.execute("SELECT status, count(*) FROM messages GROUP BY status"))
        states = dict(conn.execute("SELECT state, count(*) FROM callbacks GROUP BY state"))
        owed, last_final = conn.execute(
            "SELECT sum(callback_sequence), max(CASE WHEN status IN (?, ?, ?) "
            "THEN date_updated END) FROM messages",
            FINAL,
        ).fetchone()
        subs, refs, dups, first = conn.execute(
            "SELECT count(*), count(DISTINCT reference), coalesce(sum(duplicate), 0), "
            "min(received_at) FROM simulator_submissions"
        ).fetchone()
        mps = dict(conn.execute("SELECT phone_number, mps FROM incoming_numbers"))
        mps.update(conn.execute("SELECT short_code, mps FROM short_codes"))
        busiest = busiest_windows(conn)
    ratios = {s: n / mps[s] for s, n in busiest.items() if mps.get(s)}
    worst = max(ratios, key=ratios.__getitem__, default="")
    return Outcome(
        statuses=statuses,
        callback_states=states,
        callbacks_owed=owed or 0,
        submissions=subs,
        references=refs,
        duplicates=dups,
        first_submission_us=first or 0,
        last_final_us=last_final or 0,
        worst_ratio=ratios.get(worst, 0.0),
        worst_sender=worst,
        worst_count=busiest.get(worst, 0),
        worst_mps=mps.get(worst) or 0,
    )


# --- report ------------------------------------------------------------------------------


def cpu_at(run: Run, at_us: int) -> float:
    """Herald's CPU seconds at the last sample taken before `at_us` (0 if none)."""
    before = [cpu for when, cpu in run.cpu_samples if when <= at_us]
    return before[-1] if before else 0.0


def figures(opts: Options, run: Run, out: Outcome, messages: int, segments: int) -> dict[str, Any]:
    t0 = out.first_submission_us or run.spawned_us
    drain_s = max(out.last_final_us - t0, 1) / 1e6
    callbacks_s = max(run.receiver.get("last_us", 0) - t0, 1) / 1e6
    received = run.receiver.get("count", 0)
    dispatch_cpu = run.herald_cpu_s - cpu_at(run, t0)
    submit_s = run.metrics.get("herald_submit_seconds_sum", 0.0)
    batches = run.metrics.get("herald_submit_seconds_count", 0.0)
    return {
        "messages": messages,
        "segments": segments,
        "senders": opts.senders,
        "mps_per_sender": opts.mps,
        "undelivered_share": opts.fail_share,
        "herald_synchronous": opts.herald_sync,
        "startup_s": round((t0 - run.spawned_us) / 1e6, 2),
        "drain_s": round(drain_s, 2),
        "callbacks_done_s": round(callbacks_s, 2),
        "msgs_per_s": round(messages / drain_s, 1),
        "segments_per_s": round(segments / drain_s, 1),
        "callbacks_per_s": round(received / callbacks_s, 1),
        "msgs_per_s_incl_startup": round(
            messages / max(run.receiver.get("last_us", 0) - run.spawned_us, 1) * 1e6, 1
        ),
        "cpu_ms_per_msg": round(run.herald_cpu_s / messages * 1000, 3),
        "dispatch_cpu_ms_per_msg": round(dispatch_cpu / messages * 1000, 3),
        "herald_cpu_s": round(run.herald_cpu_s, 2),
        "helper_cpu_s": round(run.helper_cpu_s, 2),
        "callback_processes": opts.callback_processes,
        "herald_cores_while_draining": round(dispatch_cpu / callbacks_s, 2),
        "receiver_cpu_s": round(run.receiver_cpu_s, 2),
        "other_load_cores": round(max(0.0, run.machine_cpu_s) / max(run.wall_s, 1e-9), 2),
        "steal_cores": round(run.steal_s / max(run.wall_s, 1e-9), 2),
        "peak_rss_mb": round(run.peak_rss_mb, 1),
        "submit_batches": int(batches),
        "submit_batch_mean_ms": round(submit_s / max(batches, 1) * 1000, 1),
        "worst_window_over_mps": round(out.worst_ratio, 3),
        "worst_window_segments": out.worst_count,
        "worst_window_sender": out.worst_sender,
        "simulator_submissions": out.submissions,
        "simulator_duplicates": out.duplicates,
        "callbacks_received": received,
        "callbacks_owed": out.callbacks_owed,
        "callback_duplicates_received": run.receiver.get("duplicates", 0),
        "callbacks_out_of_order": run.receiver.get("out_of_order", 0),
        "status_counts": out.statuses,
        "callback_state_counts": out.callback_states,
    }


def warnings_for(fig: dict[str, Any], run: Run, out: Outcome) -> list[str]:
    n, expected = fig["messages"], 2 * fig["messages"]
    final = sum(out.statuses.get(s, 0) for s in FINAL)
    checks = [
        (run.stalled, f"nothing moved for {fig['callbacks_done_s']} s: gave up waiting"),
        (final != n, f"only {final:,} of {n:,} messages reached a final status"),
        (out.statuses.get("failed", 0) > 0, f"{out.statuses.get('failed')} messages failed"),
        (fig["callbacks_received"] < expected, f"{fig['callbacks_received']:,} of "
         f"{expected:,} callbacks arrived"),
        (fig["callbacks_received"] > out.callbacks_owed, "more callbacks arrived than owed"),
        (fig["callback_duplicates_received"] > 0, "the receiver got duplicate callbacks"),
        (fig["callbacks_out_of_order"] > 0, "a message's callbacks arrived out of order"),
        (out.worst_ratio > 1.0, f"sender {out.worst_sender} sent {out.worst_count} segments "
         f"in one second at MPS {out.worst_mps}: RATE LIMIT EXCEEDED"),
        (out.duplicates > 0, f"{out.duplicates} duplicate submissions in the simulator log"),
        (out.references != fig["segments"], f"{out.references:,} segments submitted, "
         f"{fig['segments']:,} queued"),
        (run.exit_code not in (0, -signal.SIGTERM), f"Herald exited with {run.exit_code}"),
    ]  # fmt: skip
    return [text for failed, text in checks if failed]


def report(fig: dict[str, Any]) -> None:
    f = fig
    print(
        f"drain: {f['messages']:,} messages ({f['segments']:,} segments) in {f['drain_s']:.2f} s"
        f" from the first submission (start-up before it: {f['startup_s']:.2f} s)"
    )
    print(f"  messages/s      {f['msgs_per_s']:>9,.0f}   (aim: >= 2,000)")
    print(f"  segments/s      {f['segments_per_s']:>9,.0f}")
    print(
        f"  callbacks/s     {f['callbacks_per_s']:>9,.0f}   ({f['callbacks_received']:,} "
        f"received, the last {f['callbacks_done_s']:.2f} s after the first submission)"
    )
    print(f"  incl. start-up  {f['msgs_per_s_incl_startup']:>9,.0f}   messages/s")
    print(
        f"  CPU             {f['cpu_ms_per_msg']:>9.3f}   ms/message over Herald's life "
        f"({f['herald_cpu_s']:.1f} s, {f['helper_cpu_s']:.1f} s of it in "
        f"{f['callback_processes']} callback helper processes); "
        f"{f['dispatch_cpu_ms_per_msg']:.3f} ms from the first "
        f"submission on, {f['herald_cores_while_draining']:.2f} cores"
    )
    print(
        f"  peak RSS        {f['peak_rss_mb']:>9.1f}   MB; receiver CPU {f['receiver_cpu_s']:.1f}"
        f" s; other processes {f['other_load_cores']:.2f} cores; stolen by the hypervisor "
        f"{f['steal_cores']:.2f} cores"
    )
    print(
        f"  worst 1-s window / MPS {f['worst_window_over_mps']:.3f} ({f['worst_window_segments']}"
        f" segments from {f['worst_window_sender']}; must be <= 1.0); simulator duplicates "
        f"{f['simulator_duplicates']}; submissions {f['simulator_submissions']:,}"
    )
    print(
        f"  carrier submit  {f['submit_batch_mean_ms']:>9.1f}   ms per batch on average "
        f"({f['submit_batches']:,} batches; the instant simulator's answer waits for one "
        "group commit)"
    )
    print(f"  statuses {f['status_counts']}; callback outbox {f['callback_state_counts']}")


def print_profile(path: Path, top: int = 25) -> None:
    print(f"profile of Herald's event-loop thread (cProfile, CPU time) in {path}; top by own time:")
    stats = pstats.Stats(str(path), stream=sys.stdout)
    stats.sort_stats("tottime").print_stats(top)


# --- main -------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> Options | None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=20_000, help="messages to drain")
    parser.add_argument("--senders", type=int, default=500, help="senders (80/10/10 %% mix)")
    parser.add_argument("--mps", type=int, default=1000, help="each sender's Mps override")
    parser.add_argument(
        "--fail-share", type=float, default=0.05, help="share sent to undelivered test numbers"
    )
    parser.add_argument("--herald-sync", choices=["FULL", "NORMAL"], default="FULL")
    parser.add_argument(
        "--callback-processes", type=int, default=1, help="HERALD_CALLBACK_PROCESSES (0: none)"
    )
    parser.add_argument("--stall-timeout", type=float, default=60.0, help="seconds")
    parser.add_argument(
        "--profile", type=Path, help="run Herald under cProfile (main thread CPU), write here"
    )
    parser.add_argument("--keep", action="store_true", help="keep the data directory")
    parser.add_argument("--seed", type=int, default=1, help="recipients, bodies and SIDs")
    parser.add_argument("--serve-receiver", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--profiled-herald", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("herald_argv", nargs="*", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve_receiver or args.profiled_herald:
        return None
    if not 1 <= args.mps <= 10_000:
        parser.error("--mps must be from 1 to 10000 (Herald's limit)")
    return Options(
        messages=max(1, args.messages),
        senders=max(1, args.senders),
        mps=args.mps,
        fail_share=min(1.0, max(0.0, args.fail_share)),
        herald_sync=args.herald_sync,
        callback_processes=args.callback_processes,
        stall_timeout=args.stall_timeout,
        profile=args.profile.resolve() if args.profile else None,
        keep=args.keep,
        seed=args.seed,
    )


def prepare(opts: Options, data_dir: Path, callback_url: str) -> tuple[int, int]:
    """Register the senders (Herald running), then queue the messages (Herald stopped)."""
    port = free_port()
    proc = spawn_herald(opts, data_dir, port)
    try:
        wait_healthy(proc, port, data_dir)
        account_sid, senders = register_senders(opts, port, data_dir)
    finally:
        stop_process(proc)
    kinds = Counter(s.kind for s in senders)
    started = time.monotonic()
    rows = message_rows(opts, account_sid, senders, callback_url)
    messages, segments = insert_messages(data_dir / "herald.db", rows)
    print(
        f"set-up: {len(senders)} senders ({dict(kinds)}), Mps {opts.mps} each; "
        f"{messages:,} messages ({segments:,} segments) queued in "
        f"{time.monotonic() - started:.1f} s",
        flush=True,
    )
    return messages, segments


def main(argv: list[str] | None = None) -> int:
    opts = parse_args(argv)
    if opts is None:
        args = sys.argv[1:] if argv is None else argv
        if args[0] == "--profiled-herald":
            return profiled_herald(Path(args[1]), args[3:])
        serve_receiver()
        return 0
    data_dir = Path(tempfile.mkdtemp(prefix="herald-bench-dispatch-"))
    print(
        f"dispatch: {opts.messages:,} messages from {opts.senders} senders through the instant "
        f"simulator, receipts and callbacks; SQLite ({opts.herald_sync}) on "
        f"{filesystem_of(data_dir)} ({data_dir}); {os.cpu_count()} CPUs, load average "
        f"{os.getloadavg()[0]:.2f} at start",
        flush=True,
    )
    try:
        with receiver_running() as (receiver_proc, receiver_url):
            messages, segments = prepare(opts, data_dir, f"{receiver_url}/status")
            run = drain(opts, data_dir, receiver_url, receiver_proc.pid, 2 * messages)
        out = analyse(data_dir / "herald.db")
        fig = figures(opts, run, out, messages, segments)
        report(fig)
        if opts.profile is not None and opts.profile.exists():
            print_profile(opts.profile)
        print_warnings(warnings_for(fig, run, out))
        print(json.dumps(fig), flush=True)
    finally:
        discard(data_dir, opts.keep)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
