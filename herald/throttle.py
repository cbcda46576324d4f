"""A per-client request throttle for endpoints served without credentials (the MMS
Converter's `/m/` links), so a client cannot guess links by the thousand.

Each client address is admitted by the same sliding one-second window as sender rates
(`ratelimit.admit`): at most `per_second` requests in any second, which is also the
burst. An IPv6 client is counted by its /64, the block one host is usually given. At
most `max_clients` are remembered, the least recently seen forgotten first: a client
whose window has emptied loses nothing by it.
"""

from __future__ import annotations

from collections import OrderedDict
from ipaddress import IPv6Address, ip_address

from herald.domain.ratelimit import Window, admit

MAX_CLIENTS = 10_000


def client_key(host: str | None) -> str:
    """What a client is counted by: its IPv4 address, or its IPv6 /64."""
    try:
        address = ip_address(host or "")
    except ValueError:
        return host or "unknown"
    if isinstance(address, IPv6Address) and address.ipv4_mapped is None:
        return f"{IPv6Address(int(address) >> 64 << 64)}/64"
    return str(address.ipv4_mapped if isinstance(address, IPv6Address) else address)


class ClientThrottle:
    def __init__(self, *, per_second: int, max_clients: int = MAX_CLIENTS) -> None:
        self._per_second = per_second
        self._max_clients = max_clients
        self._windows: OrderedDict[str, Window] = OrderedDict()

    def admit(self, host: str | None, now_us: int) -> int:
        """0 when the request may be served; else how many µs until one may."""
        key = client_key(host)
        admission = admit(self._windows.get(key, Window()), now_us, self._per_second, 1)
        self._windows[key] = admission.window
        self._windows.move_to_end(key)
        while len(self._windows) > self._max_clients:
            self._windows.popitem(last=False)
        return 0 if admission.granted else admission.retry_after_us

    def __len__(self) -> int:
        return len(self._windows)
