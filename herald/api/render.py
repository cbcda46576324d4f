"""Herald's values as Twilio's JSON: snake_case keys, strings where Twilio has strings
(`num_segments`, `num_media`, `price`), RFC 2822 dates and relative `uri`s (§2.1, §5)."""

from __future__ import annotations

from typing import Any

from herald.domain.accounts import Account, ApiKey
from herald.domain.message import Media, Message
from herald.domain.senders import IncomingNumber, ShortCode
from herald.domain.timestamps import rfc2822

API_VERSION = "2010-04-01"
BASE = f"/{API_VERSION}/Accounts"


def message(m: Message) -> dict[str, Any]:
    uri = f"{BASE}/{m.account_sid}/Messages/{m.sid}"
    return {
        "account_sid": m.account_sid,
        "api_version": API_VERSION,
        "body": m.body,
        "date_created": rfc2822(m.date_created),
        "date_sent": rfc2822(m.date_sent),
        "date_updated": rfc2822(m.date_updated),
        "direction": m.direction.value,
        "error_code": m.error_code,
        "error_message": m.error_message,
        "from": m.from_number,
        "messaging_service_sid": m.messaging_service_sid,
        "num_media": str(m.num_media),
        "num_segments": str(m.num_segments),
        "price": m.price,
        "price_unit": m.price_unit,
        "sid": m.sid,
        "status": m.status.value,
        "subresource_uris": {
            "media": f"{uri}/Media.json",
            "feedback": f"{uri}/Feedback.json",
        },
        "tags": m.tags,
        "to": m.to_number,
        "uri": f"{uri}.json",
    }


def feedback(m: Message) -> dict[str, Any]:
    return {
        "account_sid": m.account_sid,
        "date_created": rfc2822(m.feedback_date),
        "date_updated": rfc2822(m.feedback_date),
        "message_sid": m.sid,
        "outcome": m.feedback_outcome,
        "uri": f"{BASE}/{m.account_sid}/Messages/{m.sid}/Feedback.json",
    }


def media(m: Media) -> dict[str, Any]:
    return {
        "account_sid": m.account_sid,
        "content_type": m.content_type,
        "date_created": rfc2822(m.date_created),
        "date_updated": rfc2822(m.date_updated),
        "parent_sid": m.message_sid,
        "sid": m.sid,
        "uri": f"{BASE}/{m.account_sid}/Messages/{m.message_sid}/Media/{m.sid}.json",
    }


def incoming_number(n: IncomingNumber) -> dict[str, Any]:
    caps = n.capabilities
    return {
        "account_sid": n.account_sid,
        "address_requirements": "none",
        "address_sid": None,
        "api_version": API_VERSION,
        "beta": False,
        "bundle_sid": None,
        "capabilities": {"voice": caps.voice, "sms": caps.sms, "mms": caps.mms, "fax": caps.fax},
        "date_created": rfc2822(n.date_created),
        "date_updated": rfc2822(n.date_updated),
        "emergency_address_sid": None,
        "emergency_address_status": "unregistered",
        "emergency_status": "Inactive",
        "friendly_name": n.friendly_name,
        "identity_sid": None,
        "iso_country": n.country,
        "mps": n.mps,
        "origin": "hosted",
        "phone_number": n.phone_number,
        "sid": n.sid,
        "sms_application_sid": n.sms_application_sid or None,
        "sms_fallback_method": n.webhook.sms_fallback_method,
        "sms_fallback_url": n.webhook.sms_fallback_url,
        "sms_method": n.webhook.sms_method,
        "sms_url": n.webhook.sms_url,
        "status": "in-use",
        "status_callback": n.status_callback,
        "status_callback_method": n.status_callback_method,
        "subresource_uris": {
            "assigned_add_ons": (
                f"{BASE}/{n.account_sid}/IncomingPhoneNumbers/{n.sid}/AssignedAddOns.json"
            )
        },
        "trunk_sid": None,
        "type": n.number_type,
        "uri": f"{BASE}/{n.account_sid}/IncomingPhoneNumbers/{n.sid}.json",
        "voice_application_sid": None,
        "voice_caller_id_lookup": n.voice_caller_id_lookup,
        "voice_fallback_method": n.voice_fallback_method,
        "voice_fallback_url": n.voice_fallback_url,
        "voice_method": n.voice_method,
        "voice_receive_mode": "voice",
        "voice_url": n.voice_url,
    }


def short_code(c: ShortCode) -> dict[str, Any]:
    return {
        "account_sid": c.account_sid,
        "api_version": API_VERSION,
        "capabilities": {"sms": c.sms, "mms": c.mms},
        "date_created": rfc2822(c.date_created),
        "date_updated": rfc2822(c.date_updated),
        "friendly_name": c.friendly_name,
        "iso_country": c.country,
        "mps": c.mps,
        "short_code": c.short_code,
        "sid": c.sid,
        "sms_fallback_method": c.webhook.sms_fallback_method,
        "sms_fallback_url": c.webhook.sms_fallback_url,
        "sms_method": c.webhook.sms_method,
        "sms_url": c.webhook.sms_url,
        "uri": f"{BASE}/{c.account_sid}/SMS/ShortCodes/{c.sid}.json",
    }


def api_key(k: ApiKey) -> dict[str, Any]:
    return {
        "sid": k.sid,
        "friendly_name": k.friendly_name,
        "date_created": rfc2822(k.date_created),
        "date_updated": rfc2822(k.date_updated),
    }


def new_api_key(k: ApiKey, secret: str) -> dict[str, Any]:
    return {**api_key(k), "secret": secret}


def account(a: Account) -> dict[str, Any]:
    uri = f"{BASE}/{a.sid}"
    return {
        "auth_token": a.auth_token,
        "date_created": rfc2822(a.date_created),
        "date_updated": rfc2822(a.date_updated),
        "friendly_name": a.friendly_name,
        "owner_account_sid": a.sid,
        "sid": a.sid,
        "status": a.status,
        "subresource_uris": {
            "messages": f"{uri}/Messages.json",
            "incoming_phone_numbers": f"{uri}/IncomingPhoneNumbers.json",
            "short_codes": f"{uri}/SMS/ShortCodes.json",
            "keys": f"{uri}/Keys.json",
        },
        "type": "Full",
        "uri": f"{uri}.json",
    }
