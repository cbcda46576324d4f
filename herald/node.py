"""This process's name among Herald's nodes: it owns sender leases and callback leases,
and appears in logs and /metrics, so that a takeover names both owners."""

from __future__ import annotations

import os
import secrets
import socket

NODE_ID = f"{socket.gethostname()[:40]}:{os.getpid()}:{secrets.token_hex(3)}"
