"""`herald serve` as real subprocesses, for the tests that kill them: start, wait until
healthy, kill -9, stop with SIGTERM; and a small HTTP client for the API."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from sqlalchemy import Engine, create_engine, text

from herald.store.db import normalize_url
from tests.conftest import METRICS_AUTH, METRICS_TOKEN

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Node:
    workdir: Path
    port: int
    env: dict[str, str] = field(default_factory=dict)
    args: tuple[str, ...] = ()
    proc: subprocess.Popen[bytes] | None = None
    starts: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, *, wait: bool = True) -> Node:
        env = {k: v for k, v in os.environ.items() if not k.startswith("HERALD_")}
        env.update({"PYTHONPATH": str(ROOT), "HERALD_LOG_LEVEL": "WARNING", **self.env})
        with (self.workdir / f"node-{self.port}.log").open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "herald", "serve", "--port", str(self.port), *self.args],
                cwd=self.workdir,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self.starts += 1
        if wait:
            self.wait_healthy()
        return self

    def wait_healthy(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc is not None and self.proc.poll() is None, self.log_tail()
            try:
                if httpx.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                time.sleep(0.05)
        raise AssertionError(f"node on {self.port} not healthy: {self.log_tail()}")

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs at all."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self, timeout: float = 30.0) -> int:
        """SIGTERM, and the exit code."""
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else 0
        self.proc.terminate()
        return self.proc.wait(timeout)

    def metrics(self) -> httpx.Response:
        return httpx.get(self.url + "/metrics", headers=METRICS_AUTH, timeout=2)

    def log_tail(self, lines: int = 40) -> str:
        path = self.workdir / f"node-{self.port}.log"
        text = path.read_text(errors="replace") if path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])


def node_env(url: str, **extra: str) -> dict[str, str]:
    """A test node's environment: the database at `url`, the instant carrier simulator,
    callbacks allowed to the tests' receivers on 127.0.0.1, and `extra` (HERALD_… names)."""
    return {
        "HERALD_DATABASE_URL": url,
        "HERALD_SIMULATOR_LATENCY": "instant",
        "HERALD_METRICS_TOKEN": METRICS_TOKEN,
        "HERALD_WEBHOOK_ALLOW_PRIVATE": "true",
        **extra,
    }


def credentials(workdir: Path) -> tuple[str, str]:
    pairs = dict(
        line.split("=", 1) for line in (workdir / "var" / "credentials.env").read_text().split()
    )
    return pairs["TWILIO_ACCOUNT_SID"], pairs["TWILIO_AUTH_TOKEN"]


def first_account(url: str) -> tuple[Engine, str, str]:
    """An engine on the nodes' database, and the account the first node created there."""
    engine = create_engine(normalize_url(url))
    with engine.connect() as conn:
        [(sid, token)] = conn.execute(text("SELECT sid, auth_token FROM accounts")).all()
    return engine, sid, token
