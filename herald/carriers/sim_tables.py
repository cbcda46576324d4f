"""The simulated network's data: carriers per country, mobile number ranges and prices.

Carriers and companies are fictional (no real network is involved). Flags follow what
Herald copies from Twilio: MMS only in the US and Canada (reference §12), short codes
only where the short-code table lists the country (reference §8.1). Prices are USD.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Final


@dataclass(frozen=True, slots=True, kw_only=True)
class Carrier:
    name: str
    share: int  # percent of the country's numbers (shares of a country add up to 100)
    supports_short_codes: bool
    supports_mms: bool


def _carrier(name: str, share: int, short_codes: bool = True, mms: bool = False) -> Carrier:
    return Carrier(name=name, share=share, supports_short_codes=short_codes, supports_mms=mms)


CARRIERS: Final[dict[str, tuple[Carrier, ...]]] = {
    "US": (
        _carrier("Meridian Wireless", 38, mms=True),
        _carrier("Beacon Mobile", 30, mms=True),
        _carrier("Summit Cellular", 20, mms=True),
        _carrier("Cascade Prepaid", 7, short_codes=False, mms=True),
        _carrier("Prairie Rural Cellular", 5, mms=False),
    ),
    "CA": (
        _carrier("Aurora Wireless", 40, mms=True),
        _carrier("Maple Mobile", 35, mms=True),
        _carrier("Tundra Telecom", 25, short_codes=False, mms=True),
    ),
    "GB": (
        _carrier("Albion Mobile", 40),
        _carrier("Thames Telecom", 35),
        _carrier("Pennine Wireless", 25),
    ),
    "DE": (
        _carrier("Rhein Mobilfunk", 45),
        _carrier("Spree Telekom", 35),
        _carrier("Alpen Funk", 20),
    ),
    "FR": (
        _carrier("Lumiere Mobile", 40),
        _carrier("Seine Telecom", 35),
        _carrier("Provence Mobile", 25),
    ),
    "AU": (
        _carrier("Southern Cross Mobile", 45, short_codes=False),
        _carrier("Coral Sea Telecom", 35, short_codes=False),
        _carrier("Outback Wireless", 20, short_codes=False),
    ),
    "IN": (
        _carrier("Ganges Mobile", 40),
        _carrier("Deccan Telecom", 35),
        _carrier("Himalaya Cellular", 25),
    ),
    "BR": (
        _carrier("Amazonia Movel", 40),
        _carrier("Carioca Telecom", 35),
        _carrier("Pampas Celular", 25),
    ),
    "MX": (
        _carrier("Azteca Movil", 55),
        _carrier("Sierra Madre Telecom", 45),
    ),
}
# Any other country: one carrier; it takes short codes where the country has them.
GENERIC_CARRIER_NAME: Final = "Globex Roaming"

# National numbers that are mobiles, where the numbering plan tells them apart; every other
# number of these countries is a landline. Elsewhere phonenumbers cannot tell (US, CA, MX).
MOBILE_RANGES: Final[dict[str, re.Pattern[str]]] = {
    "GB": re.compile(r"7[1-57-9]\d{8}"),  # 07xxx, less 070 personal numbers and 076 pagers
    "DE": re.compile(r"1[5-7]\d{8,10}"),  # 015x, 016x, 017x
    "FR": re.compile(r"[67]\d{8}"),  # 06, 07
    "AU": re.compile(r"4\d{8}"),  # 04
    "IN": re.compile(r"[6-9]\d{9}"),
    "BR": re.compile(r"\d{2}9\d{8}"),  # area code, then nine digits starting with 9
}


def _usd(amounts: dict[str, str]) -> dict[str, str]:
    """Twilio's price strings have five decimals: "0.0079" becomes "0.00790"."""
    return {country: f"{Decimal(amount):.5f}" for country, amount in amounts.items()}


SMS_PRICES: Final = _usd(
    {
        "US": "0.0079",
        "CA": "0.0079",
        "GB": "0.0400",
        "DE": "0.0850",
        "FR": "0.0750",
        "AU": "0.0515",
        "IN": "0.0083",
        "BR": "0.0500",
        "MX": "0.0300",
    }
)
DEFAULT_SMS_PRICE: Final = f"{Decimal('0.0500'):.5f}"
MMS_PRICES: Final = _usd({"US": "0.0200", "CA": "0.0200"})  # per message, not per segment
DEFAULT_MMS_PRICE: Final = f"{Decimal('0.0200'):.5f}"
