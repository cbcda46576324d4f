"""Campaign benchmark (issue 14): `herald campaign send` and `sync` against a local Herald on
the instant carrier simulator: recipients per second sent, time until the last message is
final, and time for a full sync.

    .venv/bin/python bench/campaign.py [--recipients 10000] [--concurrency 16]
                                       [--numbers 10] [--mps 10000] [--database-url URL]
                                       [--herald-sync FULL|NORMAL] [--profile OUT.prof]

It starts `herald serve` on a fresh data directory (SQLite, or a fresh PostgreSQL database
made beside `--database-url`), registers `--numbers` senders with `Mps` `--mps` in one
Messaging Service (so Herald's rate limits never bind), writes a CSV of N distinct valid US
numbers and a campaign file, then runs the campaign tool as a user would, each command its
own process: `herald campaign send FILE --json --no-progress`, then (once every message is
final in Herald's database) `herald campaign sync FILE --json` twice, the second with
nothing new to read. The tool's CPU and peak RSS come from `wait4`, Herald's from `/proc`.
The last line is one JSON object with every figure. Everything talks to 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import pstats
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR))

import dispatch  # noqa: E402  (bench/dispatch.py: processes, /proc and credentials)
from inbound import postgres_cpu  # noqa: E402

from herald.store.db import normalize_url  # noqa: E402

REPO = BENCH_DIR.parent
PYTHON = Path(sys.executable)
HERALD = PYTHON.parent / "herald"
API = "/2010-04-01/Accounts/{sid}"
AREA_CODES = ("212", "213", "312", "415", "617", "646", "718", "773")
UNFINISHED = ("accepted", "scheduled", "queued", "sending", "sent")
BODY = "Hi {first_name}, 20% off everything at Herald Shoes today only. Reply STOP to opt out."
FIRST_NAMES = ("Ada", "Grace", "Alan", "Edsger", "Barbara", "Donald", "Frances", "Ken")
POLL_S = 0.2
REPORT_S = 10.0


@dataclass(frozen=True)
class Options:
    recipients: int
    concurrency: int
    numbers: int
    mps: int
    batch_size: int
    herald_sync: str
    database_url: str | None
    stall_timeout: float
    profile: Path | None
    keep: bool
    seed: int


@dataclass
class Herald:
    proc: subprocess.Popen[bytes]
    port: int
    data_dir: Path
    database_url: str  # SQLAlchemy URL of Herald's database, for reading it
    account_sid: str = ""
    auth_token: str = ""

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@dataclass
class Command:
    """One `herald campaign …` process: its answer and what it cost."""

    totals: dict[str, Any]
    elapsed_s: float
    cpu_s: float
    peak_rss_mb: float
    exit_code: int
    herald_cpu_s: float = 0.0  # Herald's CPU while it ran
    postgres_cpu_s: float = 0.0  # PostgreSQL's backends of Herald's database (0 on SQLite)


@dataclass
class Drain:
    """Herald's side of the send: when every message was final, and what it cost."""

    started_us: int  # wall clock when the send command started
    accept_first_us: int = 0
    accept_last_us: int = 0
    last_final_us: int = 0
    latencies_ms: list[float] = field(default_factory=list)  # created -> final, per message
    statuses: dict[str, int] = field(default_factory=dict)
    herald_cpu_s: float = 0.0  # send start until every message final
    postgres_cpu_s: float = 0.0
    stalled: bool = False


# --- Herald ------------------------------------------------------------------------------


def herald_env(
    opts: Options, data_dir: Path, port: int, database_url: str | None
) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HERALD_")}
    env.update(
        HERALD_DATA_DIR=str(data_dir),
        HERALD_PORT=str(port),
        HERALD_LOG_LEVEL="WARNING",
        HERALD_SIMULATOR_LATENCY="instant",
        HERALD_SIMULATOR_SEED="1",
        HERALD_SQLITE_SYNCHRONOUS=opts.herald_sync,
        # The tool's connections are one account's: room for all of them (429 beyond).
        HERALD_API_CONCURRENCY=str(max(100, 2 * opts.concurrency)),
    )
    if database_url:
        env["HERALD_DATABASE_URL"] = database_url
    return env


@contextlib.contextmanager
def herald_running(opts: Options, data_dir: Path) -> Iterator[Herald]:
    with herald_database(opts) as database_url:
        port = dispatch.free_port()
        argv = [str(HERALD), "serve"]
        env = herald_env(opts, data_dir, port, database_url)
        with (data_dir / "server.log").open("ab") as log:
            proc = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=REPO)
        read_url = normalize_url(database_url or f"sqlite:///{data_dir / 'herald.db'}")
        herald = Herald(proc, port, data_dir, read_url)
        try:
            dispatch.wait_healthy(proc, port, data_dir)
            herald.account_sid, herald.auth_token = dispatch.read_credentials(
                data_dir / "credentials.env"
            )
            yield herald
        finally:
            code = dispatch.stop_process(proc)
            if code not in (0, -signal.SIGTERM):
                sys.stderr.write(dispatch.log_tail(data_dir))


@contextlib.contextmanager
def herald_database(opts: Options) -> Iterator[str | None]:
    """None for SQLite; else a fresh PostgreSQL database beside `--database-url`'s,
    dropped at the end (unless --keep)."""
    if not opts.database_url:
        yield None
        return
    import psycopg

    admin = opts.database_url.replace("postgresql+psycopg://", "postgresql://")
    name = f"herald_bench_campaign_{os.getpid()}"
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


def register_pool(opts: Options, herald: Herald) -> str:
    """`--numbers` senders with `Mps` `--mps`, in one new Messaging Service: its SID."""
    with httpx.Client(auth=(herald.account_sid, herald.auth_token), timeout=30) as client:
        response = client.post(f"{herald.url}/v1/Services", data={"FriendlyName": "bench"})
        service = checked(response, "creating the Messaging Service")["sid"]
        base = herald.url + API.format(sid=herald.account_sid)
        for i in range(opts.numbers):
            form = {"PhoneNumber": f"+1415206{i:04d}", "Mps": str(opts.mps)}
            response = client.post(f"{base}/IncomingPhoneNumbers.json", data=form)
            number = checked(response, f"registering {form['PhoneNumber']}")["sid"]
            response = client.post(
                f"{herald.url}/v1/Services/{service}/PhoneNumbers", data={"PhoneNumberSid": number}
            )
            checked(response, f"adding {form['PhoneNumber']} to {service}")
    return str(service)


def checked(response: httpx.Response, doing: str) -> dict[str, Any]:
    if response.status_code != 201:
        raise SystemExit(f"{doing}: {response.status_code} {response.text}")
    found: dict[str, Any] = response.json()
    return found


def herald_cpu(herald: Herald) -> tuple[float, float]:
    """CPU seconds of Herald (server and callback helper) and of PostgreSQL's backends
    serving its database (0 on SQLite)."""
    postgres = 0.0
    if herald.database_url.startswith("postgresql"):
        postgres = sum(postgres_cpu(herald.database_url.rsplit("/", 1)[1]).values())
    return dispatch.tree_cpu_seconds(herald.proc.pid), postgres


# --- the campaign --------------------------------------------------------------------------


def phone_numbers(count: int, seed: int) -> Iterator[str]:
    """`count` distinct valid US numbers over several area codes, exchanges 200–999. Lines
    ending 3000 are left out: the simulator never sends a receipt for them (so they would
    never be final); the other test endings, landlines (99xx) and the seeded random
    failures stay in, as in a real list."""
    rng = random.Random(seed)
    space = len(AREA_CODES) * 800 * 10_000
    made = 0
    for index in rng.sample(range(space), min(space, count + count // 1000 + 10)):
        rest, area = divmod(index, len(AREA_CODES))
        line, exchange = divmod(rest, 800)
        if line == 3000:
            continue
        yield f"+1{AREA_CODES[area]}{200 + exchange}{line:04d}"
        made += 1
        if made == count:
            return


def write_campaign(opts: Options, herald: Herald, service_sid: str, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / "contacts.csv").open("w", encoding="utf-8") as out:
        out.write("contact_id,phone,first_name\n")
        for i, phone in enumerate(phone_numbers(opts.recipients, opts.seed)):
            out.write(f"c{i:07d},{phone},{FIRST_NAMES[i % len(FIRST_NAMES)]}\n")
    path = folder / "bench.toml"
    path.write_text(
        f'name = "bench"\n'
        f"[api]\n"
        f'base_url = "{herald.url}"\n'
        f'account_sid = "{herald.account_sid}"\n'
        f'auth_token = "{herald.auth_token}"\n'
        f"[message]\n"
        f'messaging_service_sid = "{service_sid}"\n'
        f'body = "{BODY}"\n'
        f"[audience]\n"
        f'csv = "contacts.csv"\n'
        f"[send]\n"
        f"concurrency = {opts.concurrency}\n"
        f"[sync]\n"
        f'database_url = "sqlite:///campaign.db"\n'
        f"batch_size = {opts.batch_size}\n",
        encoding="utf-8",
    )
    return path


def run_command(
    argv: list[str], folder: Path, herald: Herald, while_running: Callable[[], None] | None = None
) -> Command:
    """Run one campaign command to its end; its JSON line, wall time, and `wait4` usage
    (CPU of that process alone, its peak RSS). `while_running()` is called every poll."""
    name = argv[argv.index("campaign") + 1] if "campaign" in argv else "command"
    out_path, err_path = folder / f"{name}.out", folder / f"{name}.err"
    herald_before, postgres_before = herald_cpu(herald)
    started = time.monotonic()
    with out_path.open("wb") as out, err_path.open("ab") as err:
        proc = subprocess.Popen(argv, stdout=out, stderr=err, cwd=folder)
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        if while_running is not None:
            while_running()
        time.sleep(0.05)
    proc.returncode = os.waitstatus_to_exitcode(status)
    elapsed = time.monotonic() - started
    herald_after, postgres_after = herald_cpu(herald)
    lines = out_path.read_text(errors="replace").strip().splitlines()
    totals = json.loads(lines[-1]) if lines and lines[-1].startswith("{") else {}
    if proc.returncode != 0 or not totals:
        sys.stderr.write(err_path.read_text(errors="replace")[-4000:])
        raise SystemExit(f"{' '.join(argv[-4:])} exited {proc.returncode}")
    return Command(
        totals=totals,
        elapsed_s=elapsed,
        cpu_s=usage.ru_utime + usage.ru_stime,
        peak_rss_mb=usage.ru_maxrss / 1024,
        exit_code=proc.returncode,
        herald_cpu_s=herald_after - herald_before,
        postgres_cpu_s=postgres_after - postgres_before,
    )


def campaign_argv(command: str, path: Path, profile: Path | None = None) -> list[str]:
    if profile is not None:
        return [str(PYTHON), "-m", "cProfile", "-o", str(profile), "-m", "herald", "campaign",
                command, str(path), "--json", "--no-progress"]  # fmt: skip
    return [str(HERALD), "campaign", command, str(path), "--json", "--no-progress"]


# --- Herald's database ---------------------------------------------------------------------


def unfinished_count(engine: sqlalchemy.Engine) -> tuple[int, int]:
    """(outbound messages, of which not final yet)."""
    query = sqlalchemy.text(
        "SELECT count(*), coalesce(sum(CASE WHEN status IN :open THEN 1 ELSE 0 END), 0) "
        "FROM messages WHERE direction = 'outbound-api'"
    ).bindparams(sqlalchemy.bindparam("open", expanding=True))
    with engine.connect() as conn:
        total, open_ = conn.execute(query, {"open": list(UNFINISHED)}).one()
    return int(total), int(open_)


def wait_final(opts: Options, engine: sqlalchemy.Engine, drain: Drain) -> None:
    """Poll Herald's database until every outbound message is final (or nothing moved for
    `--stall-timeout`)."""
    last, moved_at = -1, time.monotonic()
    while True:
        _, open_ = unfinished_count(engine)
        if open_ == 0:
            break
        if open_ != last:
            last, moved_at = open_, time.monotonic()
        elif time.monotonic() - moved_at > opts.stall_timeout:
            drain.stalled = True
            break
        time.sleep(POLL_S)


def read_drain(engine: sqlalchemy.Engine, drain: Drain) -> None:
    q = sqlalchemy.text
    with engine.connect() as conn:
        rows = conn.execute(
            q("SELECT date_created, date_updated, status FROM messages "
              "WHERE direction = 'outbound-api'")
        ).all()  # fmt: skip
    finals = [(created, updated) for created, updated, status in rows if status not in UNFINISHED]
    drain.statuses = {}
    for _, _, status in rows:
        drain.statuses[status] = drain.statuses.get(status, 0) + 1
    if rows:
        drain.accept_first_us = min(created for created, _, _ in rows)
        drain.accept_last_us = max(created for created, _, _ in rows)
    if finals:
        drain.last_final_us = max(updated for _, updated in finals)
        drain.latencies_ms = sorted((updated - created) / 1000 for created, updated in finals)


class Progress:
    """A line every `REPORT_S` while the send runs: Herald's outbound count and finals."""

    def __init__(self, engine: sqlalchemy.Engine, started: float) -> None:
        self.engine, self.started, self.next_at = engine, started, started + REPORT_S

    def __call__(self) -> None:
        now = time.monotonic()
        if now < self.next_at:
            return
        self.next_at += REPORT_S
        total, open_ = unfinished_count(self.engine)
        print(
            f"  {now - self.started:5.0f} s: {total:,} messages accepted by Herald, "
            f"{total - open_:,} final",
            flush=True,
        )


# --- figures -------------------------------------------------------------------------------


def percentile(values: list[float], share: float) -> float:
    if not values:
        return float("nan")
    return values[min(len(values) - 1, int(share * len(values)))]


@dataclass
class Run:
    opts: Options
    send: Command
    drain: Drain
    syncs: list[Command]
    herald_peak_rss_mb: float
    machine_cpu_s: float  # busy CPU of the whole machine over the run
    own_cpu_s: float  # this process's (polling Herald's database)
    wall_s: float


def figures(run: Run) -> dict[str, Any]:
    opts, send, drain = run.opts, run.send, run.drain
    sent = int(send.totals.get("sent", 0))
    per = max(sent, 1)
    last_final_s = max(drain.last_final_us - drain.started_us, 0) / 1e6
    accept_s = max(drain.accept_last_us - drain.accept_first_us, 1) / 1e6
    return {
        "recipients": opts.recipients,
        "concurrency": opts.concurrency,
        "numbers": opts.numbers,
        "mps_per_number": opts.mps,
        "database": "postgresql" if opts.database_url else "sqlite",
        "herald_synchronous": opts.herald_sync,
        "sent": sent,
        "send_failed": int(send.totals.get("failed", 0)),
        "send_retries": int(send.totals.get("retries", 0)),
        "invalid": int(send.totals.get("invalid", 0)),
        "duplicates": int(send.totals.get("duplicates", 0)),
        "recipients_per_s": round(sent / send.elapsed_s, 1),
        "send_elapsed_s": round(send.elapsed_s, 2),
        "send_tool_elapsed_s": float(send.totals.get("elapsed_s", 0.0)),
        "first_create_s": round(max(drain.accept_first_us - drain.started_us, 0) / 1e6, 2),
        "api_accept_span_s": round(accept_s, 2),
        "api_msgs_per_s": round(sent / accept_s, 1),
        "last_final_s": round(last_final_s, 2),
        "last_final_after_send_s": round(last_final_s - send.elapsed_s, 2),
        "final_p50_ms": round(percentile(drain.latencies_ms, 0.50), 1),
        "final_p99_ms": round(percentile(drain.latencies_ms, 0.99), 1),
        "final_max_ms": round(drain.latencies_ms[-1] if drain.latencies_ms else 0.0, 1),
        "campaign_cpu_ms_per_recipient": round(send.cpu_s / per * 1000, 3),
        "campaign_cpu_s": round(send.cpu_s, 2),
        "campaign_cores": round(send.cpu_s / send.elapsed_s, 2),
        "campaign_peak_rss_mb": round(send.peak_rss_mb, 1),
        "herald_cpu_ms_per_msg": round(drain.herald_cpu_s / per * 1000, 3),
        "herald_cores": round(drain.herald_cpu_s / max(last_final_s, 1e-9), 2),
        "postgres_cpu_ms_per_msg": round(drain.postgres_cpu_s / per * 1000, 3),
        "herald_peak_rss_mb": round(run.herald_peak_rss_mb, 1),
        **sync_figures(run.syncs, per),
        "other_load_cores": round(other_load(run) / run.wall_s, 2),
        "status_counts": drain.statuses,
    }


def sync_figures(syncs: list[Command], per: int) -> dict[str, Any]:
    first, second = syncs
    read = int(first.totals.get("messages_read", 0))
    return {
        "sync_elapsed_s": round(first.elapsed_s, 2),
        "sync_msgs_per_s": round(read / first.elapsed_s, 1),
        "sync_messages_read": read,
        "sync_new_states": int(first.totals.get("new_states", 0)),
        "sync_cpu_ms_per_msg": round(first.cpu_s / per * 1000, 3),
        "sync_peak_rss_mb": round(first.peak_rss_mb, 1),
        "sync_herald_cpu_ms_per_msg": round(first.herald_cpu_s / per * 1000, 3),
        "sync_delivered": int(first.totals.get("delivered", 0)),
        "sync_undelivered": int(first.totals.get("undelivered", 0)),
        "sync_failed": int(first.totals.get("failed", 0)),
        "sync2_elapsed_s": round(second.elapsed_s, 2),
        "sync2_messages_read": int(second.totals.get("messages_read", 0)),
        "sync2_new_states": int(second.totals.get("new_states", 0)),
    }


def other_load(run: Run) -> float:
    ours = run.send.cpu_s + run.drain.herald_cpu_s + run.drain.postgres_cpu_s
    ours += sum(s.cpu_s + s.herald_cpu_s + s.postgres_cpu_s for s in run.syncs)
    return max(0.0, run.machine_cpu_s - ours - run.own_cpu_s)


def warnings_for(fig: dict[str, Any], run: Run) -> list[str]:
    n, statuses = fig["recipients"], fig["status_counts"]
    finals = sum(v for k, v in statuses.items() if k not in UNFINISHED)
    checks = [
        (fig["sent"] != n, f"{fig['sent']:,} of {n:,} recipients sent"),
        (fig["invalid"] or fig["duplicates"], "the audience had invalid or duplicate rows"),
        (fig["send_retries"] > 0, f"{fig['send_retries']} retries (429 or 5xx)"),
        (run.drain.stalled, f"nothing became final for {run.opts.stall_timeout} s: gave up"),
        (finals != fig["sent"], f"{finals:,} of {fig['sent']:,} messages final in Herald"),
        (fig["sync_messages_read"] != fig["sent"], f"the first sync read "
         f"{fig['sync_messages_read']:,} messages, not {fig['sent']:,}"),
        (fig["sync2_messages_read"] or fig["sync2_new_states"], "the second sync found "
         "something new"),
    ]  # fmt: skip
    return [text for failed, text in checks if failed]


def report(fig: dict[str, Any]) -> None:
    f = fig
    after = f["last_final_after_send_s"]
    when = f"{after:.2f} s after" if after >= 0 else f"{-after:.2f} s before"
    rows = [
        ("recipients sent", f"{f['sent']:,}", f"{f['send_failed']} failed, {f['send_retries']} "
         f"retries; concurrency {f['concurrency']}"),
        ("recipients/s", f"{f['recipients_per_s']:,.0f}", f"{f['send_elapsed_s']:.1f} s for "
         f"the whole `send` process ({f['send_tool_elapsed_s']:.1f} s by its own clock)"),
        ("API accepts/s", f"{f['api_msgs_per_s']:,.0f}", f"first to last create in Herald, "
         f"{f['api_accept_span_s']:.1f} s; the first {f['first_create_s']:.2f} s after the start"),
        ("last final", f"{f['last_final_s']:.2f} s", f"from the send's start; {when} the "
         "`send` process exited"),
        ("create -> final", f"{f['final_p50_ms']:.0f} ms", f"p50; p99 {f['final_p99_ms']:.0f} "
         f"ms, max {f['final_max_ms']:.0f} ms"),
        ("campaign CPU", f"{f['campaign_cpu_ms_per_recipient']:.3f} ms", f"per recipient; "
         f"{f['campaign_cores']:.2f} cores, peak RSS {f['campaign_peak_rss_mb']:.0f} MB"),
        ("Herald CPU", f"{f['herald_cpu_ms_per_msg']:.3f} ms", f"per message (accept + "
         f"dispatch); {f['herald_cores']:.2f} cores, peak RSS {f['herald_peak_rss_mb']:.0f} MB"),
        ("full sync", f"{f['sync_elapsed_s']:.2f} s", f"{f['sync_messages_read']:,} read, "
         f"{f['sync_msgs_per_s']:,.0f}/s; {f['sync_new_states']:,} new states; "
         f"{f['sync_cpu_ms_per_msg']:.3f} CPU-ms/msg (Herald "
         f"{f['sync_herald_cpu_ms_per_msg']:.3f}), peak RSS {f['sync_peak_rss_mb']:.0f} MB"),
        ("second sync", f"{f['sync2_elapsed_s']:.2f} s", f"{f['sync2_messages_read']} read, "
         f"{f['sync2_new_states']} new states"),
        ("other load", f"{f['other_load_cores']:.2f}", "cores busy with other processes"),
    ]  # fmt: skip
    if f["database"] == "postgresql":
        rows.insert(7, ("PostgreSQL CPU", f"{f['postgres_cpu_ms_per_msg']:.3f} ms", "per message"))
    for name, value, note in rows:
        print(f"  {name:<16} {value:>12}   {note}")
    print(f"  statuses {f['status_counts']}")


def print_profile(path: Path, top: int = 30) -> None:
    print(f"profile of `herald campaign send` (cProfile, wall clock, main thread) in {path}:")
    stats = pstats.Stats(str(path), stream=sys.stdout)
    stats.sort_stats("tottime").print_stats(top)
    stats.sort_stats("cumulative").print_stats("herald/campaign", top)


# --- main ----------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> Options:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipients", type=int, default=10_000, help="the issue's: 100000")
    parser.add_argument("--concurrency", type=int, default=16, help="the tool's send.concurrency")
    parser.add_argument("--numbers", type=int, default=10, help="senders in the service")
    parser.add_argument("--mps", type=int, default=10_000, help="each sender's Mps (1-10000)")
    parser.add_argument("--batch-size", type=int, default=500, help="the tool's sync.batch_size")
    parser.add_argument("--herald-sync", choices=["FULL", "NORMAL"], default="FULL")
    parser.add_argument("--database-url", help="PostgreSQL for Herald (a fresh database beside)")
    parser.add_argument("--stall-timeout", type=float, default=60.0, help="seconds")
    parser.add_argument("--profile", type=Path, help="run the send under cProfile, write here")
    parser.add_argument("--keep", action="store_true", help="keep the data directory")
    parser.add_argument("--seed", type=int, default=1, help="recipients")
    args = parser.parse_args(argv)
    if not 1 <= args.mps <= 10_000:
        parser.error("--mps must be from 1 to 10000 (Herald's limit)")
    if not 1 <= args.numbers <= 400:
        parser.error("--numbers must be from 1 to 400 (a service's pool)")
    return Options(
        recipients=max(1, args.recipients),
        concurrency=min(1000, max(1, args.concurrency)),
        numbers=args.numbers,
        mps=args.mps,
        batch_size=min(10_000, max(1, args.batch_size)),
        herald_sync=args.herald_sync,
        database_url=args.database_url,
        stall_timeout=args.stall_timeout,
        profile=args.profile.resolve() if args.profile else None,
        keep=args.keep,
        seed=args.seed,
    )


def measure(opts: Options, herald: Herald, path: Path) -> Run:
    engine = sqlalchemy.create_engine(herald.database_url)
    machine_before, own_before = dispatch.machine_seconds()[0], dispatch.own_cpu_seconds()
    herald_before, postgres_before = herald_cpu(herald)
    started = time.monotonic()
    drain = Drain(started_us=dispatch.now_us())
    print(f"send: {opts.recipients:,} recipients, concurrency {opts.concurrency}", flush=True)
    send = run_command(
        campaign_argv("send", path, opts.profile), path.parent, herald, Progress(engine, started)
    )
    print(f"send done in {send.elapsed_s:.1f} s; waiting for every message to be final", flush=True)
    wait_final(opts, engine, drain)
    herald_after, postgres_after = herald_cpu(herald)
    drain.herald_cpu_s = herald_after - herald_before
    drain.postgres_cpu_s = postgres_after - postgres_before
    read_drain(engine, drain)
    syncs = []
    for label in ("full sync", "second sync"):
        print(f"{label} …", flush=True)
        syncs.append(run_command(campaign_argv("sync", path), path.parent, herald))
    engine.dispose()
    return Run(
        opts=opts,
        send=send,
        drain=drain,
        syncs=syncs,
        herald_peak_rss_mb=dispatch.tree_peak_rss_mb(herald.proc.pid),
        machine_cpu_s=dispatch.machine_seconds()[0] - machine_before,
        own_cpu_s=dispatch.own_cpu_seconds() - own_before,
        wall_s=time.monotonic() - started,
    )


def main(argv: list[str] | None = None) -> int:
    opts = parse_args(argv)
    data_dir = Path(tempfile.mkdtemp(prefix="herald-bench-campaign-"))
    where = "PostgreSQL" if opts.database_url else f"SQLite ({opts.herald_sync})"
    print(
        f"campaign: {opts.recipients:,} recipients through a Messaging Service of "
        f"{opts.numbers} numbers at Mps {opts.mps}, the instant simulator; Herald on {where}, "
        f"the campaign database on SQLite, both on {dispatch.filesystem_of(data_dir)} "
        f"({data_dir}); {os.cpu_count()} CPUs shared by the tool and Herald, load average "
        f"{os.getloadavg()[0]:.2f} at start",
        flush=True,
    )
    try:
        with herald_running(opts, data_dir) as herald:
            service_sid = register_pool(opts, herald)
            path = write_campaign(opts, herald, service_sid, data_dir / "campaign")
            run = measure(opts, herald, path)
        fig = figures(run)
        report(fig)
        if opts.profile is not None and opts.profile.exists():
            print_profile(opts.profile)
        dispatch.print_warnings(warnings_for(fig, run))
        print(json.dumps(fig), flush=True)
    finally:
        dispatch.discard(data_dir, opts.keep)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
