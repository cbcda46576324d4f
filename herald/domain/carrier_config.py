"""The carriers file (`HERALD_CARRIERS_FILE`, TOML): SMPP connections and the routes that
send traffic over them, checked whole at start with errors that name the key.

Routes are tried in order and the first that matches wins; a message no route matches
goes to the carrier simulator. A connection that is down hands its routes' traffic to
its `failover` (and that one to its own), and takes it back when it is up again; with
none up, the traffic stays on the route's own connection and waits there, never falling
to the simulator, which would pretend to deliver it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final

BINDS: Final = ("transceiver", "transmitter+receiver")
LONG_MESSAGES: Final = ("udh", "sar", "payload")
_NAME = re.compile(r"[A-Za-z0-9_.-]{1,32}")
_COUNTRY = re.compile(r"[A-Z]{2}")
_PRICE = re.compile(r"\d{1,4}(\.\d{1,5})?")


class CarrierConfigError(ValueError):
    """The carriers file says something Herald cannot use; the message names the key."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Connection:
    name: str
    host: str
    port: int
    system_id: str
    password: str
    system_type: str = ""
    bind: str = "transceiver"
    tls: bool = False
    tls_ca_file: str | None = None  # trust this CA (PEM) for the SMSC's certificate
    window: int = 10
    mps: int | None = None  # the connection's own cap on submit_sm per second
    enquire_link_s: float = 30.0
    long_messages: str = "udh"
    source_ton: int | None = None  # None: from the sender (international, national, alpha)
    source_npi: int | None = None
    failover: str | None = None
    resend_ambiguous: bool = True  # resend a submit whose submit_sm_resp never came
    response_timeout_s: float = 10.0
    reconnect_min_s: float = 1.0
    reconnect_max_s: float = 30.0
    down_after_failures: int = 3  # failed binds in a row before its routes fail over
    multipart_receipt_wait_s: float = 10.0  # for the other parts' receipts, after the first
    reassembly_timeout_s: float = 60.0  # for an inbound message's missing parts (30009)
    price: str | None = None  # per segment, USD, for the message's price


@dataclass(frozen=True, slots=True, kw_only=True)
class Route:
    connection: str
    countries: frozenset[str] = frozenset()
    senders: frozenset[str] = frozenset()

    def matches(self, *, country: str | None, sender: str) -> bool:
        return (not self.countries or country in self.countries) and (
            not self.senders or sender in self.senders
        )


@dataclass(frozen=True, slots=True)
class CarrierConfig:
    connections: tuple[Connection, ...] = ()
    routes: tuple[Route, ...] = ()
    _by_name: dict[str, Connection] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        self._by_name.update((c.name, c) for c in self.connections)

    def connection(self, name: str) -> Connection:
        return self._by_name[name]

    def route(self, *, country: str | None, sender: str) -> str | None:
        """The connection of the first route that matches; None: the simulator."""
        for route in self.routes:
            if route.matches(country=country, sender=sender):
                return route.connection
        return None

    def by_country(self, country: str | None) -> str | None:
        """The connection for this country whatever the sender (what a lookup, which has
        no sender, can tell): the first route for any sender that matches it. A sender's
        own route before it may name another connection, but every route is SMPP."""
        for route in self.routes:
            if not route.senders and route.matches(country=country, sender=""):
                return route.connection
        return None

    def serving(self, name: str, is_up: Callable[[str], bool]) -> str:
        """Who carries `name`'s traffic: itself when up, else the first of its failover
        chain that is up, else itself (the traffic waits for it)."""
        seen = {name}
        current = self.connection(name)
        while not is_up(current.name) and current.failover and current.failover not in seen:
            seen.add(current.failover)
            current = self.connection(current.failover)
        return current.name if is_up(current.name) else name


_CONNECTION_KEYS: Final = {f for f in Connection.__dataclass_fields__}
_ROUTE_KEYS: Final = {"connection", "countries", "senders"}


def parse(document: Mapping[str, object]) -> CarrierConfig:
    """The parsed TOML document as a checked configuration."""
    _no_unknown(document, {"connections", "routes"}, "")
    connections = tuple(
        _connection(raw, f"connections[{i}]")
        for i, raw in enumerate(_tables(document, "connections"))
    )
    names = [c.name for c in connections]
    for i, name in enumerate(names):
        if name in names[:i]:
            raise CarrierConfigError(f"connections[{i}].name: {name!r} is used twice")
    for i, c in enumerate(connections):
        if c.failover is not None and c.failover not in names:
            raise CarrierConfigError(f"connections[{i}].failover: no connection {c.failover!r}")
        if c.failover == c.name:
            raise CarrierConfigError(
                f"connections[{i}].failover: a connection cannot fail over to itself"
            )
    routes = tuple(
        _route(raw, f"routes[{i}]", names) for i, raw in enumerate(_tables(document, "routes"))
    )
    return CarrierConfig(connections, routes)


def _tables(document: Mapping[str, object], key: str) -> list[Mapping[str, object]]:
    raw = document.get(key, [])
    if not isinstance(raw, list) or not all(isinstance(t, Mapping) for t in raw):
        raise CarrierConfigError(f"{key}: must be an array of tables ([[{key}]])")
    return raw


def _no_unknown(table: Mapping[str, object], known: set[str], where: str) -> None:
    for key in table:
        if key not in known:
            raise CarrierConfigError(f"{where}{key}: unknown key")


def _connection(raw: Mapping[str, object], where: str) -> Connection:
    _no_unknown(raw, _CONNECTION_KEYS, f"{where}.")
    get = _Reader(raw, where)
    name = get.text("name", required=True, pattern=_NAME)
    reconnect_min_s = get.number("reconnect_min_s", 1.0)
    connection = Connection(
        name=name,
        host=get.text("host", required=True),
        port=get.integer("port", None, 1, 65_535),
        system_id=get.text("system_id", required=True, longest=15),
        password=get.text("password", required=True, longest=64),
        system_type=get.text("system_type", longest=12),
        bind=get.choice("bind", BINDS, "transceiver"),
        tls=get.flag("tls", False),
        tls_ca_file=get.optional_text("tls_ca_file"),
        window=get.integer("window", 10, 1, 10_000),
        mps=get.optional_integer("mps", 1, 1_000_000),
        enquire_link_s=get.number("enquire_link_s", 30.0),
        long_messages=get.choice("long_messages", LONG_MESSAGES, "udh"),
        source_ton=get.optional_integer("source_ton", 0, 255),
        source_npi=get.optional_integer("source_npi", 0, 255),
        failover=get.optional_text("failover"),
        resend_ambiguous=get.flag("resend_ambiguous", True),
        response_timeout_s=get.number("response_timeout_s", 10.0),
        reconnect_min_s=reconnect_min_s,
        reconnect_max_s=get.number("reconnect_max_s", max(30.0, reconnect_min_s)),
        down_after_failures=get.integer("down_after_failures", 3, 1, 1_000),
        multipart_receipt_wait_s=get.number("multipart_receipt_wait_s", 10.0),
        reassembly_timeout_s=get.number("reassembly_timeout_s", 60.0),
        price=get.optional_text("price", pattern=_PRICE),
    )
    if connection.reconnect_max_s < connection.reconnect_min_s:
        raise CarrierConfigError(f"{where}.reconnect_max_s: must be at least reconnect_min_s")
    return connection


def _route(raw: Mapping[str, object], where: str, names: Sequence[str]) -> Route:
    _no_unknown(raw, _ROUTE_KEYS, f"{where}.")
    get = _Reader(raw, where)
    connection = get.text("connection", required=True)
    if connection not in names:
        raise CarrierConfigError(f"{where}.connection: no connection {connection!r}")
    countries = get.strings("countries")
    for country in countries:
        if not _COUNTRY.fullmatch(country):
            raise CarrierConfigError(
                f'{where}.countries: {country!r} is not an ISO 3166 alpha-2 code like "US"'
            )
    return Route(
        connection=connection,
        countries=frozenset(countries),
        senders=frozenset(get.strings("senders")),
    )


class _Reader:
    """Typed reads of one table's keys; each error names `where.key`."""

    def __init__(self, table: Mapping[str, object], where: str) -> None:
        self._table, self._where = table, where

    def _fail(self, key: str, why: str) -> CarrierConfigError:
        return CarrierConfigError(f"{self._where}.{key}: {why}")

    def text(
        self,
        key: str,
        *,
        required: bool = False,
        longest: int = 255,
        pattern: re.Pattern[str] | None = None,
    ) -> str:
        value = self._table.get(key)
        if value is None:
            if required:
                raise self._fail(key, "is required")
            return ""
        if not isinstance(value, str) or (required and not value):
            raise self._fail(key, "must be a non-empty string" if required else "must be a string")
        if len(value) > longest or not value.isprintable():
            raise self._fail(key, f"must be at most {longest} printable characters")
        if pattern is not None and not pattern.fullmatch(value):
            raise self._fail(key, f"{value!r} does not match {pattern.pattern}")
        return value

    def optional_text(self, key: str, *, pattern: re.Pattern[str] | None = None) -> str | None:
        return self.text(key, pattern=pattern) if key in self._table else None

    def integer(self, key: str, default: int | None, lowest: int, highest: int) -> int:
        value = self._table.get(key, default)
        if value is None:
            raise self._fail(key, "is required")
        if isinstance(value, bool) or not isinstance(value, int) or not lowest <= value <= highest:
            raise self._fail(key, f"must be a whole number from {lowest} to {highest}")
        return value

    def optional_integer(self, key: str, lowest: int, highest: int) -> int | None:
        return self.integer(key, None, lowest, highest) if key in self._table else None

    def number(self, key: str, default: float) -> float:
        value = self._table.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= 86_400:
            raise self._fail(key, "must be a number of seconds above 0 (at most 86400)")
        return float(value)

    def flag(self, key: str, default: bool) -> bool:
        value = self._table.get(key, default)
        if not isinstance(value, bool):
            raise self._fail(key, "must be true or false")
        return value

    def choice(self, key: str, choices: Sequence[str], default: str) -> str:
        value = self._table.get(key, default)
        if value not in choices:
            raise self._fail(key, f"must be one of {', '.join(repr(c) for c in choices)}")
        assert isinstance(value, str)
        return value

    def strings(self, key: str) -> list[str]:
        value = self._table.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            raise self._fail(key, "must be an array of non-empty strings")
        return value
