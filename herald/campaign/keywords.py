"""Reply keywords, and who is suppressed: the latest keyword per recipient and sending
number wins (seed 004's suppression query), so STOP then START is sendable again.

Matching is Twilio's: the whole message is the keyword, any case; surrounding spaces and
trailing punctuation ("Stop.", "STOP!") are forgiven, the safer reading for compliance.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

OPT_OUT = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT"})
OPT_IN = frozenset({"START", "YES", "UNSTOP"})
HELP = frozenset({"HELP", "INFO"})
ALL = OPT_OUT | OPT_IN | HELP
_PUNCTUATION = ".!?,;:"


class Kind(StrEnum):
    OPT_OUT = "opt-out"
    OPT_IN = "opt-in"
    HELP = "help"


def keyword_of(body: str | None) -> str | None:
    """The keyword `body` is, upper-cased, or None."""
    if not body:
        return None
    word = body.strip().rstrip(_PUNCTUATION).strip().upper()
    return word if word in ALL else None


def kind_of(keyword: str) -> Kind:
    if keyword in OPT_OUT:
        return Kind.OPT_OUT
    if keyword in OPT_IN:
        return Kind.OPT_IN
    return Kind.HELP


@dataclass(frozen=True, slots=True, kw_only=True)
class Activity:
    """One keyword a recipient sent to one of the sending numbers (seed 004's
    TwilioSMS_Suppression row), or an entry of Herald's opt-out ledger."""

    phone: str
    number: str  # the sending number it went to; "" for an account-wide ledger entry
    keyword: str
    at_us: int


def suppressed(activities: Iterable[Activity], numbers: Iterable[str]) -> set[str]:
    """The recipients whose latest opt-out/opt-in keyword to any of `numbers` (or to the
    whole account) is an opt-out. HELP changes nothing."""
    senders = set(numbers) | {""}
    latest: dict[tuple[str, str], Activity] = {}
    for activity in activities:
        if activity.number not in senders or kind_of(activity.keyword) is Kind.HELP:
            continue
        slot = (activity.phone, activity.number)
        known = latest.get(slot)
        if known is None or activity.at_us >= known.at_us:
            latest[slot] = activity
    return {phone for (phone, _number), a in latest.items() if kind_of(a.keyword) is Kind.OPT_OUT}
