"""API-accept benchmark: how many message creates per second Herald accepts, against a
bare Starlette + SQLite app (bench/baseline_app.py) measured in the same run.

    .venv/bin/python bench/api_accept.py [--duration 12] [--rounds 3] [--connections 64]
                                         [--threads 1] [--herald-sync FULL|NORMAL]

wrk (Debian's package; `make bench` installs it) drives N keep-alive connections that POST
a form to /Messages.json (bench/accept.lua). All servers run side by side (an idle one
uses no CPU) and are measured in interleaved rounds, so a burst of other load on the
machine hits them alike. For each server it prints accepted messages/s, p50/p99 latency,
peak RSS and server CPU per 1000 messages, checks that every 2xx left a row in the
database, and prints the ratio Herald ÷ baseline. The last line is one JSON object with
every figure. wrk runs on the same cores as the servers.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import itertools
import json
import os
import shutil
import socket
import sqlite3
import statistics
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
_wrk_runs = itertools.count()


@dataclass(frozen=True)
class Options:
    duration: int
    rounds: int
    warmup: int
    connections: int
    threads: int
    herald_sync: str
    baseline_sync: list[str]
    wrk: str

    @property
    def slice_s(self) -> int:
        return max(1, round(self.duration / self.rounds))


@dataclass
class Slice:
    """One wrk run against one server: wrk's WRK_RESULT and the CPU it cost."""

    wrk: dict[str, float]
    server_cpu_s: float
    wrk_cpu_s: float
    machine_cpu_s: float

    @property
    def ok(self) -> int:
        return int(self.wrk["requests"]) - int(self.wrk["non2xx"])

    @property
    def seconds(self) -> float:
        return self.wrk["duration_us"] / 1e6

    @property
    def msgs_per_s(self) -> float:
        return self.ok / self.seconds


@dataclass
class Server:
    """A server process under test, what wrk needs to talk to it, and its measured slices."""

    kind: str
    synchronous: str
    proc: subprocess.Popen[bytes]
    port: int
    data_dir: Path
    db_path: Path
    account_sid: str = ""
    auth_token: str = ""
    slices: list[Slice] = field(default_factory=list)
    stored: int = 0

    @property
    def label(self) -> str:
        return f"{self.kind} ({self.synchronous})"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}" + MESSAGES_PATH.format(sid=self.account_sid)

    @property
    def basic(self) -> str:
        return base64.b64encode(f"{self.account_sid}:{self.auth_token}".encode()).decode()

    @property
    def log_path(self) -> Path:
        return self.data_dir / "server.log"


@dataclass
class Figures:
    """What one server achieved over all its slices."""

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
    server_cpu_s: float
    wrk_cpu_s: float
    other_cpu_s: float
    seconds: float
    per_round: list[float]

    def as_json(self, prefix: str) -> dict[str, object]:
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
            f"{prefix}_other_load_cores": round(self.other_cpu_s / self.seconds, 2),
            f"{prefix}_round_msgs_per_s": [round(x, 1) for x in self.per_round],
        }


# --- processes -------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def spawn(argv: list[str], env: dict[str, str], log_path: Path) -> subprocess.Popen[bytes]:
    with log_path.open("wb") as log:
        return subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=REPO)


def wait_healthy(server: Server, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and server.proc.poll() is None:
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"http://127.0.0.1:{server.port}/healthz", timeout=1).status_code == 200:
                return
        time.sleep(0.1)
    sys.stderr.write(server.log_path.read_text(errors="replace")[-4000:])
    raise SystemExit(f"{server.label} did not become healthy on port {server.port}")


def stop(server: Server) -> None:
    server.proc.terminate()
    try:
        server.proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        server.proc.kill()
        server.proc.wait()


def read_credentials(path: Path) -> tuple[str, str]:
    pairs = [line.split("=", 1) for line in path.read_text().splitlines() if "=" in line]
    values = {key.strip(): value.strip() for key, value in pairs}
    return values["TWILIO_ACCOUNT_SID"], values["TWILIO_AUTH_TOKEN"]


def start_herald(data_dir: Path, synchronous: str, connections: int) -> Server:
    env = {
        **os.environ,
        "HERALD_DATA_DIR": str(data_dir),
        "HERALD_LOG_LEVEL": "WARNING",
        "HERALD_SQLITE_SYNCHRONOUS": synchronous,
        # Every create goes from one 1-MPS sender: a queue horizon this long keeps the
        # overflow rule (21611) from refusing them, so every request is a full accept.
        "HERALD_QUEUE_HORIZON_S": "1000000000",
        # All connections are one account's: the default limit (100), or room for each
        # connection's request, so none is refused 429; the count is kept all the same.
        "HERALD_API_CONCURRENCY": str(max(100, connections)),
    }
    env.pop("HERALD_DATABASE_URL", None)
    port = free_port()
    argv = [str(PYTHON.parent / "herald"), "serve", "--port", str(port)]
    proc = spawn(argv, env, data_dir / "server.log")
    return Server("herald", synchronous, proc, port, data_dir, data_dir / "herald.db")


def start_baseline(data_dir: Path, synchronous: str) -> Server:
    port = free_port()
    db_path = data_dir / "baseline.db"
    argv = [str(PYTHON), str(BENCH_DIR / "baseline_app.py"), "--port", str(port)]
    argv += ["--db", str(db_path), "--synchronous", synchronous]
    proc = spawn(argv, dict(os.environ), data_dir / "server.log")
    return Server("baseline", synchronous, proc, port, data_dir, db_path)


def ready(server: Server) -> None:
    """Wait for /healthz, then learn the credentials (and, on Herald, register From)."""
    wait_healthy(server)
    if server.kind == "baseline":
        sys.path.insert(0, str(BENCH_DIR))
        import baseline_app

        server.account_sid, server.auth_token = baseline_app.ACCOUNT_SID, baseline_app.AUTH_TOKEN
        return
    server.account_sid, server.auth_token = read_credentials(server.data_dir / "credentials.env")
    url = f"http://127.0.0.1:{server.port}/2010-04-01/Accounts/{server.account_sid}"
    response = httpx.post(
        f"{url}/IncomingPhoneNumbers.json",
        data={"PhoneNumber": SENDER},
        auth=(server.account_sid, server.auth_token),
        timeout=10,
    )
    if response.status_code != 201:
        raise SystemExit(f"registering {SENDER} failed: {response.status_code} {response.text}")


@contextlib.contextmanager
def servers_running(opts: Options) -> Iterator[list[Server]]:
    """Herald and each baseline, started side by side; stopped and deleted on exit."""
    plan = [("herald", opts.herald_sync)] + [("baseline", s) for s in opts.baseline_sync]
    servers: list[Server] = []
    try:
        for kind, sync in plan:
            data_dir = Path(tempfile.mkdtemp(prefix=f"herald-bench-{kind}-"))
            if kind == "herald":
                servers.append(start_herald(data_dir, sync, opts.connections))
            else:
                servers.append(start_baseline(data_dir, sync))
        for server in servers:
            ready(server)
        yield servers
    finally:
        for server in servers:
            stop(server)
            shutil.rmtree(server.data_dir, ignore_errors=True)


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


def machine_busy_seconds() -> float:
    """CPU seconds all cores spent busy (not idle, not waiting on I/O) since boot."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (sum(fields[:8]) - fields[3] - fields[4]) / CLK_TCK


def count_messages(db_path: Path) -> int:
    with contextlib.closing(sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)) as conn:
        (count,) = conn.execute("SELECT count(*) FROM messages").fetchone()
        return int(count)


def filesystem_of(path: Path) -> str:
    best, kind = "", "?"
    for line in Path("/proc/mounts").read_text().splitlines():
        mount, fstype = line.split()[1:3]
        if str(path.resolve()).startswith(mount) and len(mount) > len(best):
            best, kind = mount, fstype
    return kind


# --- wrk --------------------------------------------------------------------------------


def run_wrk(opts: Options, server: Server, seconds: int) -> tuple[dict[str, float], float]:
    """Run wrk against `server`; its WRK_RESULT object and wrk's own CPU seconds."""
    argv = [opts.wrk, f"-t{opts.threads}", f"-c{opts.connections}", f"-d{seconds}s"]
    start = next(_wrk_runs) * 1_000_000  # a fresh range of To numbers for each run
    argv += ["--timeout", "10s", "-s", str(LUA), server.url, "--", server.basic, str(start)]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    assert proc.stdout is not None
    output = proc.stdout.read().decode(errors="replace")
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    for line in output.splitlines():
        if line.startswith("WRK_RESULT "):
            return json.loads(line.removeprefix("WRK_RESULT ")), usage.ru_utime + usage.ru_stime
    raise SystemExit(f"wrk printed no result (exit {proc.returncode}):\n{output}")


def measure_slice(opts: Options, server: Server) -> Slice:
    cpu_before, busy_before = cpu_seconds(server.proc.pid), machine_busy_seconds()
    result, wrk_cpu = run_wrk(opts, server, opts.slice_s)
    server_cpu = cpu_seconds(server.proc.pid) - cpu_before
    return Slice(result, server_cpu, wrk_cpu, machine_busy_seconds() - busy_before)


def run_rounds(opts: Options, servers: list[Server]) -> None:
    """Warm every server up, then measure them in interleaved, rotating rounds."""
    for server in servers:
        if opts.warmup > 0:
            run_wrk(opts, server, opts.warmup)
    time.sleep(0.5)
    before = {server.port: count_messages(server.db_path) for server in servers}
    for r in range(opts.rounds):
        for server in servers[r % len(servers) :] + servers[: r % len(servers)]:
            server.slices.append(measure_slice(opts, server))
            time.sleep(0.2)  # let requests in flight when wrk stopped reach their commit
    time.sleep(0.5)
    for server in servers:
        server.stored = count_messages(server.db_path) - before[server.port]


def figures(server: Server) -> Figures:
    slices = server.slices
    ok = sum(s.ok for s in slices)
    seconds = sum(s.seconds for s in slices)
    server_cpu = sum(s.server_cpu_s for s in slices)
    wrk_cpu = sum(s.wrk_cpu_s for s in slices)
    socket_keys = ("connect_errors", "read_errors", "write_errors", "timeouts")
    return Figures(
        label=server.label,
        msgs_per_s=ok / seconds,
        p50_ms=statistics.median(s.wrk["p50_us"] for s in slices) / 1000,
        p99_ms=statistics.median(s.wrk["p99_us"] for s in slices) / 1000,
        peak_rss_mb=peak_rss_mb(server.proc.pid),
        cpu_s_per_1k_msgs=server_cpu / max(ok, 1) * 1000,
        ok=ok,
        non2xx=sum(int(s.wrk["non2xx"]) for s in slices),
        socket_errors=sum(int(s.wrk[k]) for s in slices for k in socket_keys),
        stored=server.stored,
        server_cpu_s=server_cpu,
        wrk_cpu_s=wrk_cpu,
        other_cpu_s=max(0.0, sum(s.machine_cpu_s for s in slices) - server_cpu - wrk_cpu),
        seconds=seconds,
        per_round=[s.msgs_per_s for s in slices],
    )


# --- report -----------------------------------------------------------------------------


def check(fig: Figures, in_flight_max: int) -> list[str]:
    """Loud warnings for anything that makes the figures meaningless."""
    warnings = []
    if fig.non2xx:
        warnings.append(f"{fig.label}: {fig.non2xx} responses were not 2xx")
    if fig.socket_errors:
        warnings.append(f"{fig.label}: {fig.socket_errors} socket errors or timeouts")
    if fig.stored < fig.ok:
        warnings.append(f"{fig.label}: LOST MESSAGES: {fig.ok} accepted, {fig.stored} stored")
    if fig.stored > fig.ok + in_flight_max + fig.socket_errors:
        warnings.append(f"{fig.label}: {fig.stored} stored but only {fig.ok} accepted")
    return warnings


def print_figures(fig: Figures) -> None:
    rounds = ", ".join(f"{x:,.0f}" for x in fig.per_round)
    print(
        f"{fig.label:<18} {fig.msgs_per_s:>7,.0f} msg/s  p50 {fig.p50_ms:6.1f} ms  "
        f"p99 {fig.p99_ms:6.1f} ms  peak RSS {fig.peak_rss_mb:5.1f} MB  "
        f"CPU {fig.cpu_s_per_1k_msgs:.2f} s/1k msgs"
    )
    print(
        f"{'':<18} rounds: {rounds} msg/s; {fig.ok:,} 2xx, {fig.non2xx} non-2xx, "
        f"{fig.socket_errors} socket errors; {fig.stored:,} rows stored "
        f"(+{fig.stored - fig.ok} in flight when wrk stopped)"
    )
    print(
        f"{'':<18} CPU over {fig.seconds:.0f} s: server {fig.server_cpu_s:.1f} s, "
        f"wrk {fig.wrk_cpu_s:.1f} s, other processes {fig.other_cpu_s:.1f} s"
    )


def print_ratios(herald: Figures, baselines: list[Figures]) -> None:
    for i, base in enumerate(baselines):
        ratio = herald.msgs_per_s / base.msgs_per_s
        pairs = zip(herald.per_round, base.per_round, strict=True)
        rounds = ", ".join(f"{h / b:.2f}" for h, b in pairs)
        tag = "   <- headline (aim: >= 0.5 against NORMAL)" if i == 0 else ""
        print(f"ratio {herald.label} / {base.label}: {ratio:.3f}  (rounds: {rounds}){tag}")
    base = baselines[0]
    print(
        f"CPU per message, {base.label} / {herald.label}: "
        f"{base.cpu_s_per_1k_msgs / herald.cpu_s_per_1k_msgs:.3f} "
        "(the ratio if both were CPU-bound; steadier when other load varies)"
    )


def summary(opts: Options, herald: Figures, baselines: list[Figures]) -> dict[str, object]:
    headline = baselines[0]
    out: dict[str, object] = {
        "connections": opts.connections,
        "wrk_threads": opts.threads,
        "duration_s": opts.slice_s * opts.rounds,
        "rounds": opts.rounds,
        "herald_synchronous": opts.herald_sync,
        "baseline_synchronous": opts.baseline_sync[0],
        **herald.as_json("herald"),
        **headline.as_json("baseline"),
    }
    for sync, fig in zip(opts.baseline_sync[1:], baselines[1:], strict=True):
        out.update(fig.as_json(f"baseline_{sync.lower()}"))
        out[f"ratio_vs_{sync.lower()}"] = round(herald.msgs_per_s / fig.msgs_per_s, 3)
    out["cpu_ratio"] = round(headline.cpu_s_per_1k_msgs / herald.cpu_s_per_1k_msgs, 3)
    out["ratio"] = round(herald.msgs_per_s / headline.msgs_per_s, 3)
    return out


def parse_args(argv: list[str] | None = None) -> Options:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=12, help="seconds measured per server")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds per server")
    parser.add_argument("--warmup", type=int, default=2, help="seconds of load before measuring")
    parser.add_argument("--connections", type=int, default=64, help="concurrent HTTP clients")
    parser.add_argument("--threads", type=int, default=1, help="wrk threads")
    parser.add_argument("--herald-sync", choices=["FULL", "NORMAL"], default="FULL")
    parser.add_argument(
        "--baseline-sync",
        nargs="+",
        choices=["NORMAL", "FULL"],
        default=["NORMAL", "FULL"],
        help="baselines to run; the first is the headline ratio's denominator",
    )
    parser.add_argument("--wrk", default=shutil.which("wrk") or "wrk", help="wrk binary")
    args = parser.parse_args(argv)
    return Options(
        duration=max(1, args.duration),
        rounds=max(1, args.rounds),
        warmup=max(0, args.warmup),
        connections=max(1, args.connections),
        threads=max(1, min(args.threads, args.connections)),
        herald_sync=args.herald_sync,
        baseline_sync=list(dict.fromkeys(args.baseline_sync)),
        wrk=args.wrk,
    )


def preamble(opts: Options) -> None:
    if shutil.which(opts.wrk) is None:
        raise SystemExit("wrk not found: run `make bench` or `apt-get install -y wrk`")
    tmp = Path(tempfile.gettempdir())
    print(
        f"api-accept: wrk -t{opts.threads} -c{opts.connections}, {opts.rounds} rounds of "
        f"{opts.slice_s} s per server (+{opts.warmup} s warm-up), POST Messages.json "
        f"(form, Basic auth); SQLite files on {filesystem_of(tmp)} ({tmp})"
    )
    print(
        f"note: wrk and the servers share this machine's {os.cpu_count()} CPUs "
        f"(load average {os.getloadavg()[0]:.2f} at start); absolute figures are for this "
        "machine and moment only, compare the ratio",
        flush=True,
    )


def main(argv: list[str] | None = None) -> int:
    opts = parse_args(argv)
    preamble(opts)
    with servers_running(opts) as servers:
        run_rounds(opts, servers)
        herald, *baselines = [figures(server) for server in servers]
    for fig in (herald, *baselines):
        print_figures(fig)
    print_ratios(herald, baselines)
    in_flight_max = opts.connections * opts.rounds
    sys.stdout.flush()
    for warning in [w for f in (herald, *baselines) for w in check(f, in_flight_max)]:
        print(f"WARNING: {warning} -- these figures are not trustworthy", file=sys.stderr)
    print(json.dumps(summary(opts, herald, baselines)), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
