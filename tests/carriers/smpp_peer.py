"""A real SMSC for the SMPP tests: `tests/smpp_peer/server.js`, written on the npm `smpp`
package rather than on Herald's code, run as a child process and steered over its HTTP
control API. Its ports are chosen by the peer itself and read from its READY line.
"""

from __future__ import annotations

import os
import re
import select
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx

PEER_DIR = Path(__file__).resolve().parent.parent / "smpp_peer"
READY = re.compile(rb"^READY smpp=(\d+) control=(\d+)$")
HOST = "127.0.0.1"


class SmppPeerError(RuntimeError):
    """The SMPP peer could not start, or its control API refused a request."""


class SmppPeer:
    """One SMSC process. `with SmppPeer() as peer:` starts it; `stop()` kills it."""

    def __init__(
        self,
        system_id: str = "esme1",
        password: str = "pw123",
        *,
        port: int = 0,
        control_port: int = 0,
        accounts: dict[str, str] | None = None,
        id_start: int | None = None,
        startup_timeout: float = 10.0,
    ) -> None:
        self.system_id = system_id
        self.password = password
        self.accounts = dict(accounts or {})
        self.id_start = id_start
        self.startup_timeout = startup_timeout
        self.host = HOST
        self.port = port  # 0: the peer picks a free port; the real one once started
        self.control_port = control_port
        self._process: subprocess.Popen[bytes] | None = None
        self._stderr: Any = None
        self._client: httpx.Client | None = None

    # -- lifecycle

    def start(self) -> SmppPeer:
        if self._process is not None:
            raise SmppPeerError("the SMPP peer is already running")
        node = shutil.which("node")
        if node is None:
            raise SmppPeerError("node (Node.js 18+) is not on PATH; the SMPP peer needs it")
        if not (PEER_DIR / "node_modules" / "smpp").is_dir():
            raise SmppPeerError(
                f"{PEER_DIR / 'node_modules'} is missing: run `make test` "
                "or `npm ci --prefix tests/smpp_peer`"
            )
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115  (closed by stop())
        self._process = subprocess.Popen(
            [node, str(PEER_DIR / "server.js"), *self._arguments()],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
        )
        try:
            self.port, self.control_port = self._await_ready()
        except BaseException:
            self.stop()
            raise
        self._client = httpx.Client(base_url=f"http://{HOST}:{self.control_port}", timeout=30.0)
        return self

    def _arguments(self) -> list[str]:
        arguments = ["--host", HOST, "--port", str(self.port)]
        arguments += ["--control-port", str(self.control_port)]
        arguments += ["--system-id", self.system_id, "--password", self.password]
        for system_id, password in self.accounts.items():
            arguments += ["--account", f"{system_id}:{password}"]
        if self.id_start is not None:
            arguments += ["--id-start", str(self.id_start)]
        return [*arguments, "--exit-on-stdin-close"]

    def _await_ready(self) -> tuple[int, int]:
        assert self._process is not None and self._process.stdout is not None
        stdout = self._process.stdout
        deadline = time.monotonic() + self.startup_timeout
        line = b""
        while not line.endswith(b"\n"):
            remaining = deadline - time.monotonic()
            readable, _, _ = select.select([stdout], [], [], max(remaining, 0))
            if not readable:
                raise SmppPeerError(f"the SMPP peer sent no READY line: {self._stderr_text()}")
            chunk = os.read(stdout.fileno(), 256)
            if not chunk:
                raise SmppPeerError(f"the SMPP peer exited: {self._stderr_text()}")
            line += chunk
        match = READY.match(line.strip())
        if match is None:
            raise SmppPeerError(f"unexpected first line from the SMPP peer: {line!r}")
        return int(match[1]), int(match[2])

    def _stderr_text(self) -> str:
        if self._stderr is None:
            return ""
        self._stderr.seek(0)
        return str(self._stderr.read().decode(errors="replace").strip())

    def stop(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
        process, self._process = self._process, None
        if process is not None:
            process.kill()
            process.wait(timeout=10)
            for stream in (process.stdin, process.stdout):
                if stream is not None:
                    stream.close()
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None

    def __enter__(self) -> SmppPeer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def is_running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    # -- control API

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        if self._client is None:
            raise SmppPeerError("the SMPP peer is not running")
        response = self._client.request(method, path, json=body)
        if response.status_code != 200:
            raise SmppPeerError(f"{method} {path}: {response.status_code} {response.text}")
        return response.json()

    def mode(self) -> dict[str, Any]:
        return dict(self._call("GET", "/mode"))

    def set_mode(self, **fields: Any) -> dict[str, Any]:
        """Merge `fields` into the mode (see tests/smpp_peer/README.md); returns the whole mode."""
        return dict(self._call("POST", "/mode", fields))

    def reset_mode(self) -> dict[str, Any]:
        return dict(self._call("DELETE", "/mode"))

    def reset(self) -> None:
        """Default mode, no records, receipts or counters; sessions stay connected."""
        self._call("POST", "/reset")

    def records(self, since: int = 0) -> list[dict[str, Any]]:
        return list(self._call("GET", f"/records?since={since}"))

    def clear_records(self) -> None:
        self._call("DELETE", "/records")

    def receipts(self, since: int = 0) -> list[dict[str, Any]]:
        return list(self._call("GET", f"/receipts?since={since}"))

    def stats(self) -> dict[str, Any]:
        return dict(self._call("GET", "/stats"))

    def send_inbound(
        self,
        source: str,
        destination: str,
        text: str,
        *,
        encoding: str = "gsm",
        parts: int = 1,
        omit_part: int | None = None,
        ref: int | None = None,
        message_payload: bool = False,
        system_id: str | None = None,
        timeout_ms: int = 5000,
        **addressing: int,
    ) -> dict[str, Any]:
        """Send an MO message as deliver_sm(s) and return {sent, statuses, session} once each
        deliver_sm_resp came (a status is None if none came within timeout_ms).
        `addressing` takes ton, npi, source_ton, source_npi, dest_ton, dest_npi."""
        body: dict[str, Any] = {
            "source": source,
            "destination": destination,
            "text": text,
            "encoding": encoding,
            "parts": parts,
            "message_payload": message_payload,
            "timeout_ms": timeout_ms,
            **addressing,
        }
        optional = {"omit_part": omit_part, "ref": ref, "system_id": system_id}
        body.update({key: value for key, value in optional.items() if value is not None})
        return dict(self._call("POST", "/inbound", body))

    def restart(self, down_ms: int = 500) -> dict[str, Any]:
        """Drop every connection abruptly; listen again on the same port after down_ms."""
        return dict(self._call("POST", "/restart", {"down_ms": down_ms}))

    def unbind_all(self) -> int:
        """Send unbind to every bound session; returns how many were sent."""
        return int(self._call("POST", "/unbind")["sent"])

    def wait_for_records(self, count: int, timeout: float = 10.0) -> list[dict[str, Any]]:
        """Wait until at least `count` submits are recorded, and return all of them."""
        return self._wait(lambda: self.records(), count, timeout, "records")

    def wait_for_receipts(self, count: int, timeout: float = 10.0) -> list[dict[str, Any]]:
        """Wait until at least `count` receipts were sent, and return all of them."""
        return self._wait(lambda: self.receipts(), count, timeout, "receipts")

    def wait_for_sessions(self, count: int, timeout: float = 10.0) -> list[dict[str, Any]]:
        """Wait until at least `count` sessions are bound, and return them."""
        return self._wait(lambda: self.stats()["sessions"], count, timeout, "bound sessions")

    @staticmethod
    def _wait(
        fetch: Callable[[], list[dict[str, Any]]], count: int, timeout: float, what: str
    ) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while True:
            items: list[dict[str, Any]] = fetch()
            if len(items) >= count:
                return items
            if time.monotonic() > deadline:
                raise AssertionError(f"{len(items)} {what}, not {count}, after {timeout}s")
            time.sleep(0.01)
