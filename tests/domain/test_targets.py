"""The webhook target policy: every refused class of address, the one setting, IPv6 forms
that carry an IPv4 address, and every IPv4 spelling a browser or resolver reads."""

from __future__ import annotations

import ipaddress
from ipaddress import IPv4Address, IPv6Address

import pytest
from hypothesis import given
from hypothesis import strategies as st

from herald.domain.targets import (
    ALLOWABLE,
    Refusal,
    classify,
    embedded_ipv4,
    literal_address,
    refusal,
    url_refusal,
)

ALWAYS = [
    ("169.254.169.254", Refusal.METADATA),
    ("100.100.100.200", Refusal.METADATA),
    ("168.63.129.16", Refusal.METADATA),
    ("fd00:ec2::254", Refusal.METADATA),
    ("fd20:ce::254", Refusal.METADATA),
    ("169.254.0.1", Refusal.LINK_LOCAL),
    ("fe80::1", Refusal.LINK_LOCAL),
    ("fe80::1%eth0", Refusal.LINK_LOCAL),
    ("0.0.0.0", Refusal.UNSPECIFIED),
    ("::", Refusal.UNSPECIFIED),
    ("224.0.0.1", Refusal.MULTICAST),
    ("239.255.255.250", Refusal.MULTICAST),
    ("ff02::1", Refusal.MULTICAST),
    ("255.255.255.255", Refusal.BROADCAST),
    ("0.1.2.3", Refusal.RESERVED),
    ("240.0.0.1", Refusal.RESERVED),
    ("192.0.0.8", Refusal.RESERVED),
    ("192.0.2.1", Refusal.RESERVED),
    ("198.51.100.7", Refusal.RESERVED),
    ("203.0.113.9", Refusal.RESERVED),
    ("198.19.0.1", Refusal.RESERVED),
    ("192.88.99.1", Refusal.RESERVED),
    ("2001:db8::1", Refusal.RESERVED),
    ("2001::1", Refusal.RESERVED),  # Teredo
    ("3fff::1", Refusal.RESERVED),
    ("5f00::1", Refusal.RESERVED),
    ("100::1", Refusal.RESERVED),  # discard-only: outside 2000::/3
    ("::0.0.0.2", Refusal.RESERVED),  # IPv4-compatible (deprecated)
    ("fec0::1", Refusal.RESERVED),  # site-local (deprecated)
    ("64:ff9b:1::1", Refusal.RESERVED),  # local-use NAT64
    ("::ffff:169.254.169.254", Refusal.METADATA),
    ("64:ff9b::169.254.169.254", Refusal.METADATA),
    ("2002:a9fe:a9fe::", Refusal.METADATA),
    ("::ffff:0.0.0.0", Refusal.UNSPECIFIED),
]
PRIVATE = [
    ("127.0.0.1", Refusal.LOOPBACK),
    ("127.255.0.9", Refusal.LOOPBACK),
    ("::1", Refusal.LOOPBACK),
    ("10.0.0.1", Refusal.PRIVATE),
    ("172.16.0.1", Refusal.PRIVATE),
    ("172.31.255.255", Refusal.PRIVATE),
    ("192.168.1.1", Refusal.PRIVATE),
    ("fd00::1", Refusal.UNIQUE_LOCAL),
    ("fc00::1", Refusal.UNIQUE_LOCAL),
    ("100.64.0.1", Refusal.SHARED),
    ("100.127.255.254", Refusal.SHARED),
    ("::ffff:127.0.0.1", Refusal.LOOPBACK),
    ("::ffff:10.1.2.3", Refusal.PRIVATE),
    ("64:ff9b::7f00:1", Refusal.LOOPBACK),
    ("2002:c0a8:0101::1", Refusal.PRIVATE),
]
GLOBAL = [
    "8.8.8.8",
    "1.1.1.1",
    "172.32.0.1",
    "100.128.0.1",
    "169.255.0.1",
    "2001:4860:4860::8888",
    "2606:4700:4700::1111",
    "::ffff:8.8.8.8",
    "64:ff9b::808:808",
    "2002:0808:0808::1",
]


@pytest.mark.parametrize(("text", "why"), ALWAYS)
def test_always_refused(text: str, why: Refusal) -> None:
    address = ipaddress.ip_address(text)
    assert classify(address) is why
    assert refusal(address, allow_private=False) is why
    assert refusal(address, allow_private=True) is why


@pytest.mark.parametrize(("text", "why"), PRIVATE)
def test_private_refused_unless_allowed(text: str, why: Refusal) -> None:
    address = ipaddress.ip_address(text)
    assert refusal(address, allow_private=False) is why
    assert refusal(address, allow_private=True) is None


@pytest.mark.parametrize("text", GLOBAL)
def test_global_addresses_go(text: str) -> None:
    address = ipaddress.ip_address(text)
    assert classify(address) is None
    assert refusal(address, allow_private=False) is None


def test_embedded_ipv4() -> None:
    assert embedded_ipv4(IPv6Address("::ffff:1.2.3.4")) == IPv4Address("1.2.3.4")
    assert embedded_ipv4(IPv6Address("64:ff9b::1.2.3.4")) == IPv4Address("1.2.3.4")
    assert embedded_ipv4(IPv6Address("2002:102:304:5::6")) == IPv4Address("1.2.3.4")
    assert embedded_ipv4(IPv6Address("2001:4860::1")) is None


@pytest.mark.parametrize(
    "host",
    [
        "127.0.0.1",
        "2130706433",
        "0x7f000001",
        "0X7F000001",
        "0177.0.0.1",
        "0177.0.0.01",
        "127.1",
        "127.0.1",
        "0x7f.1",
        "0x7f.0.0.0x1",
        "127.0.0.1.",
        "017700000001",
    ],
)
def test_every_spelling_of_loopback_is_an_address(host: str) -> None:
    assert literal_address(host) == IPv4Address("127.0.0.1")


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("[::1]", IPv6Address("::1")),
        ("::ffff:127.0.0.1", IPv6Address("::ffff:7f00:1")),
        ("0x", IPv4Address("0.0.0.0")),
        ("0", IPv4Address("0.0.0.0")),
        ("00", IPv4Address("0.0.0.0")),
        ("4294967295", IPv4Address("255.255.255.255")),
        ("1.2.65535", IPv4Address("1.2.255.255")),
        ("1.16777215", IPv4Address("1.255.255.255")),
        ("example.com", None),
        ("example.com.", None),
        ("a1", None),
        ("1.example", None),
        ("0xg", None),  # not a number, so a (strange) name
        ("1.2.3.١", None),  # an Arabic-Indic digit is no number a resolver reads
        ("1.2.3.1_0", None),
        ("", None),
    ],
)
def test_literal_addresses_and_names(host: str, expected: object) -> None:
    assert literal_address(host) == expected


@pytest.mark.parametrize(
    "host",
    [
        "4294967296",
        "1.2.3.256",
        "256.1.1.1",
        "1.2.65536",
        "1.16777216",
        "1.2.3.4.5",
        "1..2.3",
        "foo.1",
        "foo.0x10",
        "08",
        "0x1.09",
        "::g",
        "[1:2]",
    ],
)
def test_hosts_that_look_numeric_but_are_no_address(host: str) -> None:
    with pytest.raises(ValueError):
        literal_address(host)


def test_url_refusal() -> None:
    assert url_refusal("http://2130706433/", allow_private=False) is Refusal.LOOPBACK
    assert url_refusal("http://2130706433/", allow_private=True) is None
    assert url_refusal("http://[fd00::1]:8080/x", allow_private=False) is Refusal.UNIQUE_LOCAL
    assert url_refusal("http://169.254.169.254/latest", allow_private=True) is Refusal.METADATA
    assert url_refusal("https://example.com/cb", allow_private=False) is None
    assert url_refusal("https://8.8.8.8/cb", allow_private=False) is None


# -- properties -------------------------------------------------------------------------

v4 = st.integers(min_value=0, max_value=2**32 - 1).map(IPv4Address)
v6 = st.integers(min_value=0, max_value=2**128 - 1).map(IPv6Address)


def _spell(value: int, radix: str) -> str:
    if radix == "hex":
        return hex(value)
    if radix == "octal":
        return "0" + oct(value)[2:]
    return str(value)


spellings = st.lists(st.sampled_from(["dec", "hex", "octal"]), min_size=4, max_size=4)


@given(v4, st.integers(min_value=1, max_value=4), spellings)
def test_every_inet_aton_spelling_reads_back(
    address: IPv4Address, count: int, radixes: list[str]
) -> None:
    value = int(address)
    octets = list(address.packed)
    parts = [*octets[: count - 1], value & (2 ** (8 * (5 - count)) - 1)]
    host = ".".join(_spell(part, radix) for part, radix in zip(parts, radixes, strict=False))
    assert literal_address(host) == address


@given(v4, st.booleans())
def test_an_ipv6_form_carrying_an_ipv4_address_is_judged_by_it(
    address: IPv4Address, allow_private: bool
) -> None:
    value = int(address)
    carriers = [
        IPv6Address((0xFFFF << 32) | value),
        IPv6Address((0x64FF9B << 96) | value),
        IPv6Address((0x2002 << 112) | (value << 80) | 1),
    ]
    for carrier in carriers:
        assert refusal(carrier, allow_private=allow_private) == refusal(
            address, allow_private=allow_private
        )


@given(st.one_of(v4, v6))
def test_the_setting_only_ever_lets_more_through(address: IPv4Address | IPv6Address) -> None:
    strict = refusal(address, allow_private=False)
    relaxed = refusal(address, allow_private=True)
    assert relaxed is None or relaxed is strict
    assert relaxed not in ALLOWABLE
    if strict is not None and relaxed is None:
        assert strict in ALLOWABLE


@given(st.one_of(v4, v6))
def test_an_allowed_address_is_one_python_calls_global(address: IPv4Address | IPv6Address) -> None:
    if refusal(address, allow_private=False) is None:
        assert address.is_global and not address.is_multicast


@given(st.text(alphabet="0123456789abcdefxX.:[]%g-", max_size=40))
def test_any_host_is_an_address_a_name_or_a_value_error(host: str) -> None:
    try:
        found = literal_address(host)
    except ValueError:
        return
    assert found is None or isinstance(found, IPv4Address | IPv6Address)
