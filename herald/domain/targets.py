"""The webhook target policy: which IP addresses Herald may send a request to on a user's
behalf (status callbacks, and inbound webhooks and media fetches, which use the same
HTTP client).

Always refused, whatever the setting: addresses that reach into the machine or its cloud
rather than out to the Internet — cloud metadata services, link-local, unspecified,
multicast, broadcast, and the ranges reserved for "this network", documentation,
benchmarks, protocol assignments or future use. An IPv6 address that carries an IPv4 one
(IPv4-mapped `::ffff:a.b.c.d`, NAT64 `64:ff9b::/96`, 6to4 `2002::/16`) is judged by the
IPv4 address it carries. Refused unless `allow_private` (HERALD_WEBHOOK_ALLOW_PRIVATE):
loopback, private (RFC 1918), unique-local (fc00::/7) and shared (CGNAT, 100.64.0.0/10).
Anything else must be a globally routable unicast address.

A URL's host is read as an address in every spelling a resolver or a browser accepts
(WHATWG URL's IPv4 parser, as `inet_aton`): `2130706433`, `0x7f000001`, `0177.0.0.1` and
`127.1` are all 127.0.0.1, so none of them passes for a host name.
"""

from __future__ import annotations

import re
from enum import StrEnum
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network
from urllib.parse import urlsplit

Address = IPv4Address | IPv6Address


class Refusal(StrEnum):
    """Why an address is refused; the value names the kind of address."""

    METADATA = "cloud metadata"
    LINK_LOCAL = "link-local"
    UNSPECIFIED = "unspecified"
    MULTICAST = "multicast"
    BROADCAST = "broadcast"
    RESERVED = "reserved"
    LOOPBACK = "loopback"
    PRIVATE = "private"
    UNIQUE_LOCAL = "unique-local"
    SHARED = "shared (CGNAT)"


# What HERALD_WEBHOOK_ALLOW_PRIVATE lets through: a receiver on this machine or network.
ALLOWABLE = frozenset({Refusal.LOOPBACK, Refusal.PRIVATE, Refusal.UNIQUE_LOCAL, Refusal.SHARED})

# First match wins, so the metadata services come before the ranges that hold them.
_V4: tuple[tuple[IPv4Network, Refusal], ...] = tuple(
    (IPv4Network(net), why)
    for net, why in (
        ("169.254.169.254/32", Refusal.METADATA),  # AWS, GCP, Azure, OpenStack, Oracle…
        ("100.100.100.200/32", Refusal.METADATA),  # Alibaba Cloud
        ("168.63.129.16/32", Refusal.METADATA),  # Azure WireServer (a public address)
        ("192.0.0.192/32", Refusal.METADATA),  # Oracle Cloud Classic
        ("0.0.0.0/32", Refusal.UNSPECIFIED),
        ("255.255.255.255/32", Refusal.BROADCAST),
        ("169.254.0.0/16", Refusal.LINK_LOCAL),
        ("224.0.0.0/4", Refusal.MULTICAST),
        ("0.0.0.0/8", Refusal.RESERVED),  # "this network": Linux connects it to itself
        ("240.0.0.0/4", Refusal.RESERVED),  # future use
        ("192.0.0.0/24", Refusal.RESERVED),  # IETF protocol assignments
        ("192.0.2.0/24", Refusal.RESERVED),  # documentation (TEST-NET-1, -2, -3)
        ("198.51.100.0/24", Refusal.RESERVED),
        ("203.0.113.0/24", Refusal.RESERVED),
        ("198.18.0.0/15", Refusal.RESERVED),  # benchmarking
        ("192.88.99.0/24", Refusal.RESERVED),  # 6to4 relay anycast (deprecated)
        ("127.0.0.0/8", Refusal.LOOPBACK),
        ("10.0.0.0/8", Refusal.PRIVATE),
        ("172.16.0.0/12", Refusal.PRIVATE),
        ("192.168.0.0/16", Refusal.PRIVATE),
        ("100.64.0.0/10", Refusal.SHARED),
    )
)
_V6: tuple[tuple[IPv6Network, Refusal], ...] = tuple(
    (IPv6Network(net), why)
    for net, why in (
        ("fd00:ec2::254/128", Refusal.METADATA),  # AWS over IPv6
        ("fd20:ce::254/128", Refusal.METADATA),  # Google Cloud over IPv6
        ("::/128", Refusal.UNSPECIFIED),
        ("::1/128", Refusal.LOOPBACK),
        ("fe80::/10", Refusal.LINK_LOCAL),
        ("ff00::/8", Refusal.MULTICAST),
        ("fc00::/7", Refusal.UNIQUE_LOCAL),
        ("2001::/23", Refusal.RESERVED),  # IETF protocol assignments (Teredo, ORCHID…)
        ("2001:db8::/32", Refusal.RESERVED),  # documentation
        ("3fff::/20", Refusal.RESERVED),  # documentation
        ("5f00::/16", Refusal.RESERVED),  # segment routing
    )
)
_GLOBAL_UNICAST = IPv6Network("2000::/3")  # outside it, every IPv6 address is special
_MAPPED = IPv6Network("::ffff:0:0/96")
_NAT64 = IPv6Network("64:ff9b::/96")
_SIX_TO_FOUR = IPv6Network("2002::/16")
_DIGITS = re.compile(r"[0-9]+")


def classify(address: Address) -> Refusal | None:
    """What kind of special address this is, or None for a globally routable one."""
    if isinstance(address, IPv4Address):
        return next((why for net, why in _V4 if address in net), None)
    carried = embedded_ipv4(address)
    if carried is not None:
        return classify(carried)
    found = next((why for net, why in _V6 if address in net), None)
    if found is None and address not in _GLOBAL_UNICAST:
        return Refusal.RESERVED
    return found


def refusal(address: Address, *, allow_private: bool) -> Refusal | None:
    """Why a request to `address` is refused, or None when it may go."""
    found = classify(address)
    if found is None or (allow_private and found in ALLOWABLE):
        return None
    return found


def embedded_ipv4(address: IPv6Address) -> IPv4Address | None:
    """The IPv4 address an IPv4-mapped, NAT64 or 6to4 address carries; traffic to it
    ends up there."""
    if address in _MAPPED or address in _NAT64:
        return IPv4Address(int(address) & 0xFFFF_FFFF)
    if address in _SIX_TO_FOUR:
        return IPv4Address((int(address) >> 80) & 0xFFFF_FFFF)
    return None


def literal_address(host: str) -> Address | None:
    """The address a URL's host names literally, in any spelling resolvers and browsers
    accept; None for a host name. Raises ValueError for a host that is neither: one that
    ends in a number but is no IPv4 address (`1.2.3.256`, `foo.1`), or a bad IPv6 one."""
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if ":" in host:
        return IPv6Address(host)
    parts = host.split(".")
    if len(parts) > 1 and parts[-1] == "":
        parts.pop()  # a trailing dot
    if not _ends_in_number(parts[-1]):
        return None
    return _ipv4(parts)


def url_refusal(url: str, *, allow_private: bool) -> Refusal | None:
    """Why a request to `url` is refused when its host is a literal address; None when
    the address may be used, or when the host is a name (checked once it is resolved,
    at connect time). `url` must be one `is_http_url` accepts."""
    address = literal_address(urlsplit(url).hostname or "")
    return None if address is None else refusal(address, allow_private=allow_private)


def _ends_in_number(last: str) -> bool:
    """WHATWG's "ends in a number": the last label is all digits or a hex number."""
    if _DIGITS.fullmatch(last):
        return True
    try:
        _number(last)
    except ValueError:
        return False
    return True


def _ipv4(parts: list[str]) -> IPv4Address:
    """a.b.c.d, a.b.c (c is 16 bits), a.b (b is 24 bits) or a (32 bits), each part in
    decimal, octal (leading 0) or hex (0x)."""
    if len(parts) > 4:
        raise ValueError("an IPv4 address has at most four parts")
    numbers = [_number(part) for part in parts]
    if any(n > 255 for n in numbers[:-1]) or numbers[-1] >= 256 ** (5 - len(numbers)):
        raise ValueError("an IPv4 address part is out of range")
    value = numbers[-1]
    for at, n in enumerate(numbers[:-1]):
        value += n << (8 * (3 - at))
    return IPv4Address(value)


def _number(part: str) -> int:
    if part[:2] in ("0x", "0X"):
        digits, base = part[2:], 16
    elif len(part) > 1 and part.startswith("0"):
        digits, base = part[1:], 8
    else:
        digits, base = part, 10
    if digits == "" and base == 16:
        return 0
    if not digits.isascii() or not digits.isalnum():
        raise ValueError(f"{part!r} is not a number")
    return int(digits, base)
