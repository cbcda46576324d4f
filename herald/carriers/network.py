"""The simulated carrier network's rules: who serves a number, whether it is a landline,
what becomes of a message sent to it, what it costs. Pure, so a user can predict them.

Every rule is a function of the number (and, for the random share, the seed), never of
time or order: two runs with the same seed and recipients get the same outcomes.

* Carrier: numbers belong to carriers in blocks of 1,000 (the number without its last
  three digits, as NANP thousands-block pooling assigns them), picked by a stable hash
  weighted by market share (`sim_tables.CARRIERS`); other countries get one generic one.
* Test numbers, by the last four digits of any valid number (like Twilio's codes):
  3003 → undelivered 30003 (unreachable), 3004 → 30004 (blocked), 3005 → 30005 (unknown
  destination), 3006 → 30006 (landline; `lookup` says so), 3007 → 30007 (filtered),
  3008 → 30008 (unknown error), 3000 → accepted but no receipt ever (stays `sent`).
  E.g. +14155553007 is filtered.
* Landlines (undelivered 30006): in GB, DE, FR, AU, IN and BR every number outside the
  mobile ranges (`sim_tables.MOBILE_RANGES`, e.g. +44 1…, +33 1…–5…); in +1 countries
  line numbers 99xx (+1 NPA NXX 99xx, e.g. +14155559901); and elsewhere, including US,
  CA and MX, a stable hash-chosen 1 % of the remaining numbers.
* Always delivered: NANPA's fictional range +1 NPA 555-0100…0199 (+14155550100), on the
  country's main carrier (short codes and MMS), never a landline nor a random failure.
  Every other number is delivered, except a seeded `failure_rate` share of recipients,
  with a realistic mix of 30003/30005/30007/30008/30004.
"""

from __future__ import annotations

import functools
import hashlib
import math
import random
from collections import deque
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from herald.carriers.sim_tables import (
    CARRIERS,
    DEFAULT_MMS_PRICE,
    DEFAULT_SMS_PRICE,
    GENERIC_CARRIER_NAME,
    MMS_PRICES,
    MOBILE_RANGES,
    SMS_PRICES,
    Carrier,
)
from herald.domain import delivery_errors, errors
from herald.domain.carrier import CarrierInfo
from herald.domain.numbers import NumberError, PhoneNumber, has_short_codes, parse_number
from herald.domain.senders import SenderKind


class Outcome(StrEnum):
    """What the carrier did with a message; the values are the log's `outcome` column."""

    DELIVERED = "delivered"
    UNDELIVERED = "undelivered"
    NO_RECEIPT = "no_receipt"  # accepted, never reported on (Twilio leaves it `sent`)
    REFUSED = "refused"  # not accepted: the submit result carries the error code


@dataclass(frozen=True, slots=True)
class Fate:
    outcome: Outcome
    error_code: int | None = None

    @property
    def has_receipt(self) -> bool:
        return self.outcome is Outcome.DELIVERED or self.outcome is Outcome.UNDELIVERED


DELIVERED: Final = Fate(Outcome.DELIVERED)
LANDLINE_CODE: Final = delivery_errors.LandlineOrUnreachableCarrier.code
MMS_UNSUPPORTED_CODE: Final = delivery_errors.MmsNotSupported.code
# Twilio's "To not reachable with this From" (reference §3.2): the carrier takes no short codes.
SHORT_CODE_UNSUPPORTED_CODE: Final = errors.CannotRoute.code
INVALID_RECIPIENT_CODE: Final = errors.InvalidTo.code
# Test numbers by their last four digits: "3" and the last three digits of the code.
MAGIC_FATES: Final[dict[str, Fate]] = {
    "3000": Fate(Outcome.NO_RECEIPT),
    "3003": Fate(Outcome.UNDELIVERED, delivery_errors.UnreachableHandset.code),
    "3004": Fate(Outcome.UNDELIVERED, delivery_errors.MessageBlocked.code),
    "3005": Fate(Outcome.UNDELIVERED, delivery_errors.UnknownHandset.code),
    "3006": Fate(Outcome.UNDELIVERED, delivery_errors.LandlineOrUnreachableCarrier.code),
    "3007": Fate(Outcome.UNDELIVERED, delivery_errors.MessageFiltered.code),
    "3008": Fate(Outcome.UNDELIVERED, delivery_errors.UnknownError.code),
}
LANDLINE_SUFFIX: Final = "3006"
LANDLINE_SHARE: Final = 0.01
# How random failures split, in percent: most are handsets off or out of coverage.
FAILURE_MIX: Final = (
    (delivery_errors.UnreachableHandset.code, 50),
    (delivery_errors.UnknownHandset.code, 15),
    (delivery_errors.MessageFiltered.code, 15),
    (delivery_errors.UnknownError.code, 15),
    (delivery_errors.MessageBlocked.code, 5),
)
_CACHE_SIZE = 65536


def stable_fraction(text: str) -> float:
    """A uniform number in [0, 1) from `text`, the same in every process (unlike `hash`)."""
    digest = hashlib.blake2b(text.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def _slots(carriers: tuple[Carrier, ...]) -> tuple[Carrier, ...]:
    """One entry per percent of market share, so a hash picks a carrier in O(1)."""
    slots = tuple(c for c in carriers for _ in range(c.share))
    assert len(slots) == 100, f"shares of {carriers[0].name}'s country do not add up to 100"
    return slots


_SLOTS: Final = {country: _slots(carriers) for country, carriers in CARRIERS.items()}


def is_fictional(e164: str) -> bool:
    """NANPA's range for fiction, +1 NPA 555-0100…0199: always delivered here."""
    return e164.startswith("+1") and e164[5:10] == "55501"


def is_landline(number: PhoneNumber) -> bool:
    e164 = number.e164
    if e164.endswith(LANDLINE_SUFFIX):
        return True
    if is_fictional(e164):
        return False
    mobile = MOBILE_RANGES.get(number.country)
    if mobile is not None:
        return mobile.fullmatch(number.national_number) is None
    if number.country_code == 1 and e164[-4:-2] == "99":
        return True
    return stable_fraction("line:" + e164) < LANDLINE_SHARE


def carrier_of(number: PhoneNumber) -> Carrier:
    """Weighted by market share; a fictional number is on the main carrier (takes it all)."""
    slots = _SLOTS.get(number.country)
    if slots is None:
        return Carrier(
            name=GENERIC_CARRIER_NAME,
            share=100,
            supports_short_codes=has_short_codes(number.country),
            supports_mms=False,
        )
    if is_fictional(number.e164):
        return slots[0]
    return slots[int(stable_fraction("block:" + number.e164[:-3]) * 100)]


@functools.lru_cache(maxsize=_CACHE_SIZE)
def lookup_carrier(e164: str) -> CarrierInfo | None:
    """The recipient's carrier and line type; None when it is not a number Herald can message."""
    try:
        number = parse_number(e164)
    except NumberError:
        return None
    carrier = carrier_of(number)
    return CarrierInfo(
        name=carrier.name,
        country=number.country,
        supports_short_codes=carrier.supports_short_codes,
        supports_mms=carrier.supports_mms,
        is_landline=is_landline(number),
    )


@functools.lru_cache(maxsize=_CACHE_SIZE)
def decide_fate(e164: str, *, is_landline: bool, seed: int, failure_rate: float) -> Fate:
    """What happens to an accepted message: test numbers first, then landlines, then chance."""
    magic = MAGIC_FATES.get(e164[-4:])
    if magic is not None:
        return magic
    if is_landline:
        return Fate(Outcome.UNDELIVERED, LANDLINE_CODE)
    if is_fictional(e164):
        return DELIVERED
    draw = stable_fraction(f"fate:{seed}:{e164}")
    if draw >= failure_rate:
        return DELIVERED
    return Fate(Outcome.UNDELIVERED, _failure_code(draw / failure_rate))


def _failure_code(share: float) -> int:
    percent = share * 100
    for code, weight in FAILURE_MIX:
        if percent < weight:
            return code
        percent -= weight
    return FAILURE_MIX[-1][0]


def refusal_code(info: CarrierInfo, *, sender_kind: SenderKind, has_media: bool) -> int | None:
    """Why the carrier refuses a submission outright, if it does (the message fails)."""
    if has_media and not info.supports_mms:
        return MMS_UNSUPPORTED_CODE
    if sender_kind is SenderKind.SHORT_CODE and not info.supports_short_codes:
        return SHORT_CODE_UNSUPPORTED_CODE
    return None


def price_of(country: str, *, is_mms: bool) -> str:
    """USD per SMS segment, or per MMS message, as Twilio's five-decimal string."""
    if is_mms:
        return MMS_PRICES.get(country, DEFAULT_MMS_PRICE)
    return SMS_PRICES.get(country, DEFAULT_SMS_PRICE)


def carrier_message_id(reference: str) -> str:
    """The carrier's id for a submission: derived from the reference, so a resend gets it too."""
    return hashlib.blake2b(reference.encode(), digest_size=10).hexdigest()


class SlidingWindow:
    """A carrier's capacity: at most `limit` submissions in any one-second window."""

    __slots__ = ("_limit", "_times")

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._times: deque[int] = deque()

    def admit(self, now_us: int) -> float | None:
        """None if admitted (and counted); otherwise the seconds until there is room."""
        times = self._times
        horizon = now_us - 1_000_000
        while times and times[0] <= horizon:
            times.popleft()
        if len(times) >= self._limit:
            return (times[0] - horizon) / 1_000_000
        times.append(now_us)
        return None


@dataclass(frozen=True, slots=True)
class Lognormal:
    """A latency distribution: most draws near the median, a long tail, capped."""

    median_s: float
    sigma: float
    max_s: float

    def draw(self, rng: random.Random) -> float:
        return min(self.max_s, rng.lognormvariate(math.log(self.median_s), self.sigma))


ACK_LATENCY: Final = Lognormal(median_s=0.08, sigma=0.6, max_s=1.0)
RECEIPT_LATENCY: Final = Lognormal(median_s=3.0, sigma=0.6, max_s=60.0)
