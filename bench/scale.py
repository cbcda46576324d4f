"""Scale-out benchmark: the dispatch benchmark on PostgreSQL with 1 and with 2 `herald
serve` processes sharing the senders through leases.

    .venv/bin/python bench/scale.py [--messages 20000] [--senders 500] [--mps 1000]
                                    [--processes 1 2] [--database-url URL]

For each process count it creates a fresh PostgreSQL database, registers the senders
through one node's API, bulk-inserts N `queued` messages (as bench/dispatch.py does for
SQLite, each with a status callback to a local receiver), starts the nodes together and
measures until every message is final and every callback has arrived. It prints
messages/s, callbacks/s, Herald's CPU (all nodes and their helpers) and PostgreSQL's, and
messages per CPU-second; then the ratios of 2 processes to 1. On this 2-core machine,
with PostgreSQL on the same cores, two processes cannot double throughput; the aim is that
messages per Herald CPU-second with 2 stay >= 0.85 x one process. The last line is one
JSON object. Everything talks to 127.0.0.1 only; the databases are dropped at the end.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import deque
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR))

import dispatch  # noqa: E402  (bench/dispatch.py: the same set-up and measurements)

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
FINAL = ("delivered", "undelivered", "failed")


def postgres_cpu() -> dict[int, float]:
    """CPU of each PostgreSQL server process on the machine, by pid (a backend's CPU is
    gone with it when its connection closes, so sample while the nodes run)."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            if (entry / "comm").read_text().strip().startswith("postgres"):
                found[int(entry.name)] = dispatch.cpu_seconds(int(entry.name))
    return found


KEEP = False  # --keep: leave the databases for a look afterwards


@contextlib.contextmanager
def fresh_database(admin_url: str, name: str) -> Iterator[str]:
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    base, _, _ = admin_url.rpartition("/")
    try:
        yield f"{base}/{name}"
    finally:
        if KEEP:
            print(f"database kept: {base}/{name}", file=sys.stderr)
        else:
            with psycopg.connect(admin_url, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def spawn(url: str, data_dir: Path, port: int) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HERALD_")}
    env.update(
        HERALD_DATA_DIR=str(data_dir),
        HERALD_DATABASE_URL=url,
        HERALD_LOG_LEVEL="WARNING",
        HERALD_SIMULATOR_LATENCY="instant",
        HERALD_SIMULATOR_SEED="1",
        HERALD_WEBHOOK_ALLOW_PRIVATE="true",  # the receiver listens on 127.0.0.1
    )
    data_dir.mkdir(parents=True, exist_ok=True)
    with (data_dir / "server.log").open("ab") as log:
        return subprocess.Popen(
            [str(dispatch.PYTHON), "-m", "herald", "serve", "--port", str(port)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=dispatch.REPO,
        )


def insert_messages(url: str, rows: Iterator[dict[str, Any]]) -> tuple[int, int]:
    rows_list = list(rows)
    columns = list(rows_list[0])
    sql = (
        f"INSERT INTO messages ({', '.join(columns)}) "
        f"VALUES ({', '.join('%(' + c + ')s' for c in columns)})"
    )
    for row in rows_list:
        row["provide_feedback"] = bool(row["provide_feedback"])
    with psycopg.connect(url) as conn, conn.cursor() as cursor:
        cursor.executemany(sql, rows_list)
    return len(rows_list), sum(r["num_segments"] for r in rows_list)


def prepare(opts: dispatch.Options, url: str, work: Path, hook: str) -> tuple[int, int]:
    port = dispatch.free_port()
    proc = spawn(url, work / "setup", port)
    try:
        dispatch.wait_healthy(proc, port, work / "setup")
        account_sid, senders = dispatch.register_senders(opts, port, work / "setup")
    finally:
        dispatch.stop_process(proc)
    return insert_messages(url, dispatch.message_rows(opts, account_sid, senders, hook))


def progress(url: str) -> tuple[int, int, int]:
    """(messages not final, first submission µs, last final µs)."""
    with psycopg.connect(url) as conn:
        waiting = conn.execute(
            "SELECT count(*) FROM messages WHERE status NOT IN (%s, %s, %s)", FINAL
        ).fetchone()
        first = conn.execute("SELECT min(received_at) FROM simulator_submissions").fetchone()
        last = conn.execute("SELECT max(date_updated) FROM messages").fetchone()
    assert waiting is not None and first is not None and last is not None
    return int(waiting[0]), int(first[0] or 0), int(last[0] or 0)


def worst_window(url: str, mps: int) -> tuple[float, int]:
    """The busiest one-second window of any sender ÷ MPS, and resends the simulator saw."""
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT sender, received_at FROM simulator_submissions ORDER BY sender, received_at"
        ).fetchall()
        duplicates = conn.execute(
            "SELECT count(*) FROM simulator_submissions WHERE duplicate"
        ).fetchone()
    worst, sender, window = 0, None, deque[int]()
    for who, at in rows:
        if who != sender:
            sender, window = who, deque()
        window.append(at)
        while window[0] <= at - 1_000_000:
            window.popleft()
        worst = max(worst, len(window))
    return worst / mps, int(duplicates[0]) if duplicates else 0


def run(opts: dispatch.Options, admin_url: str, processes: int) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix=f"herald-bench-scale-{processes}-"))
    name = f"herald_bench_scale_{os.getpid()}_{processes}"
    try:
        with (
            fresh_database(admin_url, name) as url,
            dispatch.receiver_running() as (receiver, hook),
        ):
            messages, segments = prepare(opts, url, work, f"{hook}/status")
            pg_before, receiver_before = postgres_cpu(), dispatch.cpu_seconds(receiver.pid)
            pg_seen = dict(pg_before)
            started = time.monotonic()
            nodes = [spawn(url, work / f"node{i}", dispatch.free_port()) for i in range(processes)]
            herald_cpu: dict[int, float] = {}
            try:
                deadline = started + opts.stall_timeout * 4
                while time.monotonic() < deadline:
                    time.sleep(dispatch.POLL_S)
                    for proc in nodes:
                        with contextlib.suppress(OSError):
                            herald_cpu[proc.pid] = dispatch.tree_cpu_seconds(proc.pid)
                    pg_seen.update(postgres_cpu())
                    if dispatch.receiver_tally(hook)["count"] >= 2 * messages:
                        break
                wall = time.monotonic() - started
            finally:
                for proc in nodes:
                    dispatch.stop_process(proc)
            tally = dispatch.receiver_tally(hook)
            pg_cpu = sum(pg_seen.values()) - sum(pg_before.values())
            receiver_cpu = dispatch.cpu_seconds(receiver.pid) - receiver_before
            waiting, first_us, last_us = progress(url)
            ratio, duplicates = worst_window(url, opts.mps)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    drain_s = max(last_us - first_us, 1) / 1e6
    cpu = sum(herald_cpu.values())
    return {
        "processes": processes,
        "messages": messages,
        "segments": segments,
        "not_final": waiting,
        "callbacks_received": tally["count"],
        "callback_duplicates_received": tally["duplicates"],
        "drain_s": round(drain_s, 2),
        "wall_s": round(wall, 2),
        "msgs_per_s": round(messages / drain_s, 1),
        "callbacks_per_s": round(tally["count"] / wall, 1),
        "herald_cpu_s": round(cpu, 2),
        "postgres_cpu_s": round(pg_cpu, 2),
        "receiver_cpu_s": round(receiver_cpu, 2),
        "msgs_per_herald_cpu_s": round(messages / max(cpu, 1e-9), 1),
        "msgs_per_cpu_s": round(messages / max(cpu + pg_cpu, 1e-9), 1),
        "worst_window_over_mps": round(ratio, 3),
        "simulator_duplicates": duplicates,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--senders", type=int, default=500)
    parser.add_argument("--mps", type=int, default=1000)
    parser.add_argument("--processes", type=int, nargs="+", default=[1, 2])
    parser.add_argument(
        "--database-url", default=os.environ.get("HERALD_BENCH_DATABASE_URL", DEFAULT_URL),
        help="a PostgreSQL URL whose user may create databases (the benchmark's are made "
        "and dropped beside it)",
    )  # fmt: skip
    parser.add_argument("--keep", action="store_true", help="keep the databases afterwards")
    args = parser.parse_args(argv)
    global KEEP
    KEEP = args.keep
    opts = dispatch.Options(
        messages=args.messages,
        senders=args.senders,
        mps=args.mps,
        fail_share=0.05,
        herald_sync="FULL",
        callback_processes=1,
        stall_timeout=60.0,
        profile=None,
        keep=False,
        seed=1,
    )
    print(
        f"scale: {opts.messages:,} messages from {opts.senders} senders on PostgreSQL, "
        f"{' and '.join(map(str, args.processes))} processes; {os.cpu_count()} CPUs",
        flush=True,
    )
    results = []
    for processes in args.processes:
        result = run(opts, args.database_url, processes)
        results.append(result)
        print(
            f"{processes} process{'es' if processes > 1 else ''}: {result['msgs_per_s']:,.0f} "
            f"messages/s, {result['callbacks_per_s']:,.0f} callbacks/s; Herald CPU "
            f"{result['herald_cpu_s']:.1f} s ({result['msgs_per_herald_cpu_s']:,.0f} messages "
            f"per CPU-second), PostgreSQL {result['postgres_cpu_s']:.1f} s "
            f"({result['msgs_per_cpu_s']:,.0f} per CPU-second with it); worst window / MPS "
            f"{result['worst_window_over_mps']:.3f}; duplicates {result['simulator_duplicates']}; "
            f"callbacks received twice {result['callback_duplicates_received']}",
            flush=True,
        )
        if result["not_final"] or result["callbacks_received"] < 2 * result["messages"]:
            print(f"WARNING: {processes} processes did not finish: {result}", file=sys.stderr)
    figures: dict[str, Any] = {"runs": results}
    by = {r["processes"]: r for r in results}
    if 1 in by and 2 in by:
        figures["throughput_ratio_2_to_1"] = round(by[2]["msgs_per_s"] / by[1]["msgs_per_s"], 3)
        figures["efficiency_ratio_2_to_1"] = round(
            by[2]["msgs_per_herald_cpu_s"] / by[1]["msgs_per_herald_cpu_s"], 3
        )
        figures["efficiency_ratio_with_postgres_2_to_1"] = round(
            by[2]["msgs_per_cpu_s"] / by[1]["msgs_per_cpu_s"], 3
        )
        print(
            f"2 processes / 1: throughput {figures['throughput_ratio_2_to_1']:.2f}, messages per "
            f"Herald CPU-second {figures['efficiency_ratio_2_to_1']:.2f} (aim >= 0.85), per "
            f"CPU-second with PostgreSQL {figures['efficiency_ratio_with_postgres_2_to_1']:.2f}"
        )
    print(json.dumps(figures), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
