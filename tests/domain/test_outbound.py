"""The send-request checks, in Twilio's order, without a server."""

from __future__ import annotations

import pytest

from herald.domain import errors, service_errors
from herald.domain.outbound import (
    FromKind,
    SendRequest,
    check_content,
    classify_from,
    is_http_url,
    prepare,
)

OK = {"to": "+14155550111", "from_": "+14155550100", "body": "hi"}


def req(**changes: object) -> SendRequest:
    return SendRequest(**{**OK, **changes})  # type: ignore[arg-type]


def test_a_valid_request_becomes_a_draft() -> None:
    draft = prepare(req(body="x" * 161))
    assert draft.to.e164 == "+14155550111"
    assert draft.from_kind is FromKind.PHONE and draft.from_value == "+14155550100"
    assert draft.encoded.num_segments == 2


def test_to_without_plus_is_read_in_the_senders_country() -> None:
    assert prepare(req(to="(415) 555-0111")).to.e164 == "+14155550111"


def test_smart_encoding_applies_only_when_asked() -> None:
    body = "“hi”"
    assert prepare(req(body=body)).encoded.encoding.value == "UCS-2"
    assert prepare(req(body=body, smart_encoded=True)).encoded.encoding.value == "GSM-7"


@pytest.mark.parametrize(
    ("changes", "error"),
    [
        ({"to": None}, errors.ToRequired),
        ({"to": ""}, errors.ToRequired),
        ({"from_": None}, errors.FromRequired),
        ({"body": None}, errors.BodyRequired),
        ({"body": "  "}, errors.BodyOrMediaRequired),
        ({"to": "nope"}, errors.InvalidTo),
        ({"to": "+14155550100"}, errors.InvalidTo),
        ({"from_": "+1999"}, errors.InvalidFrom),
        ({"from_": "bad sender id!"}, errors.InvalidFrom),
        ({"from_": "Herald"}, errors.CannotRoute),
        ({"body": "x" * 1601}, errors.BodyTooLong),
        ({"media_urls": ("https://e.com/a.png",) * 11}, errors.TooManyMedia),
        ({"media_urls": ("e.com/a.png",)}, errors.InvalidMediaUrl),
        ({"validity_period": 0}, errors.InvalidValidityPeriod),
        ({"validity_period": 36_001}, errors.InvalidValidityPeriod),
        ({"status_callback": "http://under_score.com"}, errors.InvalidStatusCallback),
        ({"send_at": "2030-01-01T00:00:00Z"}, service_errors.SchedulingNeedsService),
        ({"messaging_service_sid": "MG1"}, service_errors.ServiceNotFound),
        ({"content_sid": "HX" + "0" * 32}, errors.InvalidContentSid),
    ],
)
def test_each_bad_input_has_its_error(changes: dict[str, object], error: type) -> None:
    with pytest.raises(error):
        prepare(req(**changes))


def test_the_first_error_wins() -> None:
    with pytest.raises(errors.ToRequired):
        prepare(SendRequest())
    with pytest.raises(errors.InvalidTo):
        prepare(req(to="bad", body="x" * 2000))


def test_media_alone_is_a_message() -> None:
    draft = prepare(req(body=None, media_urls=("https://e.com/a.png",)))
    assert draft.body == "" and draft.media_urls == ("https://e.com/a.png",)


def test_alpha_sender_to_a_country_that_allows_it() -> None:
    draft = prepare(req(from_="Herald", to="+447911123456"))
    assert draft.from_kind is FromKind.ALPHANUMERIC


@pytest.mark.parametrize(
    ("request_", "kind"),
    [
        (SendRequest(from_="12345"), FromKind.SHORT_CODE),
        (SendRequest(from_="MG" + "a" * 32), FromKind.SERVICE),
        (SendRequest(messaging_service_sid="MG" + "b" * 32), FromKind.SERVICE),
        (SendRequest(from_="+44 7911 123456"), FromKind.PHONE),
        (SendRequest(from_="Acme Co"), FromKind.ALPHANUMERIC),
    ],
)
def test_classify_from(request_: SendRequest, kind: FromKind) -> None:
    assert classify_from(request_)[0] is kind


@pytest.mark.parametrize("blank", [" ", "\t", "\n", "   \r\n"])
@pytest.mark.parametrize("service", [None, "MG" + "a" * 32])
def test_a_blank_from_is_malformed_never_no_sender(blank: str, service: str | None) -> None:
    """Issue 10: `From= ` was taken for a service with an empty SID and sent from nobody."""
    with pytest.raises(errors.InvalidFrom):
        classify_from(SendRequest(from_=blank, messaging_service_sid=service))
    with pytest.raises(errors.InvalidFrom):
        prepare(req(from_=blank, messaging_service_sid=service))


def test_no_from_and_no_service_is_21603_wherever_asked() -> None:
    with pytest.raises(errors.FromRequired):
        classify_from(SendRequest(to="+14155550111", body="x"))


@pytest.mark.parametrize("from_", ["MG" + "a" * 31 + "g", "\u00b2\u00b3\u00b9\u2074\u2075"])
def test_a_near_miss_from_is_21212(from_: str) -> None:
    with pytest.raises(errors.InvalidFrom):
        classify_from(SendRequest(from_=from_))


def test_check_content_is_a_sends_body_and_media_rule() -> None:
    check_content("x" * 1600, ("https://e.com/a.png",) * 10, allow_private=False)
    with pytest.raises(errors.BodyTooLong):
        check_content("😀" * 801, (), allow_private=False)
    with pytest.raises(errors.TooManyMedia):
        check_content("", ("https://e.com/a.png",) * 11, allow_private=False)
    with pytest.raises(errors.InvalidMediaUrl):
        check_content("", ("javascript:alert(1)",), allow_private=False)
    with pytest.raises(errors.InvalidMediaUrl):
        check_content("", ("http://169.254.169.254/latest",), allow_private=True)
    check_content("", ("http://10.0.0.1/a.png",), allow_private=True)


def test_scheduling_with_a_service_passes_the_first_checks() -> None:
    draft = prepare(
        req(from_=None, messaging_service_sid="MG" + "a" * 32, send_at="2030-01-01T00:00:00Z")
    )
    assert draft.from_kind is FromKind.SERVICE


@pytest.mark.parametrize(
    ("url", "ok"),
    [
        ("https://example.com/cb", True),
        ("http://127.0.0.1:8080/cb", True),
        ("http://[::1]:8080/cb", True),
        ("http://a_b.example.com/", False),
        ("ftp://example.com/", False),
        ("https://", False),
        ("http://example.com:99999/", False),
        ("http://2130706433/", True),  # an address (127.0.0.1): the target policy decides
        ("http://0x7f000001:8080/", True),
        ("http://1.2.3.256/", False),  # ends in a number but is no address
        ("http://foo.1/", False),
        ("http://[::g]/", False),
        ("not a url", False),
        ("https://-bad-.com/", False),
        ("https://example.com/" + "a" * 1004, True),  # 1024 characters: as long as stored
        ("https://example.com/" + "a" * 1005, False),
        ("https://example.com/a\x00", False),
        ("https://example.com/a\nb", False),
        ("https://example.com/a\x7f", False),
    ],
)
def test_is_http_url(url: str, ok: bool) -> None:
    assert is_http_url(url) is ok


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data/",
        "http://10.0.0.1/",
        "http://[fd00::1]/",
        "http://2130706433/",
        "http://0x7f000001/",
        "http://0177.0.0.1:8080/",
        "http://[::ffff:127.0.0.1]/",
    ],
)
def test_a_literal_address_the_policy_refuses_is_invalid(url: str) -> None:
    with pytest.raises(errors.InvalidStatusCallback, match="does not send to"):
        prepare(req(status_callback=url))
    with pytest.raises(errors.InvalidMediaUrl, match="does not send to"):
        prepare(req(media_urls=(url,)))


def test_private_literal_addresses_are_allowed_by_the_setting() -> None:
    draft = prepare(
        req(status_callback="http://127.1:8080/cb", media_urls=("http://10.0.0.1/a.png",)),
        allow_private=True,
    )
    assert draft.request.status_callback == "http://127.1:8080/cb"
    with pytest.raises(errors.InvalidStatusCallback, match="cloud metadata"):
        prepare(req(status_callback="http://169.254.169.254/"), allow_private=True)
    assert prepare(req(status_callback="https://hooks.example.com/cb")).to.e164


def test_media_urls_may_be_longer() -> None:
    assert is_http_url("https://example.com/" + "a" * 2000, max_length=2048)


class TestCredentials:
    @pytest.mark.parametrize(
        ("from_", "to", "error"),
        [
            ("+15005550001", "+14155550111", errors.InvalidFrom),
            ("+15005550007", "+14155550111", errors.FromNotOwned),
            ("+15005550008", "+14155550111", errors.QueueFull),
            ("+14155550100", "+14155550111", errors.FromNotOwned),
            ("+15005550006", "+15005550001", errors.InvalidTo),
            ("+15005550006", "+15005550002", errors.CannotRoute),
            ("+15005550006", "+15005550003", errors.NoInternationalPermission),
            ("+15005550006", "+15005550004", errors.RecipientOptedOut),
            ("+15005550006", "+15005550009", errors.NotMobile),
            ("+15005550006", "+15005550005", errors.InvalidTo),
        ],
    )
    def test_magic_numbers(self, from_: str, to: str, error: type) -> None:
        with pytest.raises(error):
            prepare(req(from_=from_, to=to), test=True)

    def test_the_valid_magic_sender_passes(self) -> None:
        draft = prepare(req(from_="+15005550006", to="4155550111"), test=True)
        assert draft.to.e164 == "+14155550111"

    def test_services_are_refused(self) -> None:
        with pytest.raises(errors.FromNotOwned):
            prepare(req(messaging_service_sid="MG" + "a" * 32), test=True)
