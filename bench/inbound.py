"""Inbound benchmark: how many inbound messages per second Herald takes from the carrier
simulator's endpoint through the opt-out keyword check, storage and the inbound webhook to
a local receiver, and the latency from the simulator call to the webhook's arrival.

    .venv/bin/python bench/inbound.py [--messages 10000] [--connections 64] [--rounds 2]
                                      [--keyword-share 0.04] [--database-url URL]
                                      [--herald-sync FULL|NORMAL] [--rate MSGS_PER_S]
                                      [--paced-messages N] [--paced-share 0.7]

It starts `herald serve` on a fresh data directory (SQLite, as `make run` does, or a fresh
PostgreSQL database made beside `--database-url`) and a webhook receiver in its own process
(tests/webhooks/receiver.py), registers numbers with an `SmsUrl` to the receiver and as many
without, then drives `POST /herald/v1/Simulator/Inbound` over keep-alive connections from a
small asyncio HTTP/1.1 client (one request at a time per connection). Most bodies are
unique ordinary texts; a small share are STOP/START/HELP keywords (which change the
opt-out ledger and queue confirmation replies). Three kinds run in interleaved rounds on
the same server, client and connections: inbound to numbers with a webhook (the headline,
timed until every webhook has arrived), inbound to numbers without one, and the API's
outbound accept (`POST Messages.json`). Flat out, the latency to the webhook is mostly the
backlog of webhooks owed; a last, paced slice sends the webhook kind at a steady rate
(`--rate`, else 70 % of the flat-out rate just measured) for the latency a sustainable
load sees. Every inbound message must be stored exactly once and its webhook must arrive;
repeats are counted. The last line is one JSON object. Everything talks to 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import orjson
import sqlalchemy

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR))

import dispatch  # noqa: E402  (bench/dispatch.py: processes, /proc and credentials)

from herald.domain.nanp_table import AREA_CODES  # noqa: E402
from herald.store.db import normalize_url  # noqa: E402

REPO = BENCH_DIR.parent
PYTHON = Path(sys.executable)
API = "/2010-04-01/Accounts/{sid}"
INBOUND_PATH = "/herald/v1/Simulator/Inbound"
KINDS = ("webhook", "no_webhook", "outbound")
LABELS = {
    "webhook": "inbound, webhook",
    "no_webhook": "inbound, no webhook",
    "outbound": "outbound accept",
}
PACED_KEYS = ("msgs", "msgs_per_s", "p50_ms", "p99_ms", "max_ms", "api_p50_ms", "api_p99_ms",
              "cpu_ms_per_msg", "peak_rss_mb", "other_load_cores")  # fmt: skip
OUTBOUND_FROM = "+14152040000"  # Mps 1: the dispatcher sends a trickle while we measure
# Ordinary texts: GSM-7 and UCS-2, one and two segments; {n} makes every body unique.
TEXTS = (
    "Hi! Is order {n} ready for pickup today? Thanks",
    "Can we move appointment {n} to Thursday at 3pm? Something came up at work this week "
    "and I cannot make the morning slot, sorry for the short notice. Let me know what works",
    "yes please, ref {n} 👍",
    "Привет! Заказ {n} пришёл, спасибо",
    "Running 10 min late for {n}, see you soon",
)
KEYWORDS = {  # type: (share of the keywords, spellings)
    "STOP": (0.4, ("STOP", "stop", "Stop.", "UNSUBSCRIBE")),
    "START": (0.4, ("START", "unstop", "Yes")),
    "HELP": (0.2, ("HELP", "info")),
}


@dataclass(frozen=True)
class Options:
    messages: int
    baseline_messages: int
    warmup: int
    rounds: int
    connections: int
    rate: float
    paced_share: float
    paced_messages: int
    keyword_share: float
    numbers: int
    mps: int
    herald_sync: str
    database_url: str | None
    stall_timeout: float
    keep: bool
    seed: int


@dataclass(frozen=True, slots=True)
class Request:
    kind: str
    wire: bytes  # the whole HTTP/1.1 request


@dataclass
class Slice:
    """One kind's batch of requests and what it cost."""

    kind: str
    requests: list[Request]
    measured: bool  # a flat-out slice of the rounds (not the warm-up or the paced one)
    pace: float = 0.0  # msgs/s of the paced slice
    sent: list[float] = field(default_factory=list)  # time.monotonic() per request
    done: list[float] = field(default_factory=list)
    status: list[int] = field(default_factory=list)  # 0: the connection failed
    sids: list[str | None] = field(default_factory=list)
    server_cpu_s: float = 0.0
    postgres_cpu_s: float = 0.0
    receiver_cpu_s: float = 0.0
    client_cpu_s: float = 0.0
    machine_cpu_s: float = 0.0
    wall_s: float = 0.0
    peak_rss_mb: float = 0.0  # the server's VmHWM over the slice (reset before it, as root)
    stalled: bool = False

    @property
    def ok(self) -> int:
        return sum(1 for s in self.status if s == 201)


# --- the webhook receiver (its own process) ----------------------------------------------


def serve_receiver() -> None:
    """tests/webhooks/receiver.py's `Receiver`, recording (on asyncio's own loop: it
    checks its transports' type); commands on stdin: `count` prints how many requests
    arrived, `dump PATH` writes (MessageSid, arrival, idempotency token, path) of each as
    JSON lines; end of input stops it."""
    sys.path.insert(0, str(REPO))
    from tests.webhooks.receiver import Receiver

    with Receiver(record=True) as receiver:
        print(receiver.url, flush=True)
        for line in sys.stdin:
            command, _, argument = line.strip().partition(" ")
            if command == "count":
                print(receiver.count, flush=True)
            elif command == "dump":
                with Path(argument).open("wb") as out:
                    for got in list(receiver.requests):
                        form = dict(got.form)
                        token = got.headers.get("i-twilio-idempotency-token")
                        row = [form.get("MessageSid"), got.arrived, token, got.path]
                        out.write(orjson.dumps(row) + b"\n")
                print("ok", flush=True)


class ReceiverProcess:
    def __init__(self) -> None:
        argv = [str(PYTHON), str(Path(__file__).resolve()), "--serve-receiver"]
        self.proc = subprocess.Popen(
            argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, cwd=REPO, text=True
        )
        self.url = self._line()

    def _line(self) -> str:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise SystemExit("the webhook receiver did not start")
        return line.strip()

    def _ask(self, command: str) -> str:
        assert self.proc.stdin is not None
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()
        return self._line()

    def count(self) -> int:
        return int(self._ask("count"))

    def arrivals(self, path: Path) -> list[tuple[str | None, float, str | None, str]]:
        self._ask(f"dump {path}")
        return [tuple(orjson.loads(line)) for line in path.read_bytes().splitlines()]

    def cpu_seconds(self) -> float:
        return dispatch.cpu_seconds(self.proc.pid)

    def stop(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        dispatch.stop_process(self.proc, 10)


# --- the load: a light HTTP/1.1 client ---------------------------------------------------


class _Connection(asyncio.Protocol):
    """Keep-alive, one request at a time, Content-Length answers: all Herald sends."""

    def __init__(self) -> None:
        self._buffer = b""
        self._transport: asyncio.Transport | None = None
        self._waiter: asyncio.Future[tuple[int, bytes]] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]  # uvloop's is no subclass

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        end = self._buffer.find(b"\r\n\r\n")
        if end < 0:
            return
        head = self._buffer[:end].lower()
        at = head.find(b"\r\ncontent-length:")
        if at < 0:
            self._fail(ConnectionError("an answer without Content-Length"))
            return
        stop = head.find(b"\r\n", at + 2)
        length = int(head[at + 17 : stop if stop >= 0 else len(head)])
        if len(self._buffer) < end + 4 + length:
            return
        status = int(self._buffer[9:12])
        body = self._buffer[end + 4 : end + 4 + length]
        self._buffer = self._buffer[end + 4 + length :]
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result((status, body))

    def _fail(self, exc: Exception) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_exception(exc)
        if self._transport is not None:
            self._transport.abort()

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_exception(exc or ConnectionError("closed by the server"))

    @property
    def is_open(self) -> bool:
        return self._transport is not None and not self._transport.is_closing()

    async def request(self, wire: bytes) -> tuple[int, bytes]:
        assert self._transport is not None
        self._waiter = asyncio.get_running_loop().create_future()
        self._transport.write(wire)
        return await self._waiter

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()


async def _connect(port: int) -> _Connection:
    loop = asyncio.get_running_loop()
    _, protocol = await loop.create_connection(_Connection, "127.0.0.1", port)
    return protocol


async def _worker(
    port: int, work: Slice, next_index: Iterator[int], pace: float, start: float
) -> None:
    """Send the slice's requests one after another (the next free index each time); with
    `pace` > 0, request i waits for its time, start + i / pace, which counts as its
    arrival even when every connection was busy then (no coordinated omission)."""
    conn = await _connect(port)
    try:
        for i in next_index:
            if pace > 0:
                due = start + i / pace
                await asyncio.sleep(max(0.0, due - time.monotonic()))
            if not conn.is_open:
                conn = await _connect(port)
            sent = start + i / pace if pace > 0 else time.monotonic()
            try:
                status, body = await conn.request(work.requests[i].wire)
            except (ConnectionError, OSError):
                status, body = 0, b""
            work.sent[i], work.done[i], work.status[i] = sent, time.monotonic(), status
            if status == 201:
                work.sids[i] = orjson.loads(body)["sid"]
    finally:
        conn.close()


async def _drive(port: int, work: Slice, connections: int, pace: float) -> None:
    n = len(work.requests)
    work.sent, work.done = [0.0] * n, [0.0] * n
    work.status, work.sids = [0] * n, [None] * n
    start = time.monotonic() + 0.05  # the paced schedule's (after the connects)
    indexes = iter(range(n))
    workers = min(connections, n)
    await asyncio.gather(*(_worker(port, work, indexes, pace, start) for _ in range(workers)))


def drive(port: int, work: Slice, connections: int, pace: float) -> None:
    with contextlib.suppress(ImportError):
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    asyncio.run(_drive(port, work, connections, pace))


# --- requests ----------------------------------------------------------------------------


@dataclass
class Plan:
    """Who sends what to which numbers; counters make every body and carrier id unique."""

    opts: Options
    account_sid: str
    auth_token: str
    port: int
    webhook_numbers: list[str]
    plain_numbers: list[str]
    handsets: list[str]
    rng: random.Random
    counter: int = 0
    keywords: Counter[str] = field(default_factory=Counter)

    def _head(self, path: str, form: bytes) -> bytes:
        basic = base64.b64encode(f"{self.account_sid}:{self.auth_token}".encode()).decode()
        return (
            f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\n"
            f"Authorization: Basic {basic}\r\n"
            "Content-Type: application/x-www-form-urlencoded\r\n"
            f"Content-Length: {len(form)}\r\n\r\n"
        ).encode() + form

    def _body(self, n: int) -> str:
        """A keyword (`keyword_share` of them), else an ordinary text with `#n` in it."""
        if self.rng.random() < self.opts.keyword_share:
            types = list(KEYWORDS)
            kind = self.rng.choices(types, [KEYWORDS[t][0] for t in types])[0]
            self.keywords[kind] += 1
            return self.rng.choice(KEYWORDS[kind][1])
        return self.rng.choice(TEXTS).format(n=f"#{n:07d}")

    def inbound(self, kind: str) -> Request:
        self.counter += 1
        numbers = self.webhook_numbers if kind == "webhook" else self.plain_numbers
        form = {
            "From": self.rng.choice(self.handsets),
            "To": numbers[self.counter % len(numbers)],
            "Body": self._body(self.counter),
            "CarrierMessageId": f"bench-{self.counter}",
        }
        return Request(kind, self._head(INBOUND_PATH, urlencode(form).encode()))

    def outbound(self) -> Request:
        self.counter += 1
        form = {
            "To": f"+1415{5_000_000 + self.counter:07d}",
            "From": OUTBOUND_FROM,
            "Body": f"Your code is {self.counter:07d}. Reply STOP to opt out.",
        }
        path = API.format(sid=self.account_sid) + "/Messages.json"
        return Request("outbound", self._head(path, urlencode(form).encode()))

    def batch(self, kind: str, count: int) -> list[Request]:
        if kind == "outbound":
            return [self.outbound() for _ in range(count)]
        return [self.inbound(kind) for _ in range(count)]


def handsets() -> list[str]:
    """+1 NPA 555-01XX in every in-service US area code (fictional, valid numbers)."""
    npas = sorted(a for a, row in AREA_CODES.items() if row[0] == "US" and row[4] == "in_service")
    return [f"+1{npa}55501{x:02d}" for npa in npas for x in range(100)]


# --- Herald ------------------------------------------------------------------------------


def herald_env(opts: Options, data_dir: Path, database_url: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HERALD_")}
    env.update(
        HERALD_DATA_DIR=str(data_dir),
        HERALD_LOG_LEVEL="WARNING",
        HERALD_SIMULATOR_LATENCY="instant",
        HERALD_SIMULATOR_SEED="1",
        HERALD_SQLITE_SYNCHRONOUS=opts.herald_sync,
        HERALD_WEBHOOK_ALLOW_PRIVATE="true",  # the receiver listens on 127.0.0.1
        HERALD_QUEUE_HORIZON_S="1000000000",  # the outbound kind's 1-MPS sender never refuses
        # The connections are one account's: room for each one's request (429 beyond).
        HERALD_API_CONCURRENCY=str(max(100, opts.connections)),
    )
    if database_url:
        env["HERALD_DATABASE_URL"] = database_url
    return env


def spawn_herald(env: dict[str, str], data_dir: Path, port: int) -> subprocess.Popen[bytes]:
    argv = [str(PYTHON), "-m", "herald", "serve", "--port", str(port)]
    with (data_dir / "server.log").open("ab") as log:
        return subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=REPO)


def register_numbers(opts: Options, port: int, data_dir: Path, hook: str) -> Plan:
    account_sid, token = dispatch.read_credentials(data_dir / "credentials.env")
    base = f"http://127.0.0.1:{port}" + API.format(sid=account_sid)
    webhook = [f"+1415202{i:04d}" for i in range(opts.numbers)]
    plain = [f"+1415203{i:04d}" for i in range(opts.numbers)]
    forms = [{"PhoneNumber": n, "SmsUrl": hook, "Mps": str(opts.mps)} for n in webhook]
    forms += [{"PhoneNumber": n, "Mps": str(opts.mps)} for n in plain]
    forms.append({"PhoneNumber": OUTBOUND_FROM})
    with httpx.Client(auth=(account_sid, token), timeout=10) as client:
        for form in forms:
            response = client.post(f"{base}/IncomingPhoneNumbers.json", data=form)
            if response.status_code != 201:
                raise SystemExit(f"registering {form}: {response.status_code} {response.text}")
    rng = random.Random(opts.seed)
    return Plan(opts, account_sid, token, port, webhook, plain, handsets(), rng)


@contextlib.contextmanager
def database(opts: Options) -> Iterator[str | None]:
    """None for SQLite; else a fresh PostgreSQL database beside `--database-url`'s,
    dropped at the end (unless --keep)."""
    if not opts.database_url:
        yield None
        return
    import psycopg

    admin = opts.database_url
    name = f"herald_bench_inbound_{os.getpid()}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base, _, _ = admin.rpartition("/")
    try:
        yield f"{base}/{name}"
    finally:
        if opts.keep:
            print(f"database kept: {base}/{name}", file=sys.stderr)
        else:
            with psycopg.connect(admin, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def postgres_cpu(database_name: str) -> dict[int, float]:
    """CPU of each PostgreSQL backend serving `database_name`, by pid, sampled around each
    slice (the server may be shared: other databases' backends and the background
    writers are left out)."""
    found = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                title = (entry / "cmdline").read_bytes().replace(b"\0", b" ").split()
                if title[:1] == [b"postgres:"] and database_name.encode() in title:
                    found[int(entry.name)] = dispatch.cpu_seconds(int(entry.name))
    return found


def reset_peak_rss(pid: int) -> None:
    """Start the process's VmHWM again from its current RSS (needs root; else it keeps
    counting from the start)."""
    with contextlib.suppress(OSError):
        Path(f"/proc/{pid}/clear_refs").write_text("5")


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


# --- the measured run --------------------------------------------------------------------


@dataclass
class Bench:
    opts: Options
    proc: subprocess.Popen[bytes]
    receiver: ReceiverProcess
    plan: Plan
    postgres: str | None  # the database's name
    slices: list[Slice] = field(default_factory=list)
    webhooks_expected: int = 0

    def run_slice(self, kind: str, count: int, *, measured: bool, pace: float = 0.0) -> Slice:
        work = Slice(kind, self.plan.batch(kind, count), measured, pace)
        pg_before = postgres_cpu(self.postgres) if self.postgres else {}
        cpu_before = dispatch.tree_cpu_seconds(self.proc.pid)
        receiver_before, own_before = self.receiver.cpu_seconds(), dispatch.own_cpu_seconds()
        busy_before, _ = dispatch.machine_seconds()
        reset_peak_rss(self.proc.pid)
        started = time.monotonic()
        drive(self.plan.port, work, self.opts.connections, pace)
        if kind == "webhook":
            self.webhooks_expected += work.ok
            self.wait_for_webhooks(work)
        work.wall_s = time.monotonic() - started
        time.sleep(0.2)  # the last outcomes' writes, the replies' dispatch
        work.server_cpu_s = dispatch.tree_cpu_seconds(self.proc.pid) - cpu_before
        work.peak_rss_mb = dispatch.peak_rss_mb(self.proc.pid)
        work.receiver_cpu_s = self.receiver.cpu_seconds() - receiver_before
        work.client_cpu_s = dispatch.own_cpu_seconds() - own_before
        if self.postgres:
            after = postgres_cpu(self.postgres)
            work.postgres_cpu_s = sum(after[p] - pg_before.get(p, 0.0) for p in after)
        work.machine_cpu_s = dispatch.machine_seconds()[0] - busy_before
        self.slices.append(work)
        return work

    def wait_for_webhooks(self, work: Slice) -> None:
        moved_at, last = time.monotonic(), -1
        while (count := self.receiver.count()) < self.webhooks_expected:
            now = time.monotonic()
            if count != last:
                moved_at, last = now, count
            elif now - moved_at > self.opts.stall_timeout:
                work.stalled = True
                return
            time.sleep(0.02)

    def run(self) -> None:
        opts = self.opts
        for kind in KINDS:
            self.run_slice(kind, opts.warmup, measured=False)
        for r in range(opts.rounds):
            for kind in KINDS[r % 3 :] + KINDS[: r % 3]:
                total = opts.messages if kind == "webhook" else opts.baseline_messages
                work = self.run_slice(kind, max(1, total // opts.rounds), measured=True)
                rate = work.ok / max(work.wall_s, 1e-9)
                print(
                    f"  round {r + 1}, {LABELS[kind]}: {work.ok:,} in {work.wall_s:.2f} s "
                    f"({rate:,.0f}/s)" + (" STALLED" if work.stalled else ""),
                    flush=True,
                )
        if opts.paced_messages:
            self.run_paced()

    def run_paced(self) -> None:
        """Webhook kind at a steady rate (`--rate`, else `--paced-share` of the flat-out
        rate just measured): the latency a sustainable load sees."""
        flat = [s for s in self.slices if s.measured and s.kind == "webhook"]
        measured = sum(s.ok for s in flat) / max(sum(s.wall_s for s in flat), 1e-9)
        pace = self.opts.rate or max(1.0, round(self.opts.paced_share * measured))
        work = self.run_slice("webhook", self.opts.paced_messages, measured=False, pace=pace)
        print(
            f"  paced, {LABELS['webhook']}: {work.ok:,} at {pace:,.0f}/s in {work.wall_s:.2f} s"
            + (" STALLED" if work.stalled else ""),
            flush=True,
        )


# --- analysis ----------------------------------------------------------------------------


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))]


@dataclass
class Stored:
    """What the database holds at the end."""

    inbound_sids: Counter[str]
    inbound_rows: int
    outbound_api_sids: set[str]
    carrier_ids: int
    carrier_message_sids: int
    duplicate_bodies: int
    replies: dict[str, int]
    webhook_states: dict[str, int]
    opt_outs: int


REPLIES = (
    "SELECT status || coalesce(' ' || CAST(error_code AS VARCHAR(8)), ''), count(*) "
    "FROM messages WHERE direction = 'outbound-reply' GROUP BY 1"
)


def read_database(url: str) -> Stored:
    engine = sqlalchemy.create_engine(normalize_url(url))
    q = sqlalchemy.text
    with engine.connect() as conn:
        rows = conn.execute(q("SELECT sid, body FROM messages WHERE direction = 'inbound'")).all()
        outbound = conn.execute(q("SELECT sid FROM messages WHERE direction = 'outbound-api'"))
        ids, sids = conn.execute(
            q("SELECT count(*), count(DISTINCT message_sid) FROM carrier_inbound")
        ).one()
        replies = conn.execute(q(REPLIES)).all()
        states = conn.execute(q("SELECT state, count(*) FROM inbound_webhooks GROUP BY state"))
        (opt_outs,) = conn.execute(q("SELECT count(*) FROM opt_outs")).one()
        outbound_sids = {sid for (sid,) in outbound}
        webhook_states = {state: int(n) for state, n in states}
    engine.dispose()
    bodies = Counter(body for _, body in rows if "#" in body)
    return Stored(
        inbound_sids=Counter(sid for sid, _ in rows),
        inbound_rows=len(rows),
        outbound_api_sids=outbound_sids,
        carrier_ids=ids,
        carrier_message_sids=sids,
        duplicate_bodies=sum(n - 1 for n in bodies.values()),
        replies={status: int(n) for status, n in replies},
        webhook_states=webhook_states,
        opt_outs=int(opt_outs),
    )


def kind_figures(slices: list[Slice], first_arrival: dict[str, float]) -> dict[str, Any]:
    """One kind's figures over its measured slices."""
    ok = sum(s.ok for s in slices)
    seconds = accept_seconds = 0.0
    api_ms, hook_ms = [], []
    for s in slices:
        answered = [i for i, status in enumerate(s.status) if status == 201]
        start = min(s.sent)
        last = max(s.done)
        accept_seconds += last - start
        api_ms += [(s.done[i] - s.sent[i]) * 1000 for i in answered]
        hooked = [(i, first_arrival[sid]) for i in answered
                  if (sid := s.sids[i]) and sid in first_arrival]  # fmt: skip
        hook_ms += [(at - s.sent[i]) * 1000 for i, at in hooked]
        if s.kind == "webhook":
            last = max([last] + [at for _, at in hooked])
        seconds += last - start
    server_cpu = sum(s.server_cpu_s for s in slices)
    pg_cpu = sum(s.postgres_cpu_s for s in slices)
    wall = sum(s.wall_s + 0.2 for s in slices)
    others = sum(
        s.machine_cpu_s - s.server_cpu_s - s.receiver_cpu_s - s.client_cpu_s - s.postgres_cpu_s
        for s in slices
    )
    out: dict[str, Any] = {
        "msgs": ok,
        "msgs_per_s": round(ok / max(seconds, 1e-9), 1),
        "seconds": round(seconds, 2),
        "api_p50_ms": round(percentile(api_ms, 50), 2),
        "api_p99_ms": round(percentile(api_ms, 99), 2),
        "cpu_ms_per_msg": round(server_cpu / max(ok, 1) * 1000, 3),
        "peak_rss_mb": round(max((s.peak_rss_mb for s in slices), default=0.0), 1),
        "client_cpu_ms_per_msg": round(sum(s.client_cpu_s for s in slices) / max(ok, 1) * 1000, 3),
        "other_load_cores": round(max(0.0, others) / wall, 2),
        "round_msgs_per_s": [round(s.ok / max(s.wall_s, 1e-9), 1) for s in slices],
    }
    if pg_cpu:
        out["postgres_cpu_ms_per_msg"] = round(pg_cpu / max(ok, 1) * 1000, 3)
    if slices and slices[0].kind == "webhook":
        out["accept_msgs_per_s"] = round(ok / max(accept_seconds, 1e-9), 1)
        out["p50_ms"] = round(percentile(hook_ms, 50), 2)
        out["p99_ms"] = round(percentile(hook_ms, 99), 2)
        out["max_ms"] = round(max(hook_ms, default=float("nan")), 2)
        out["receiver_cpu_ms_per_msg"] = round(
            sum(s.receiver_cpu_s for s in slices) / max(ok, 1) * 1000, 3
        )
    return out


def delivery_checks(
    slices: list[Slice], arrivals: list[tuple[str | None, float, str | None, str]], db: Stored
) -> dict[str, Any]:
    """Every slice, warm-up included: stored exactly once, webhook at least once."""
    by_kind: dict[str, set[str]] = {kind: set() for kind in KINDS}
    sent = Counter[str]()
    for s in slices:
        sent[s.kind] += len(s.requests)
        by_kind[s.kind].update(sid for sid in s.sids if sid)
    hooks = Counter(sid for sid, _, _, path in arrivals if path == "/sms")
    inbound = by_kind["webhook"] | by_kind["no_webhook"]
    tokens = {sid: token for sid, _, token, _ in arrivals}
    return {
        "inbound_requests": sent["webhook"] + sent["no_webhook"],
        "inbound_accepted": len(inbound),
        "inbound_stored": db.inbound_rows,
        "inbound_missing": len(inbound - set(db.inbound_sids)),
        "inbound_stored_repeats": max(0, db.inbound_rows - len(inbound)) + db.duplicate_bodies,
        "carrier_ids": db.carrier_ids,
        "webhooks_owed": len(by_kind["webhook"]),
        "webhooks_received": sum(hooks.values()),
        "webhooks_missing": len(by_kind["webhook"] - set(hooks)),
        "webhook_repeats": sum(n - 1 for n in hooks.values()),
        "webhooks_unexpected": len(set(hooks) - by_kind["webhook"]),
        "webhook_tokens": len({t for t in tokens.values() if t}),
        "webhook_states": db.webhook_states,
        "outbound_accepted": len(by_kind["outbound"]),
        "outbound_missing": len(by_kind["outbound"] - db.outbound_api_sids),
        "replies": db.replies,
        "opt_out_entries": db.opt_outs,
    }


def summary(
    opts: Options,
    bench: Bench,
    checks: dict[str, Any],
    arrivals: list[Any],
    rss: dict[str, float],
) -> dict[str, Any]:
    first: dict[str, float] = {}
    for sid, at, _, path in arrivals:
        if sid and path == "/sms" and (sid not in first or at < first[sid]):
            first[sid] = at
    out: dict[str, Any] = {
        "messages": opts.messages,
        "baseline_messages": opts.baseline_messages,
        "connections": opts.connections,
        "rounds": opts.rounds,
        "keyword_share": opts.keyword_share,
        "numbers": opts.numbers,
        "database": "postgresql" if opts.database_url else "sqlite",
        "herald_synchronous": opts.herald_sync,
    }
    measured = [s for s in bench.slices if s.measured]
    figures = {kind: kind_figures([s for s in measured if s.kind == kind], first) for kind in KINDS}
    for key, value in figures["webhook"].items():
        out[f"inbound_{key}"] = value
    for key, value in figures["no_webhook"].items():
        out[f"no_webhook_{key}"] = value
    for key, value in figures["outbound"].items():
        out[f"outbound_accept_{key}"] = value
    paced = [s for s in bench.slices if s.pace > 0]
    if paced:
        out["inbound_paced_target_msgs_per_s"] = paced[0].pace
        for key, value in kind_figures(paced, first).items():
            if key in PACED_KEYS:
                out[f"inbound_paced_{key}"] = value
    out["idle_rss_mb"] = round(rss["idle"], 1)
    out["peak_rss_mb"] = round(max(s.peak_rss_mb for s in bench.slices), 1)
    out["end_rss_tree_mb"] = round(rss["tree"], 1)
    out["keywords_sent"] = dict(bench.plan.keywords)
    all_status = Counter(st for s in bench.slices for st in s.status)
    out["non201_responses"] = sum(n for st, n in all_status.items() if st not in (0, 201))
    out["socket_errors"] = all_status.get(0, 0)
    out.update(checks)
    inbound, plain = figures["webhook"]["msgs_per_s"], figures["no_webhook"]["msgs_per_s"]
    out["ratio_vs_no_webhook"] = round(inbound / max(plain, 1e-9), 3)
    out["ratio_vs_outbound_accept"] = round(
        inbound / max(figures["outbound"]["msgs_per_s"], 1e-9), 3
    )
    out["ratio_vs_aim_3000"] = round(inbound / 3000, 3)
    return out


def report(f: dict[str, Any]) -> None:
    print(
        f"inbound with webhook: {f['inbound_msgs']:,} messages in {f['inbound_seconds']:.2f} s, "
        f"from the first simulator call to the last webhook's arrival"
    )
    print(f"  messages/s      {f['inbound_msgs_per_s']:>9,.0f}   (aim: >= 3,000)")
    print(f"  accepted/s      {f['inbound_accept_msgs_per_s']:>9,.0f}   (201s from the endpoint)")
    print(
        f"  call -> webhook p50 {f['inbound_p50_ms']:.1f} ms, p99 {f['inbound_p99_ms']:.1f} ms, "
        f"max {f['inbound_max_ms']:.1f} ms; call -> 201 p50 {f['inbound_api_p50_ms']:.1f} ms, "
        f"p99 {f['inbound_api_p99_ms']:.1f} ms"
    )
    if "inbound_paced_msgs" in f:
        print(
            f"  paced at {f['inbound_paced_target_msgs_per_s']:,.0f}/s: {f['inbound_paced_msgs']:,}"
            f" messages, {f['inbound_paced_msgs_per_s']:,.0f}/s through webhooks; call -> webhook"
            f" p50 {f['inbound_paced_p50_ms']:.1f} ms, p99 {f['inbound_paced_p99_ms']:.1f} ms, max"
            f" {f['inbound_paced_max_ms']:.1f} ms; call -> 201 p50 "
            f"{f['inbound_paced_api_p50_ms']:.1f} ms, p99 {f['inbound_paced_api_p99_ms']:.1f} ms"
        )
    for prefix, label in (("inbound", "webhook"), ("no_webhook", "no webhook"),
                          ("outbound_accept", "outbound")):  # fmt: skip
        extra = f", PostgreSQL {f[prefix + '_postgres_cpu_ms_per_msg']:.3f}" if (
            prefix + "_postgres_cpu_ms_per_msg") in f else ""  # fmt: skip
        print(
            f"  {label:<11} {f[prefix + '_msgs_per_s']:>8,.0f} msg/s  201 p50 "
            f"{f[prefix + '_api_p50_ms']:6.1f} ms p99 {f[prefix + '_api_p99_ms']:6.1f} ms  "
            f"server CPU {f[prefix + '_cpu_ms_per_msg']:.3f} ms/msg{extra}  client "
            f"{f[prefix + '_client_cpu_ms_per_msg']:.3f}  other load "
            f"{f[prefix + '_other_load_cores']:.2f} cores  rounds {f[prefix + '_round_msgs_per_s']}"
        )
    print(
        f"  ratio to inbound without webhook {f['ratio_vs_no_webhook']:.3f}, to outbound accept "
        f"{f['ratio_vs_outbound_accept']:.3f}; server RSS {f['idle_rss_mb']:.1f} MB idle, "
        f"peak {f['inbound_peak_rss_mb']:.1f} MB in the webhook slices, {f['peak_rss_mb']:.1f} MB"
        f" in all ({f['end_rss_tree_mb']:.1f} MB at the end with the callback helper)"
    )
    print(
        f"  stored: {f['inbound_stored']:,} inbound rows for {f['inbound_accepted']:,} accepted "
        f"({f['inbound_requests']:,} sent), {f['inbound_missing']} missing, "
        f"{f['inbound_stored_repeats']} stored twice; webhooks: {f['webhooks_received']:,} "
        f"received for {f['webhooks_owed']:,} owed, {f['webhooks_missing']} missing, "
        f"{f['webhook_repeats']} repeats, {f['webhooks_unexpected']} unexpected; "
        f"outbox {f['webhook_states']}"
    )
    print(
        f"  keywords sent {f['keywords_sent']}; replies {f['replies']}; "
        f"opt-out entries {f['opt_out_entries']}"
    )


def warnings_for(f: dict[str, Any], bench: Bench, exit_code: int | None) -> list[str]:
    checks = [
        (any(s.stalled for s in bench.slices), "webhooks stopped arriving: gave up waiting"),
        (f["non201_responses"] > 0, f"{f['non201_responses']} responses were not 201"),
        (f["socket_errors"] > 0, f"{f['socket_errors']} requests failed on the socket"),
        (f["inbound_missing"] > 0, f"{f['inbound_missing']} accepted messages not stored"),
        (f["inbound_stored_repeats"] > 0, f"{f['inbound_stored_repeats']} messages stored twice"),
        (f["webhooks_missing"] > 0, f"{f['webhooks_missing']} webhooks never arrived"),
        (f["webhooks_unexpected"] > 0, f"{f['webhooks_unexpected']} webhooks for no one"),
        (f["outbound_missing"] > 0, f"{f['outbound_missing']} accepted sends not stored"),
        (exit_code not in (0, -15), f"Herald exited with {exit_code}"),
    ]
    return [text for failed, text in checks if failed]


def parse_args(argv: list[str] | None = None) -> Options | None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=10_000, help="inbound, with webhook")
    parser.add_argument(
        "--baseline-messages", type=int, help="each baseline kind (default: messages / 2)"
    )
    parser.add_argument("--warmup", type=int, default=500, help="per kind, not measured")
    parser.add_argument("--rounds", type=int, default=2, help="interleaved rounds")
    parser.add_argument("--connections", type=int, default=64, help="keep-alive connections")
    parser.add_argument(
        "--rate", type=float, default=0.0, help="the paced slice's msgs/s (default: see below)"
    )
    parser.add_argument(
        "--paced-share", type=float, default=0.7, help="else this share of the flat-out rate"
    )
    parser.add_argument(
        "--paced-messages", type=int, help="in the paced slice (default: messages / 4; 0: none)"
    )
    parser.add_argument("--keyword-share", type=float, default=0.04, help="STOP/START/HELP")
    parser.add_argument("--numbers", type=int, default=20, help="numbers of each inbound kind")
    parser.add_argument("--mps", type=int, default=1000, help="their Mps (confirmations)")
    parser.add_argument("--herald-sync", choices=["FULL", "NORMAL"], default="FULL")
    parser.add_argument(
        "--database-url",
        help="PostgreSQL URL whose user may create databases (a fresh one is made beside it)",
    )
    parser.add_argument("--stall-timeout", type=float, default=30.0, help="seconds")
    parser.add_argument("--keep", action="store_true", help="keep the data directory/database")
    parser.add_argument("--seed", type=int, default=1, help="handsets and bodies")
    parser.add_argument("--serve-receiver", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve_receiver:
        return None
    messages = max(1, args.messages)
    return Options(
        messages=messages,
        baseline_messages=max(1, args.baseline_messages or messages // 2),
        warmup=max(1, args.warmup),
        rounds=max(1, args.rounds),
        connections=max(1, args.connections),
        rate=max(0.0, args.rate),
        paced_share=max(0.01, args.paced_share),
        paced_messages=max(
            0, messages // 4 if args.paced_messages is None else args.paced_messages
        ),
        keyword_share=min(1.0, max(0.0, args.keyword_share)),
        numbers=max(1, min(args.numbers, 9999)),
        mps=args.mps,
        herald_sync=args.herald_sync,
        database_url=args.database_url,
        stall_timeout=args.stall_timeout,
        keep=args.keep,
        seed=args.seed,
    )


def measure(opts: Options, data_dir: Path, url: str | None) -> tuple[dict[str, Any], list[str]]:
    receiver = ReceiverProcess()
    port = dispatch.free_port()
    proc = spawn_herald(herald_env(opts, data_dir, url), data_dir, port)
    exit_code = None
    try:
        dispatch.wait_healthy(proc, port, data_dir)
        plan = register_numbers(opts, port, data_dir, f"{receiver.url}/sms")
        idle_rss = rss_mb(proc.pid)
        bench = Bench(opts, proc, receiver, plan, postgres=url.rpartition("/")[2] if url else None)
        bench.run()
        time.sleep(1.0)  # the keyword confirmations' dispatch
        rss = {
            "idle": idle_rss,
            "tree": sum(rss_mb(pid) for pid in dispatch.process_tree(proc.pid)),
        }
        arrivals = receiver.arrivals(data_dir / "arrivals.jsonl")
    finally:
        exit_code = dispatch.stop_process(proc)
        receiver.stop()
        if exit_code not in (0, -15):
            sys.stderr.write(dispatch.log_tail(data_dir))
    stored = read_database(url or f"sqlite:///{data_dir / 'herald.db'}")
    checks = delivery_checks(bench.slices, arrivals, stored)
    fig = summary(opts, bench, checks, arrivals, rss)
    return fig, warnings_for(fig, bench, exit_code)


def main(argv: list[str] | None = None) -> int:
    opts = parse_args(argv)
    if opts is None:
        serve_receiver()
        return 0
    data_dir = Path(tempfile.mkdtemp(prefix="herald-bench-inbound-"))
    where = "PostgreSQL" if opts.database_url else f"SQLite ({opts.herald_sync})"
    print(
        f"inbound: {opts.messages:,} inbound messages with a webhook, {opts.baseline_messages:,} "
        f"of each baseline, {opts.rounds} rounds, {opts.connections} connections, keyword share "
        f"{opts.keyword_share:.0%}; {where} on {dispatch.filesystem_of(data_dir)} ({data_dir}); "
        f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f} at start",
        flush=True,
    )
    try:
        with database(opts) as url:
            fig, warnings = measure(opts, data_dir, url)
        report(fig)
        dispatch.print_warnings(warnings)
        print(json.dumps(fig), flush=True)
    finally:
        dispatch.discard(data_dir, opts.keep)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
