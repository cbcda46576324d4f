"""The carriers file: every key checked with an error that names it; routes, first match
wins; failover chains."""

from __future__ import annotations

from typing import Any

import pytest

from herald.domain.carrier_config import CarrierConfigError, parse

ACME = {"name": "acme", "host": "127.0.0.1", "port": 2775, "system_id": "esme1", "password": "pw"}
BETA = {**ACME, "name": "beta"}


def doc(**changes: Any) -> dict[str, Any]:
    document: dict[str, Any] = {
        "connections": [dict(ACME), dict(BETA)],
        "routes": [{"connection": "acme", "countries": ["US", "CA"]}],
    }
    document.update(changes)
    return document


def test_a_minimal_file_takes_the_documented_defaults() -> None:
    config = parse(doc())
    acme = config.connection("acme")
    assert (acme.bind, acme.window, acme.enquire_link_s, acme.long_messages) == (
        "transceiver", 10, 30.0, "udh",
    )  # fmt: skip
    assert acme.resend_ambiguous is True and acme.mps is None and acme.failover is None
    assert acme.reconnect_max_s == 30.0


def test_every_optional_key_is_read() -> None:
    full = {
        **ACME,
        "system_type": "VMA",
        "bind": "transmitter+receiver",
        "tls": True,
        "tls_ca_file": "/etc/herald/smsc-ca.pem",
        "window": 50,
        "mps": 100,
        "enquire_link_s": 15,
        "long_messages": "sar",
        "source_ton": 5,
        "source_npi": 0,
        "failover": "beta",
        "resend_ambiguous": False,
        "response_timeout_s": 5,
        "reconnect_min_s": 0.5,
        "reconnect_max_s": 8,
        "down_after_failures": 2,
        "multipart_receipt_wait_s": 3,
        "reassembly_timeout_s": 20,
        "price": "0.0075",
    }
    acme = parse(doc(connections=[full, BETA])).connection("acme")
    assert acme.bind == "transmitter+receiver" and acme.tls and acme.window == 50
    assert acme.tls_ca_file == "/etc/herald/smsc-ca.pem"
    assert (acme.mps, acme.source_ton, acme.source_npi, acme.failover) == (100, 5, 0, "beta")
    assert acme.enquire_link_s == 15.0 and acme.reconnect_min_s == 0.5 and acme.price == "0.0075"
    assert acme.long_messages == "sar" and not acme.resend_ambiguous


@pytest.mark.parametrize(
    ("document", "message"),
    [
        (doc(extra=1), "extra: unknown key"),
        (doc(connections={"name": "x"}), "connections: must be an array of tables"),
        (doc(connections=[{**ACME, "hots": "x"}]), "connections[0].hots: unknown key"),
        (doc(connections=[{**ACME, "host": None}]), "connections[0].host: is required"),
        (
            doc(connections=[{k: v for k, v in ACME.items() if k != "host"}]),
            "connections[0].host: is required",
        ),
        (doc(connections=[{**ACME, "host": ""}]), "connections[0].host: must be a non-empty"),
        (
            doc(connections=[{**ACME, "system_type": 3}]),
            "connections[0].system_type: must be a string",
        ),
        (
            doc(connections=[{**ACME, "system_id": "x" * 16}]),
            "connections[0].system_id: must be at most 15",
        ),
        (doc(connections=[{**ACME, "name": "a b"}]), "connections[0].name: 'a b' does not match"),
        (
            doc(connections=[{k: v for k, v in ACME.items() if k != "port"}]),
            "connections[0].port: is required",
        ),
        (doc(connections=[{**ACME, "port": 70000}]), "connections[0].port: must be a whole number"),
        (doc(connections=[{**ACME, "port": True}]), "connections[0].port: must be a whole number"),
        (doc(connections=[{**ACME, "window": 0}]), "connections[0].window: must be a whole number"),
        (
            doc(connections=[{**ACME, "enquire_link_s": 0}]),
            "connections[0].enquire_link_s: must be a number",
        ),
        (
            doc(connections=[{**ACME, "enquire_link_s": "30"}]),
            "connections[0].enquire_link_s: must be a number",
        ),
        (doc(connections=[{**ACME, "tls": "yes"}]), "connections[0].tls: must be true or false"),
        (doc(connections=[{**ACME, "bind": "both"}]), "connections[0].bind: must be one of"),
        (
            doc(connections=[{**ACME, "price": "cheap"}]),
            "connections[0].price: 'cheap' does not match",
        ),
        (doc(connections=[ACME, ACME]), "connections[1].name: 'acme' is used twice"),
        (
            doc(connections=[{**ACME, "failover": "nobody"}]),
            "connections[0].failover: no connection 'nobody'",
        ),
        (
            doc(connections=[{**ACME, "failover": "acme"}]),
            "connections[0].failover: a connection cannot fail over to itself",
        ),
        (
            doc(connections=[{**ACME, "reconnect_min_s": 9, "reconnect_max_s": 2}]),
            "connections[0].reconnect_max_s: must be at least",
        ),
        (doc(routes=[{"connection": "nobody"}]), "routes[0].connection: no connection 'nobody'"),
        (
            doc(routes=[{"connection": "acme", "countries": ["usa"]}]),
            "routes[0].countries: 'usa' is not",
        ),
        (
            doc(routes=[{"connection": "acme", "countries": "US"}]),
            "routes[0].countries: must be an array",
        ),
        (
            doc(routes=[{"connection": "acme", "senders": [""]}]),
            "routes[0].senders: must be an array",
        ),
        (doc(routes=[{"connection": "acme", "via": 1}]), "routes[0].via: unknown key"),
    ],
)
def test_each_mistake_names_its_key(document: dict[str, Any], message: str) -> None:
    with pytest.raises(CarrierConfigError) as caught:
        parse(document)
    assert message in str(caught.value)


def test_routes_first_match_wins_and_unmatched_is_the_simulator() -> None:
    config = parse(
        doc(
            routes=[
                {"connection": "beta", "senders": ["+14155550100"]},
                {"connection": "acme", "countries": ["US"]},
                {"connection": "beta", "countries": ["GB"], "senders": ["Herald"]},
            ]
        )
    )
    assert config.route(country="US", sender="+14155550100") == "beta"
    assert config.route(country="US", sender="+14155550199") == "acme"
    assert config.route(country="GB", sender="Herald") == "beta"
    assert config.route(country="GB", sender="Other") is None
    assert config.route(country=None, sender="x") is None


def test_a_lookup_knows_the_connection_of_a_country_for_any_sender() -> None:
    config = parse(
        doc(
            routes=[
                {"connection": "beta", "countries": ["GB"], "senders": ["Herald"]},
                {"connection": "beta", "senders": ["+14155550100"]},
                {"connection": "acme", "countries": ["US"]},
            ]
        )
    )
    assert config.by_country("US") == "acme"
    assert config.by_country("GB") is None  # only one sender goes over SMPP
    assert config.by_country(None) is None


def test_failover_follows_the_chain_to_the_first_up_and_else_stays() -> None:
    gamma = {**ACME, "name": "gamma"}
    config = parse(
        doc(connections=[{**ACME, "failover": "beta"}, {**BETA, "failover": "gamma"}, gamma])
    )
    up = {"acme", "beta", "gamma"}
    assert config.serving("acme", up.__contains__) == "acme"
    assert config.serving("acme", {"beta", "gamma"}.__contains__) == "beta"
    assert config.serving("acme", {"gamma"}.__contains__) == "gamma"
    assert config.serving("acme", set[str]().__contains__) == "acme"


def test_a_failover_circle_ends() -> None:
    config = parse(doc(connections=[{**ACME, "failover": "beta"}, {**BETA, "failover": "acme"}]))
    assert config.serving("acme", set[str]().__contains__) == "acme"
