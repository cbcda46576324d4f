"""A process's name among Herald's nodes: it owns sender leases and callback leases, and
appears in logs and /metrics, so that a takeover names both owners. Made once, by the
composition root, and passed to what needs it."""

from __future__ import annotations

import os
import secrets
import socket


def new_node_id() -> str:
    return f"{socket.gethostname()[:40]}:{os.getpid()}:{secrets.token_hex(3)}"
