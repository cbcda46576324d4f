from __future__ import annotations

import pytest

from herald.domain import delivery_errors, errors
from herald.domain.sids import Prefix, format_sid, is_sid


def test_format_and_validate() -> None:
    sid = format_sid(Prefix.MESSAGE, bytes(range(16)))
    assert sid == "SM000102030405060708090a0b0c0d0e0f"
    assert is_sid(sid) and is_sid(sid, Prefix.MESSAGE, Prefix.MEDIA_MESSAGE)
    assert not is_sid(sid, Prefix.ACCOUNT)
    assert not is_sid("SM123") and not is_sid("sm" + "0" * 32)
    assert not is_sid(sid + "\n")  # a regex `$` would have let the newline through


def test_format_needs_sixteen_bytes() -> None:
    with pytest.raises(ValueError):
        format_sid(Prefix.ACCOUNT, b"short")


def test_error_carries_code_status_and_default_message() -> None:
    error = errors.RecipientOptedOut()
    assert (error.code, error.status) == (21610, 400)
    assert error.message == "Attempt to send to unsubscribed recipient"
    assert error.more_info == "https://www.twilio.com/docs/errors/21610"
    assert errors.NotFound("gone").message == "gone"


def test_every_error_class_has_a_message_and_a_code() -> None:
    def leaves(cls: type) -> list[type]:
        subs = cls.__subclasses__()
        return [cls] if not subs else [leaf for sub in subs for leaf in leaves(sub)]

    for cls in leaves(errors.TwilioError):
        error = cls()
        assert error.message, cls
        assert 400 <= error.status <= 599 and 10_000 <= error.code <= 99_999, cls


def test_delivery_error_messages() -> None:
    assert delivery_errors.delivery_error_message(30036) == "Validity Period Expired"
    assert delivery_errors.delivery_error_message(39999) == "Unknown error"
