"""Address fields and refusal codes for SMPP."""

from __future__ import annotations

from herald.domain.senders import SenderKind
from herald.domain.smpp_addresses import (
    Address,
    destination_address,
    inbound_address,
    refusal_code,
    source_address,
)


def test_source_addresses_by_sender_kind() -> None:
    assert source_address("+14155550100", SenderKind.LONG_CODE) == Address(1, 1, "14155550100")
    assert source_address("Herald", SenderKind.ALPHANUMERIC) == Address(5, 0, "Herald")
    assert source_address("12345", SenderKind.SHORT_CODE) == Address(3, 1, "12345")
    assert source_address("+18005550100", SenderKind.TOLL_FREE, ton=0, npi=9) == Address(
        0, 9, "18005550100"
    )


def test_destination_and_inbound_addresses() -> None:
    assert destination_address("+447700900123") == Address(1, 1, "447700900123")
    assert inbound_address("14155550100", 1) == "+14155550100"
    assert inbound_address("+14155550100", 1) == "+14155550100"
    assert inbound_address("14155550100", 0) == "+14155550100"
    assert inbound_address("12345", 0) == "12345"
    assert inbound_address("4155550100", 2) == "4155550100"
    assert inbound_address("Herald", 5) == "Herald"


def test_refusals_map_to_twilio_codes() -> None:
    assert refusal_code(0x0B) == 30005
    assert refusal_code(0x0A) == 30007
    assert refusal_code(0x01) == 30019
    assert refusal_code(0xFF) == 30008
