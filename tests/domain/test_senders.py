from __future__ import annotations

from herald.domain.senders import Capabilities, IncomingNumber, SenderKind, ShortCode, SmsWebhook


def number(number_type: str) -> IncomingNumber:
    return IncomingNumber(
        sid="PN" + "0" * 32,
        account_sid="AC" + "0" * 32,
        phone_number="+18005550100",
        friendly_name="n",
        country="US",
        number_type=number_type,
        webhook=SmsWebhook(),
        sms_application_sid="",
        voice_url="",
        voice_method="POST",
        voice_fallback_url="",
        voice_fallback_method="POST",
        voice_caller_id_lookup=False,
        status_callback="",
        status_callback_method="POST",
        capabilities=Capabilities(),
        mps=None,
        date_created=0,
        date_updated=0,
    )


def test_kinds() -> None:
    assert number("toll-free").kind is SenderKind.TOLL_FREE
    assert number("local").kind is SenderKind.LONG_CODE
    assert number("mobile").kind is SenderKind.LONG_CODE
    code = ShortCode(
        sid="SC" + "0" * 32,
        account_sid="AC" + "0" * 32,
        short_code="12345",
        country="US",
        friendly_name="c",
        webhook=SmsWebhook(),
        sms=True,
        mms=False,
        mps=None,
        date_created=0,
        date_updated=0,
    )
    assert code.kind is SenderKind.SHORT_CODE


def test_default_capabilities_and_webhook() -> None:
    assert Capabilities() == Capabilities(voice=True, sms=True, mms=True, fax=False)
    assert SmsWebhook().sms_method == "POST" and SmsWebhook().sms_url == ""
