"""An inbound message's webhook: which URL (§10.1), its form (§10.2), its price."""

from __future__ import annotations

import pytest

from herald.domain import inbound
from herald.domain.inbound import (
    InboundMedia,
    InboundMessage,
    WebhookTarget,
    inbound_price,
    place_of,
    webhook_params,
    webhook_target,
)
from herald.domain.senders import SmsWebhook
from herald.domain.services import Service

NUMBER_HOOK = SmsWebhook(
    sms_url="https://n.example/sms",
    sms_method="GET",
    sms_fallback_url="https://n.example/fb",
    sms_fallback_method="POST",
)


def service(*, defer: bool, url: str | None = "https://s.example/in") -> Service:
    return Service(
        sid="MG" + "1" * 32,
        account_sid="AC" + "1" * 32,
        friendly_name="s",
        inbound_request_url=url,
        inbound_method="POST",
        fallback_url="https://s.example/fb",
        fallback_method="GET",
        use_inbound_webhook_on_number=defer,
    )


def test_a_number_alone_calls_its_own_webhook() -> None:
    assert webhook_target(NUMBER_HOOK, None) == WebhookTarget(
        url="https://n.example/sms",
        method="GET",
        fallback_url="https://n.example/fb",
        fallback_method="POST",
    )


def test_a_service_that_defers_calls_the_numbers_webhook() -> None:
    assert webhook_target(NUMBER_HOOK, service(defer=True)).url == "https://n.example/sms"


def test_a_service_that_does_not_defer_calls_its_own() -> None:
    target = webhook_target(NUMBER_HOOK, service(defer=False))
    assert target == WebhookTarget(
        url="https://s.example/in",
        method="POST",
        fallback_url="https://s.example/fb",
        fallback_method="GET",
    )


def test_only_a_fallback_url_is_called_as_the_url() -> None:
    target = webhook_target(NUMBER_HOOK, service(defer=False, url=None))
    assert target == WebhookTarget(
        url="https://s.example/fb", method="GET", fallback_url="", fallback_method="GET"
    )


def test_no_url_at_all_calls_nothing() -> None:
    assert webhook_target(SmsWebhook(), None) is None


def test_what_is_known_of_where_a_number_is() -> None:
    assert place_of("+14155550100").country == "US"
    assert (place_of("+14155550100").state, place_of("+14155550100").city) == (
        "CA",
        "San Francisco",
    )
    assert place_of("+447400123456").country == "GB"
    assert place_of("+447400123456").state == ""
    assert place_of("+18005550100").state == ""  # toll-free: no state, no city
    assert place_of("not a number").country == ""


def test_texters_of_one_exchange_share_one_lookup(monkeypatch: pytest.MonkeyPatch) -> None:
    first = place_of("+12125550100")
    assert place_of("+12125550177") is first  # the same NPA-NXX: answered from the first
    assert place_of("+12125560100") is not first
    monkeypatch.setattr(inbound, "MAX_PREFIXES", 2)  # the table is bounded
    for exchange in range(555, 560):
        place_of(f"+1415{exchange}0100")
    assert len(inbound._by_prefix) <= 2
    assert place_of("+12125550100") == first


def test_the_form_carries_twilios_parameters() -> None:
    message = InboundMessage(
        carrier="simulator",
        carrier_id="1",
        from_number="+12125550100",
        to_number="+14155550100",
        body="x" * 2000,
        media=(InboundMedia(url="https://m/1.jpg", content_type="image/jpeg"),),
        num_segments=2,
    )
    params = webhook_params(
        message_sid="SM1",
        account_sid="AC1",
        service_sid="MG1",
        message=message,
        opt_out_type="STOP",
    )
    form = dict(params)
    assert len(form) == len(params)  # no name twice
    assert form["Body"] == "x" * 1600
    assert (form["From"], form["FromState"], form["FromCity"]) == (
        "+12125550100",
        "NY",
        "New York",
    )
    assert (form["ToCountry"], form["ToState"], form["ToZip"]) == ("US", "CA", "")
    assert form["NumMedia"] == "1" and form["MediaUrl0"] == "https://m/1.jpg"
    assert form["MediaContentType0"] == "image/jpeg"
    assert form["MessagingServiceSid"] == "MG1" and form["OptOutType"] == "STOP"
    assert form["NumSegments"] == "2" and form["SmsStatus"] == "received"


def test_without_a_service_or_keyword_those_are_left_out() -> None:
    message = InboundMessage(
        carrier="s", carrier_id="1", from_number="+12125550100", to_number="12345", body="hi"
    )
    form = dict(
        webhook_params(
            message_sid="SM1",
            account_sid="AC1",
            service_sid=None,
            message=message,
            opt_out_type=None,
        )
    )
    assert "MessagingServiceSid" not in form and "OptOutType" not in form
    assert form["ToCountry"] == "" and form["NumMedia"] == "0"


def test_inbound_is_priced_per_segment_negative() -> None:
    assert inbound_price(1) == "-0.00750"
    assert inbound_price(3) == "-0.02250"
    assert inbound_price(0) == "-0.00750"
