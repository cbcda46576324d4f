"""What goes in a submit_sm's address fields and what an SMSC's refusal means to Twilio's
codes: pure rules for the SMPP transport.

SMPP 3.4 §5.2.5–6: TON 1 (international) with NPI 1 (E.164) for a number, written without
its '+'; TON 5 (alphanumeric) with NPI 0 for a sender ID; a short code is TON 3 (network
specific). A connection may override the source TON and NPI, as some SMSCs ask.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from herald.domain import delivery_errors
from herald.domain.senders import SenderKind

TON_UNKNOWN: Final = 0
TON_INTERNATIONAL: Final = 1
TON_NATIONAL: Final = 2
TON_NETWORK: Final = 3
TON_ALPHANUMERIC: Final = 5
NPI_UNKNOWN: Final = 0
NPI_E164: Final = 1

# Answers that mean "not now": the segment is submitted again after a backoff.
ESME_RMSGQFUL: Final = 0x14
ESME_RTHROTTLED: Final = 0x58
ESME_RX_T_APPN: Final = 0x64
RETRY_STATUSES: Final = frozenset({ESME_RMSGQFUL, ESME_RTHROTTLED, ESME_RX_T_APPN})

# Refusals, by command_status, as the message's error code (reference §3.2).
_REFUSALS: Final = {
    0x0B: delivery_errors.UnknownHandset.code,  # ESME_RINVDSTADR: invalid destination
    0x33: delivery_errors.UnknownHandset.code,  # ESME_RINVNUMDESTS
    0x50: delivery_errors.UnknownHandset.code,  # ESME_RINVDESTTON
    0x51: delivery_errors.UnknownHandset.code,  # ESME_RINVDESTNPI
    0x0A: delivery_errors.MessageFiltered.code,  # ESME_RINVSRCADR: sender refused
    0x48: delivery_errors.MessageFiltered.code,  # ESME_RINVSRCTON
    0x49: delivery_errors.MessageFiltered.code,  # ESME_RINVSRCNPI
    0x45: delivery_errors.MessageFiltered.code,  # ESME_RSUBMITFAIL
    0x01: delivery_errors.ContentTooLarge.code,  # ESME_RINVMSGLEN
    0x61: delivery_errors.ContentTooLarge.code,  # ESME_RINVOPTPARAMVAL / too long
}


@dataclass(frozen=True, slots=True)
class Address:
    ton: int
    npi: int
    addr: str


def source_address(
    sender: str, kind: SenderKind, *, ton: int | None = None, npi: int | None = None
) -> Address:
    """The submit_sm's source for a sender, with the connection's overrides."""
    if kind is SenderKind.ALPHANUMERIC:
        found = Address(TON_ALPHANUMERIC, NPI_UNKNOWN, sender)
    elif kind is SenderKind.SHORT_CODE:
        found = Address(TON_NETWORK, NPI_E164, sender)
    else:
        found = destination_address(sender)
    return Address(found.ton if ton is None else ton, found.npi if npi is None else npi, found.addr)


def destination_address(e164: str) -> Address:
    return Address(TON_INTERNATIONAL, NPI_E164, e164.removeprefix("+"))


def inbound_address(addr: str, ton: int) -> str:
    """An address from a deliver_sm as Herald writes numbers: E.164 with its '+' for an
    international number (or a long all-digit one of unknown type), else as given (a
    short code, a national number, a sender ID)."""
    digits = addr.removeprefix("+")
    if digits.isdigit() and (ton == TON_INTERNATIONAL or (ton == TON_UNKNOWN and len(digits) > 8)):
        return f"+{digits}"
    return addr


def refusal_code(status: int) -> int:
    """The message's error code for a submit_sm the SMSC refused with `status`."""
    return _REFUSALS.get(status, delivery_errors.UnknownError.code)
