"""API-accept benchmark: how many message creates per second Herald accepts, against a
bare Starlette + SQLite app (bench/baseline_app.py) measured in the same run.

    .venv/bin/python bench/api_accept.py [--duration 10] [--connections 64] [--threads 1]
                                         [--herald-sync FULL|NORMAL]

wrk (Debian's package; `make bench` installs it) drives N keep-alive connections that POST
a form to /Messages.json (bench/accept.lua). For each server it prints accepted
messages/s, p50/p99 latency, peak RSS and server CPU per 1000 messages, checks that every
2xx left a row in the database, and prints the ratio Herald ÷ baseline. The last line is
one JSON object with every figure. wrk runs on the same cores as the server.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
PYTHON = Path(sys.executable)
LUA = BENCH_DIR / "accept.lua"
MESSAGES_PATH = "/2010-04-01/Accounts/{sid}/Messages.json"
SENDER = "+14155550100"
CLK_TCK = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Options:
    duration: int
    warmup: int
    connections: int
    threads: int
    herald_sync: str
    baseline_sync: list[str]
    wrk: str


@dataclass
class Server:
    """A server process under test, and what wrk needs to talk to it."""

    name: str
    proc: subprocess.Popen[bytes]
    port: int
    db_path: Path
    account_sid: str
    auth_token: str
    log_path: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}" + MESSAGES_PATH.format(sid=self.account_sid)

    @property
    def basic(self) -> str:
        return base64.b64encode(f"{self.account_sid}:{self.auth_token}".encode()).decode()


@dataclass
class Figures:
    """One measured run of one server."""

    label: str
    msgs_per_s: float
    p50_ms: float
    p99_ms: float
    peak_rss_mb: float
    cpu_s_per_1k_msgs: float
    ok: int
    non2xx: int
    socket_errors: int
    stored: int
    wrk_cpu_s: float
    extra: dict[str, float] = field(default_factory=dict)

    def as_json(self, prefix: str) -> dict[str, float | int]:
        return {
            f"{prefix}_msgs_per_s": round(self.msgs_per_s, 1),
            f"{prefix}_p50_ms": round(self.p50_ms, 2),
            f"{prefix}_p99_ms": round(self.p99_ms, 2),
            f"{prefix}_peak_rss_mb": round(self.peak_rss_mb, 1),
            f"{prefix}_cpu_s_per_1k_msgs": round(self.cpu_s_per_1k_msgs, 3),
            f"{prefix}_ok_responses": self.ok,
            f"{prefix}_non2xx_responses": self.non2xx,
            f"{prefix}_socket_errors": self.socket_errors,
            f"{prefix}_stored_msgs": self.stored,
        }


# --- processes -------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def wait_healthy(server: Server, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if server.proc.poll() is not None:
            break
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"http://127.0.0.1:{server.port}/healthz", timeout=1).status_code == 200:
                return
        time.sleep(0.1)
    sys.stderr.write(server.log_path.read_text(errors="replace")[-4000:])
    raise SystemExit(f"{server.name} did not become healthy on port {server.port}")


def spawn(argv: list[str], env: dict[str, str], log_path: Path) -> subprocess.Popen[bytes]:
    log = log_path.open("wb")
    return subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=REPO)


def stop(server: Server) -> None:
    server.proc.terminate()
    try:
        server.proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        server.proc.kill()
        server.proc.wait()


def read_credentials(path: Path) -> tuple[str, str]:
    values = dict(
        line.split("=", 1) for line in path.read_text().splitlines() if "=" in line.strip()
    )
    return values["TWILIO_ACCOUNT_SID"], values["TWILIO_AUTH_TOKEN"]


def start_herald(data_dir: Path, synchronous: str) -> Server:
    port = free_port()
    env = {
        **os.environ,
        "HERALD_DATA_DIR": str(data_dir),
        "HERALD_LOG_LEVEL": "WARNING",
        "HERALD_SQLITE_SYNCHRONOUS": synchronous,
    }
    env.pop("HERALD_DATABASE_URL", None)
    herald = PYTHON.parent / "herald"
    log_path = data_dir / "server.log"
    proc = spawn([str(herald), "serve", "--port", str(port)], env, log_path)
    server = Server(f"herald ({synchronous})", proc, port, data_dir / "herald.db", "", "", log_path)
    wait_healthy(server)
    server.account_sid, server.auth_token = read_credentials(data_dir / "credentials.env")
    register_sender(server)
    return server


def register_sender(server: Server) -> None:
    url = f"http://127.0.0.1:{server.port}/2010-04-01/Accounts/{server.account_sid}"
    response = httpx.post(
        f"{url}/IncomingPhoneNumbers.json",
        data={"PhoneNumber": SENDER},
        auth=(server.account_sid, server.auth_token),
        timeout=10,
    )
    if response.status_code != 201:
        raise SystemExit(f"registering {SENDER} failed: {response.status_code} {response.text}")


def start_baseline(data_dir: Path, synchronous: str) -> Server:
    sys.path.insert(0, str(BENCH_DIR))
    import baseline_app

    port = free_port()
    db_path = data_dir / "baseline.db"
    argv = [str(PYTHON), str(BENCH_DIR / "baseline_app.py"), "--port", str(port)]
    argv += ["--db", str(db_path), "--synchronous", synchronous]
    log_path = data_dir / "server.log"
    proc = spawn(argv, dict(os.environ), log_path)
    server = Server(
        f"baseline ({synchronous})",
        proc,
        port,
        db_path,
        baseline_app.ACCOUNT_SID,
        baseline_app.AUTH_TOKEN,
        log_path,
    )
    wait_healthy(server)
    return server


# --- /proc and the database ------------------------------------------------------------


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def cpu_seconds(pid: int) -> float:
    """User + system CPU of the whole process (all its threads)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def count_messages(db_path: Path) -> int:
    with contextlib.closing(sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)) as conn:
        (count,) = conn.execute("SELECT count(*) FROM messages").fetchone()
        return int(count)


def filesystem_of(path: Path) -> str:
    best, kind = "", "?"
    for line in Path("/proc/mounts").read_text().splitlines():
        parts = line.split()
        mount = parts[1]
        if str(path).startswith(mount) and len(mount) > len(best):
            best, kind = mount, parts[2]
    return kind


# --- wrk --------------------------------------------------------------------------------


def run_wrk(opts: Options, server: Server, seconds: int) -> tuple[dict[str, float], float]:
    """Run wrk against `server`; its WRK_RESULT line and wrk's own CPU seconds."""
    argv = [opts.wrk, f"-t{opts.threads}", f"-c{opts.connections}", f"-d{seconds}s"]
    argv += ["--timeout", "10s", "-s", str(LUA), server.url, "--", server.basic]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    assert proc.stdout is not None
    output = proc.stdout.read().decode(errors="replace")
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    for line in output.splitlines():
        if line.startswith("WRK_RESULT "):
            return json.loads(line.removeprefix("WRK_RESULT ")), usage.ru_utime + usage.ru_stime
    raise SystemExit(f"wrk printed no result (exit {proc.returncode}):\n{output}")


def measure(opts: Options, server: Server, label: str) -> Figures:
    if opts.warmup > 0:
        run_wrk(opts, server, opts.warmup)
    time.sleep(0.5)
    stored_before = count_messages(server.db_path)
    cpu_before = cpu_seconds(server.proc.pid)
    result, wrk_cpu = run_wrk(opts, server, opts.duration)
    cpu_used = cpu_seconds(server.proc.pid) - cpu_before
    time.sleep(0.5)  # let requests in flight when wrk stopped reach their commit
    stored = count_messages(server.db_path) - stored_before
    non2xx = int(result["non2xx"])
    ok = int(result["requests"]) - non2xx
    errors = sum(int(result[k]) for k in ("connect_errors", "read_errors", "write_errors"))
    return Figures(
        label=label,
        msgs_per_s=ok / (result["duration_us"] / 1e6),
        p50_ms=result["p50_us"] / 1000,
        p99_ms=result["p99_us"] / 1000,
        peak_rss_mb=peak_rss_mb(server.proc.pid),
        cpu_s_per_1k_msgs=cpu_used / max(ok, 1) * 1000,
        ok=ok,
        non2xx=non2xx,
        socket_errors=errors + int(result["timeouts"]),
        stored=stored,
        wrk_cpu_s=wrk_cpu,
        extra={"server_cpu_s": cpu_used, "duration_s": result["duration_us"] / 1e6},
    )


@contextlib.contextmanager
def running(kind: str, synchronous: str) -> Iterator[Server]:
    data_dir = Path(tempfile.mkdtemp(prefix=f"herald-bench-{kind}-"))
    server = (start_herald if kind == "herald" else start_baseline)(data_dir, synchronous)
    try:
        yield server
    finally:
        stop(server)
        shutil.rmtree(data_dir, ignore_errors=True)


# --- report -----------------------------------------------------------------------------


def check(fig: Figures, connections: int) -> list[str]:
    """Loud warnings for anything that makes the figures meaningless."""
    warnings = []
    if fig.non2xx:
        warnings.append(f"{fig.label}: {fig.non2xx} responses were not 2xx")
    if fig.socket_errors:
        warnings.append(f"{fig.label}: {fig.socket_errors} socket errors or timeouts")
    if fig.stored < fig.ok:
        warnings.append(f"{fig.label}: LOST MESSAGES: {fig.ok} accepted, {fig.stored} stored")
    slack = connections + fig.socket_errors
    if fig.stored > fig.ok + slack:
        warnings.append(f"{fig.label}: {fig.stored} stored but only {fig.ok} accepted")
    return warnings


def print_figures(fig: Figures) -> None:
    in_flight = fig.stored - fig.ok
    print(
        f"{fig.label:<22} {fig.msgs_per_s:>9,.0f} msg/s   p50 {fig.p50_ms:6.2f} ms   "
        f"p99 {fig.p99_ms:6.2f} ms   peak RSS {fig.peak_rss_mb:6.1f} MB   "
        f"CPU {fig.cpu_s_per_1k_msgs:.3f} s/1k msgs"
    )
    print(
        f"{'':<22} {fig.ok:,} 2xx, {fig.non2xx} non-2xx, {fig.socket_errors} socket errors; "
        f"{fig.stored:,} rows stored (+{in_flight} in flight when wrk stopped); "
        f"server CPU {fig.extra['server_cpu_s']:.1f} s, wrk CPU {fig.wrk_cpu_s:.1f} s",
        flush=True,
    )


def parse_args(argv: list[str] | None = None) -> Options:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=10, help="seconds measured per server")
    parser.add_argument("--warmup", type=int, default=2, help="seconds of load before measuring")
    parser.add_argument("--connections", type=int, default=64, help="concurrent HTTP clients")
    parser.add_argument("--threads", type=int, default=1, help="wrk threads")
    parser.add_argument("--herald-sync", choices=["FULL", "NORMAL"], default="FULL")
    parser.add_argument(
        "--baseline-sync",
        nargs="+",
        choices=["NORMAL", "FULL"],
        default=["NORMAL", "FULL"],
        help="baseline runs; the first is the headline ratio's denominator",
    )
    parser.add_argument("--wrk", default=shutil.which("wrk") or "wrk", help="wrk binary")
    args = parser.parse_args(argv)
    return Options(
        duration=args.duration,
        warmup=args.warmup,
        connections=min(args.connections, 10_000),
        threads=max(1, min(args.threads, args.connections)),
        herald_sync=args.herald_sync,
        baseline_sync=list(dict.fromkeys(args.baseline_sync)),
        wrk=args.wrk,
    )


def summary(opts: Options, herald: Figures, baselines: dict[str, Figures]) -> dict[str, object]:
    headline = opts.baseline_sync[0]
    out: dict[str, object] = {
        "connections": opts.connections,
        "wrk_threads": opts.threads,
        "duration_s": opts.duration,
        "herald_synchronous": opts.herald_sync,
        "baseline_synchronous": headline,
        **herald.as_json("herald"),
        **baselines[headline].as_json("baseline"),
    }
    for sync, fig in baselines.items():
        if sync != headline:
            out.update(fig.as_json(f"baseline_{sync.lower()}"))
            out[f"ratio_vs_{sync.lower()}"] = round(herald.msgs_per_s / fig.msgs_per_s, 3)
    out["ratio"] = round(herald.msgs_per_s / baselines[headline].msgs_per_s, 3)
    return out


def print_ratios(opts: Options, herald: Figures, baselines: dict[str, Figures]) -> None:
    for i, (sync, fig) in enumerate(baselines.items()):
        ratio = herald.msgs_per_s / fig.msgs_per_s
        tag = "  <- headline (aim >= 0.5)" if i == 0 else ""
        print(f"ratio herald ({opts.herald_sync}) / baseline ({sync}): {ratio:.3f}{tag}")


def preamble(opts: Options) -> None:
    if shutil.which(opts.wrk) is None:
        raise SystemExit("wrk not found: run `make bench` or `apt-get install -y wrk`")
    print(
        f"api-accept: wrk -t{opts.threads} -c{opts.connections} -d{opts.duration}s "
        f"(+{opts.warmup}s warm-up) per server; POST Messages.json form, Basic auth; "
        f"data on {filesystem_of(Path(tempfile.gettempdir()))} ({tempfile.gettempdir()})"
    )
    print(
        f"note: {os.cpu_count()} CPUs shared by wrk and the server under test; "
        "figures are for this machine only, compare the ratio",
        flush=True,
    )


def main(argv: list[str] | None = None) -> int:
    opts = parse_args(argv)
    preamble(opts)
    with running("herald", opts.herald_sync) as server:
        herald = measure(opts, server, server.name)
    print_figures(herald)
    baselines: dict[str, Figures] = {}
    for sync in opts.baseline_sync:
        with running("baseline", sync) as server:
            baselines[sync] = measure(opts, server, server.name)
        print_figures(baselines[sync])
    print_ratios(opts, herald, baselines)
    for warning in [w for f in (herald, *baselines.values()) for w in check(f, opts.connections)]:
        print(f"WARNING: {warning} -- the figures above are not trustworthy", file=sys.stderr)
    print(json.dumps(summary(opts, herald, baselines)), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
