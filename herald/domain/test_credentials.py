"""Twilio's test credentials (reference §17): magic `From`/`To` numbers with fixed results.

A test account's requests are validated like live ones, but nothing is stored or
sent; these numbers force the documented outcomes so applications can test error paths.
"""

from __future__ import annotations

from herald.domain import errors

VALID_FROM = "+15005550006"

_FROM_ERRORS: dict[str, type[errors.TwilioError]] = {
    "+15005550001": errors.InvalidFrom,
    "+15005550007": errors.FromNotOwned,
    "+15005550008": errors.QueueFull,
}

_TO_ERRORS: dict[str, type[errors.TwilioError]] = {
    "+15005550001": errors.InvalidTo,
    "+15005550002": errors.CannotRoute,
    "+15005550003": errors.NoInternationalPermission,
    "+15005550004": errors.RecipientOptedOut,
    "+15005550009": errors.NotMobile,
}


def is_magic(number: str) -> bool:
    return number.startswith("+1500555")


def check_from(from_: str) -> None:
    """Raise what Twilio answers for this test `From`; pass only the magic valid one."""
    error = _FROM_ERRORS.get(from_)
    if error is not None:
        raise error()
    if from_ != VALID_FROM:
        raise errors.FromNotOwned(
            f"The From phone number {from_} is not a valid, SMS-capable inbound phone number "
            "or short code for your account."
        )


def check_to(to: str) -> None:
    """Raise what Twilio answers for a magic test `To`; other numbers go on to normal checks."""
    error = _TO_ERRORS.get(to)
    if error is not None:
        raise error()
