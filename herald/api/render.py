"""Herald's values as Twilio's JSON: snake_case keys, strings where Twilio has strings
(`num_segments`, `num_media`, `price`), RFC 2822 dates and relative `uri`s (§2.1, §5);
the Messaging v1 resources with ISO 8601 dates and absolute `url`s (§4)."""

from __future__ import annotations

from typing import Any

from herald.domain.accounts import Account, ApiKey
from herald.domain.message import Media, Message
from herald.domain.senders import IncomingNumber, ShortCode
from herald.domain.services import PoolKind, PoolMember, Service
from herald.domain.timestamps import iso8601, rfc2822

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
        # "0" until a service has chosen the sender, as Twilio shows it (§2.1).
        "num_segments": "0" if m.from_number is None else str(m.num_segments),
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


SERVICES = "/v1/Services"
# Each pool kind's subresource under a service, and the key of its list (§4.2).
POOL_PATHS = {
    PoolKind.PHONE_NUMBER: ("PhoneNumbers", "phone_numbers"),
    PoolKind.SHORT_CODE: ("ShortCodes", "short_codes"),
    PoolKind.ALPHA_SENDER: ("AlphaSenders", "alpha_senders"),
}
_SERVICE_LINKS = (
    ("phone_numbers", "PhoneNumbers"),
    ("short_codes", "ShortCodes"),
    ("alpha_senders", "AlphaSenders"),
    ("messages", "Messages"),
    ("us_app_to_person", "Compliance/Usa2p"),
    ("us_app_to_person_usecases", "Compliance/Usa2p/Usecases"),
    ("channel_senders", "ChannelSenders"),
    ("destination_alpha_senders", "DestinationAlphaSenders"),
)


def service(s: Service, base_url: str) -> dict[str, Any]:
    """A Messaging Service (§4.1); `base_url` is Herald's own address."""
    url = f"{base_url}{SERVICES}/{s.sid}"
    return {
        "account_sid": s.account_sid,
        "area_code_geomatch": s.area_code_geomatch,
        "date_created": iso8601(s.date_created),
        "date_updated": iso8601(s.date_updated),
        "fallback_method": s.fallback_method,
        "fallback_to_long_code": s.fallback_to_long_code,
        "fallback_url": s.fallback_url,
        "friendly_name": s.friendly_name,
        "inbound_method": s.inbound_method,
        "inbound_request_url": s.inbound_request_url,
        "links": {key: f"{url}/{path}" for key, path in _SERVICE_LINKS},
        "mms_converter": s.mms_converter,
        "scan_message_content": s.scan_message_content,
        "sid": s.sid,
        "skip_unregistered_alpha": s.skip_unregistered_alpha,
        "smart_encoding": s.smart_encoding,
        "status_callback": s.status_callback,
        "sticky_sender": s.sticky_sender,
        "synchronous_validation": s.synchronous_validation,
        "url": url,
        "us_app_to_person_registered": False,
        "use_inbound_webhook_on_number": s.use_inbound_webhook_on_number,
        "usecase": s.usecase,
        "validity_period": s.validity_period,
    }


def pool_member(m: PoolMember, base_url: str) -> dict[str, Any]:
    """A sender in a service's pool, as its subresource shows it (§4.2)."""
    sender = m.sender
    path, _ = POOL_PATHS[sender.kind]
    body: dict[str, Any] = {
        "account_sid": sender.account_sid,
        "capabilities": list(m.capabilities),
        "date_created": iso8601(sender.date_created),
        "date_updated": iso8601(sender.date_updated),
        "service_sid": sender.service_sid,
        "sid": sender.sid,
        "url": f"{base_url}{SERVICES}/{sender.service_sid}/{path}/{sender.sid}",
    }
    if sender.kind is PoolKind.ALPHA_SENDER:
        body["alpha_sender"] = m.address
        body["registered_in"] = sorted(sender.registered_in)
    elif sender.kind is PoolKind.SHORT_CODE:
        body["short_code"] = m.address
        body["country_code"] = m.country
    else:
        body["phone_number"] = m.address
        body["country_code"] = m.country
    return body
