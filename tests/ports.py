"""Ports for the servers tests start as processes (they bind themselves, so port 0 is no use).

Asking the kernel for a free port and closing it leaves a window: under pytest-xdist the
other worker's node can be handed the same port before this one binds it, or a port a
killed node just freed before its restart binds it again. Each worker takes ports from a
range of its own, below the kernel's ephemeral range (32768 up), which port-0 binds and
outgoing connections draw from, and never hands the same port out twice.
"""

from __future__ import annotations

import itertools
import os
import random
import socket

BASE = 20_000
SPAN = 2_000
WORKERS = 6  # ranges below 32768; more workers share them round-robin

_offset = random.randrange(SPAN)  # an earlier run's orphan may still hold its first ports
_taken = itertools.count()


def _worker() -> int:
    name = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    return int(name.removeprefix("gw") or 0) % WORKERS


def free_port() -> int:
    """A port no one listens on now, and that this worker has not handed out before."""
    start = BASE + _worker() * SPAN
    for _ in range(SPAN):
        port = start + (_offset + next(_taken)) % SPAN
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port left in {start}..{start + SPAN - 1}")
