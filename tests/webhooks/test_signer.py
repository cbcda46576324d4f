"""`X-Twilio-Signature` as twilio-python's own RequestValidator checks it (§9.3)."""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import urlencode

import pytest
from hypothesis import given
from hypothesis import strategies as st
from twilio.request_validator import RequestValidator

from herald.webhooks.signer import form_encode, sign, signed_string

TOKEN = "12345"


class MultiDict(dict[str, str]):
    """A form with repeated names, read through `getall` as Flask's MultiDict is."""

    def __init__(self, pairs: Sequence[tuple[str, str]]) -> None:
        super().__init__(pairs)
        self._pairs = list(pairs)

    def getall(self, name: str) -> list[str]:
        return [value for key, value in self._pairs if key == name]


CASES = [
    ("https://mycompany.com/myapp.php?foo=1&bar=2", [("CallSid", "CA1"), ("Digits", "1234")]),
    ("http://127.0.0.1:8080/status?tenant=a&x=%20y", [("MessageSid", "SM1"), ("To", "+1415")]),
    ("https://example.com:8443/cb", [("Body", "héllo 👋 – ünïcode"), ("From", "+4915")]),
    ("https://example.com/cb", [("MediaUrl", "b"), ("MediaUrl", "a"), ("A", "z")]),
    ("https://example.com/cb", [("Same", "v"), ("Same", "v"), ("Empty", "")]),
    ("https://example.com/cb?only=query", []),
]


@pytest.mark.parametrize(("url", "params"), CASES)
def test_official_validator_accepts(url: str, params: list[tuple[str, str]]) -> None:
    signature = sign(url, params, TOKEN)
    assert RequestValidator(TOKEN).validate(url, MultiDict(params), signature)
    assert not RequestValidator("other").validate(url, MultiDict(params), signature)


def test_repeated_names_sort_their_values() -> None:
    pairs = [("b", "2"), ("a", "9"), ("b", "1")]
    assert signed_string("u", pairs) == "ua9b1b2"
    assert sign("u", pairs, TOKEN) == sign("u", list(reversed(pairs)), TOKEN)


def test_changing_the_url_or_a_value_breaks_the_signature() -> None:
    signature = sign("https://a.example/cb", [("To", "+1")], TOKEN)
    validator = RequestValidator(TOKEN)
    assert not validator.validate("https://a.example/cb?x=1", {"To": "+1"}, signature)
    assert not validator.validate("https://a.example/cb", {"To": "+2"}, signature)


names = st.text(st.characters(codec="utf-8", exclude_characters="\x00"), min_size=1, max_size=8)
values = st.text(st.characters(codec="utf-8"), max_size=20)


@given(st.lists(st.tuples(names, values), max_size=8))
def test_any_form_validates(params: list[tuple[str, str]]) -> None:
    url = "https://hooks.example.com:8443/twilio/status?account=ü"
    assert RequestValidator(TOKEN).validate(url, MultiDict(params), sign(url, params, TOKEN))


@given(st.lists(st.tuples(names, values), max_size=8))
def test_form_encoding_is_urlencode(params: list[tuple[str, str]]) -> None:
    assert form_encode(params) == urlencode(params)
