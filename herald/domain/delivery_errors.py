"""The errors that end a message after it was accepted: each is set as the message's
`error_code` and sent as its status callback's `ErrorCode` (reference §3.2), with
Twilio's wording. Carriers' codes (30003–30019), Herald's own (30001 queue overflow,
30008 unknown, 30036 validity expired) and the routing failures of a service send.
"""

from __future__ import annotations

from herald.domain import errors, service_errors


class DeliveryError(errors.TwilioError):
    """An error that ends a message after it was accepted: set as the message's
    `error_code` and sent as its callback's `ErrorCode` (reference §3.2). Never an API
    answer, so its status is only what it would be."""

    status = 400


class QueueOverflow(DeliveryError):
    """Queue overflow"""

    code = 30001


class AccountSuspended(DeliveryError):
    """Account suspended"""

    code = 30002


class UnreachableHandset(DeliveryError):
    """Unreachable destination handset"""

    code = 30003


class MessageBlocked(DeliveryError):
    """Message blocked"""

    code = 30004


class UnknownHandset(DeliveryError):
    """Unknown destination handset"""

    code = 30005


class LandlineOrUnreachableCarrier(DeliveryError):
    """Landline or unreachable carrier"""

    code = 30006


class MessageFiltered(DeliveryError):
    """Message filtered"""

    code = 30007


class UnknownError(DeliveryError):
    """Unknown error"""

    code = 30008


class MmsNotSupported(DeliveryError):
    """MMS not supported by the receiving phone number in this region"""

    code = 30011


class CarrierCongestion(DeliveryError):
    """Carrier network congestion"""

    code = 30017


class ContentTooLarge(DeliveryError):
    """Content size exceeds carrier limit"""

    code = 30019


class ValidityExpired(DeliveryError):
    """Validity Period Expired"""

    code = 30036


class SenderNotOwned(DeliveryError):
    """The From phone number is not a valid, SMS-capable phone number for this account"""

    code = errors.FromNotOwned.code


class ServiceGone(DeliveryError):
    """The Messaging Service does not exist"""

    code = service_errors.ServiceNotFound.code


class NoSenderReaches(DeliveryError):
    """No sender in the Messaging Service can reach this recipient"""

    code = service_errors.NoSenderForRecipient.code


class NoSendersInPool(DeliveryError):
    """The Messaging Service has no senders"""

    code = service_errors.ServiceHasNoSenders.code


class OptedOut(DeliveryError):
    """Attempt to send to unsubscribed recipient"""

    code = errors.RecipientOptedOut.code


class ReplyLoop(DeliveryError):
    """Reply loop detected: more than 30 replies between the same two numbers in 30 seconds"""

    code = 14107


# Twilio's wording of each, by code.
DELIVERY_ERRORS: dict[int, str] = {
    cls.code: " ".join((cls.__doc__ or "").split()) for cls in DeliveryError.__subclasses__()
}


def delivery_error_message(code: int) -> str:
    return DELIVERY_ERRORS.get(code, "Unknown error")
