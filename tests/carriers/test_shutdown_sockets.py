"""A stopped Herald leaves none of its sockets open: not its listening socket, not its
SMPP binds (one of them reconnecting all along, refused). Checked in the kernel's socket
table rather than by the garbage collector's warnings, which name whatever test runs
when the collector finds the socket. (Status callbacks go out from the courier's helper
process, which exits with the server.)"""

from __future__ import annotations

import contextlib
import gc
import os
import time
from pathlib import Path

import httpx

from herald.config import Settings
from herald.provisioning import create_account
from herald.runtime import build
from tests.carriers.smpp_peer import SmppPeer
from tests.carriers.test_smpp_e2e import carriers_toml
from tests.conftest import _Server
from tests.webhooks.receiver import Receiver


def _sockets_of_this_process() -> set[str]:
    inodes = set()
    for fd in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):  # closed meanwhile
            target = os.readlink(f"/proc/self/fd/{fd}")
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    return inodes


def _open_tcp(*, local: set[int], remote: set[int]) -> list[str]:
    """This process's TCP sockets bound to a port of `local` or connected to one of
    `remote`, as "local -> remote (state)"."""
    mine = _sockets_of_this_process()
    found = []
    for table in ("/proc/self/net/tcp", "/proc/self/net/tcp6"):
        with contextlib.suppress(FileNotFoundError), open(table) as rows:
            for row in list(rows)[1:]:
                fields = row.split()
                lport = int(fields[1].rsplit(":", 1)[1], 16)
                rport = int(fields[2].rsplit(":", 1)[1], 16)
                if fields[9] in mine and (lport in local or rport in remote):
                    found.append(f"{lport} -> {rport} (state {fields[3]})")
    return found


def test_a_stopped_server_leaves_no_socket_open(tmp_path: Path) -> None:
    accounts = {"esme2": "pw2", "esme3": "pw3", "esme4": "pw4"}
    with SmppPeer(accounts=accounts) as peer, Receiver() as receiver:
        carriers = tmp_path / "carriers.toml"
        carriers.write_text(carriers_toml(peer.port))
        settings = Settings(
            data_dir=tmp_path,
            database_url=f"sqlite:///{tmp_path / 'herald.db'}",
            simulator_latency="instant",
            webhook_allow_private=True,
            carriers_file=carriers,
        )
        runtime = build(settings)
        server = _Server(runtime)
        base_url = server.start()
        herald_port = int(base_url.rsplit(":", 1)[1])
        peer.wait_for_sessions(6)
        account = create_account(runtime, friendly_name="t", is_test=False)
        api = f"{base_url}/2010-04-01/Accounts/{account.sid}"
        with httpx.Client(auth=(account.sid, account.auth_token)) as http:
            made = http.post(
                f"{api}/IncomingPhoneNumbers.json", data={"PhoneNumber": "+14155550190"}
            )
            assert made.status_code == 201, made.text
            for n in range(3):
                sent = http.post(
                    f"{api}/Messages.json",
                    data={"To": f"+1212555{n:04d}", "From": "+14155550190", "Body": "hi",
                          "StatusCallback": f"{receiver.url}/status"},
                )  # fmt: skip
                assert sent.status_code == 201, sent.text
        receiver.wait_for(6, timeout=15)  # sent and delivered, three times
        targets = {peer.port, receiver.port}
        assert _open_tcp(local={herald_port}, remote=targets)  # in use: the check sees them

        # The collector would close a leaked socket when it frees its transport: off, a
        # leak stays in the table to be seen.
        gc.disable()
        try:
            server.stop()
            assert not server.thread.is_alive(), "the server did not stop within 10 s"
            deadline = time.monotonic() + 5
            while (left := _open_tcp(local={herald_port}, remote=targets)) and (
                time.monotonic() < deadline
            ):
                time.sleep(0.05)
        finally:
            gc.enable()
        assert left == []
