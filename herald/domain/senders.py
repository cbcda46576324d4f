"""The senders an account owns: phone numbers (long codes, toll-free) and short codes.

A sender's type and country decide its default rate and where it may send; both are
derived from the number when it is registered.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class SenderKind(StrEnum):
    LONG_CODE = "long_code"
    TOLL_FREE = "toll_free"
    SHORT_CODE = "short_code"
    ALPHANUMERIC = "alphanumeric"


@dataclass(frozen=True, slots=True, kw_only=True)
class SmsWebhook:
    sms_url: str = ""
    sms_method: str = "POST"
    sms_fallback_url: str = ""
    sms_fallback_method: str = "POST"


@dataclass(frozen=True, slots=True, kw_only=True)
class Capabilities:
    voice: bool = True
    sms: bool = True
    mms: bool = True
    fax: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class IncomingNumber:
    sid: str
    account_sid: str
    phone_number: str
    friendly_name: str
    country: str
    number_type: str
    webhook: SmsWebhook
    sms_application_sid: str
    voice_url: str
    voice_method: str
    voice_fallback_url: str
    voice_fallback_method: str
    voice_caller_id_lookup: bool
    status_callback: str
    status_callback_method: str
    capabilities: Capabilities
    mps: int | None
    date_created: int
    date_updated: int

    @property
    def kind(self) -> SenderKind:
        return SenderKind.TOLL_FREE if self.number_type == "toll-free" else SenderKind.LONG_CODE


@dataclass(frozen=True, slots=True, kw_only=True)
class ShortCode:
    sid: str
    account_sid: str
    short_code: str
    country: str
    friendly_name: str
    webhook: SmsWebhook
    sms: bool
    mms: bool
    mps: int | None
    date_created: int
    date_updated: int

    @property
    def kind(self) -> SenderKind:
        return SenderKind.SHORT_CODE
