"""How long each request parameter may be: one table, applied to every form and query
before a handler reads it (`requests.form_of`, `requests.query_of`), so that what Herald
stores fits its column and what it ignores cannot make it hold megabytes (issue 10).

A parameter the table does not name may be `DEFAULT_LENGTH` characters. Beyond its limit
a parameter of a send — the Message resource, and Preview, which answers for one — is
refused as Twilio refuses it: 21658 "Parameter exceeds the max length limit", or the
parameter's own code where Twilio has one (21617 for a long Body). Any other resource
answers 20001, naming the parameter and its limit.
"""

from __future__ import annotations

import re

from herald.api.forms import Form
from herald.domain import errors
from herald.domain.outbound import MAX_BODY, MAX_MEDIA_URL, MAX_URL

SID = 34  # two letters and 32 hex digits (reference §1.3)
NAME = 64  # a FriendlyName, as Twilio and the columns have it
ADDRESS = 64  # a phone number, short code or alphanumeric ID, as given
DEFAULT_LENGTH = 256  # flags, methods, choices, numbers and what Herald ignores
MAX_NAME = 64  # a parameter's name: Twilio's longest is under 30

LENGTHS: dict[str, int] = {
    **dict.fromkeys(
        (
            "MessagingServiceSid",
            "ApplicationSid",
            "SmsApplicationSid",
            "VoiceApplicationSid",
            "PhoneNumberSid",
            "ShortCodeSid",
            "SenderSid",
            "ContentSid",
            "AddressSid",
            "BundleSid",
            "IdentitySid",
            "TrunkSid",
            "EmergencyAddressSid",
        ),
        SID,
    ),
    "PageToken": 2 + SID,  # PA or PB and the key of a record
    "FriendlyName": NAME,
    **dict.fromkeys(("To", "From", "PhoneNumber", "ShortCode", "AlphaSender"), ADDRESS),
    "Body": MAX_BODY,
    "MediaUrl": MAX_MEDIA_URL,
    **dict.fromkeys(
        (
            "StatusCallback",
            "SmsUrl",
            "SmsFallbackUrl",
            "VoiceUrl",
            "VoiceFallbackUrl",
            "InboundRequestUrl",
            "FallbackUrl",
        ),
        MAX_URL,
    ),
    "Tags": 1024,  # a JSON object of strings (Herald's)
    "MaxPrice": 16,  # as its column stores the number
    **dict.fromkeys(("SendAt", "DateSent", "DateSent<", "DateSent>"), 64),
    "RegisteredIn": 1024,  # ISO codes, comma-separated (Herald's)
    # Advanced Opt-Out (Herald's extension): replies as long as a message, keyword lists,
    # and the per-language and per-country JSON.
    **dict.fromkeys(("OptOutReply", "OptInReply", "HelpReply"), MAX_BODY),
    **dict.fromkeys(("OptOutKeywords", "OptInKeywords", "HelpKeywords"), 2048),
    **dict.fromkeys(("Languages", "Countries"), 262_144),
    "CarrierMessageId": 128,
    **dict.fromkeys(("DateCreated<", "DateCreated>"), 64),
    "Import": 262_144,  # the console's opt-out import: a CSV or JSON ledger in one field
}

# Where a long value of a send parameter has the parameter's own code: Twilio's, or for
# a page token the 20001 every list answers an invalid one with (`paging`).
OWN_CODES: dict[str, type[errors.TwilioError]] = {
    "Body": errors.BodyTooLong,
    "MediaUrl": errors.InvalidMediaUrl,
    "StatusCallback": errors.InvalidStatusCallback,
    "PageToken": errors.InvalidParameter,
}

# The paths whose parameters are a send's: Messages and its subresources, and Preview.
_SEND_PATH = re.compile(r"^/2010-04-01/Accounts/[^/]+/Messages[./]|^/v1/Services/[^/]+/Preview$")


def is_send_path(path: str) -> bool:
    return bool(_SEND_PATH.match(path))


def check(form: Form, *, send: bool) -> None:
    """Refuse the first parameter whose name or value is longer than allowed."""
    for name, value in form.items():
        if len(name) > MAX_NAME:
            raise errors.InvalidParameter(
                f"Parameter {name[:MAX_NAME]!r}… is not a parameter: names are at most "
                f"{MAX_NAME} characters"
            )
        limit = LENGTHS.get(name, DEFAULT_LENGTH)
        if len(value) > limit:
            raise _too_long(name, limit, send=send)


def _too_long(name: str, limit: int, *, send: bool) -> errors.TwilioError:
    message = f"{name} is too long: it can be at most {limit} characters"
    if not send:
        return errors.InvalidParameter(message)
    return OWN_CODES.get(name, errors.ParameterTooLong)(message)
