"""Herald's error hierarchy: each Twilio error Herald can return is one class.

A class's docstring is Twilio's default message; `code` and `status` are the Twilio
error code and the HTTP status the API answers with (reference §3). The API renders
every `TwilioError` as `{code, message, more_info, status}`.
"""

from __future__ import annotations

from typing import ClassVar


class HeraldError(Exception):
    """Base of every error Herald raises on purpose."""


class TwilioError(HeraldError):
    """An error with a Twilio error code."""

    code: ClassVar[int] = 20500
    status: ClassVar[int] = 500
    challenge: ClassVar[str | None] = None  # a 401's WWW-Authenticate: how to authenticate

    def __init__(self, message: str | None = None) -> None:
        self.message = message or " ".join((type(self).__doc__ or "").split())
        super().__init__(self.message)

    @property
    def more_info(self) -> str:
        return f"https://www.twilio.com/docs/errors/{self.code}"


class InvalidParameter(TwilioError):
    """Invalid parameter"""

    code = 20001
    status = 400


class AuthenticationFailed(TwilioError):
    """Authenticate"""

    code = 20003
    status = 401
    challenge = 'Basic realm="Herald API"'


class MethodNotAllowed(TwilioError):
    """Method not allowed"""

    code = 20004
    status = 405


class KeyNotPermitted(TwilioError):
    """Permission Denied: standard API keys cannot use the Accounts, Keys or Auth Token
    resources; use the account's Auth Token"""

    code = 20003
    status = 403


class MetricsDisabled(TwilioError):
    """Metrics are served only when HERALD_METRICS_TOKEN is set, to a scraper presenting it
    as a bearer token"""

    code = 20003
    status = 403


class MetricsUnauthorized(TwilioError):
    """Metrics need `Authorization: Bearer <HERALD_METRICS_TOKEN>`"""

    code = 20003
    status = 401
    challenge = 'Bearer realm="Herald metrics"'


class TestCredentialsNotAllowed(TwilioError):
    """Resource not accessible with Test Account Credentials"""

    code = 20008
    status = 403


class NotComplete(TwilioError):
    """Cannot delete this resource before it is complete"""

    code = 20009
    status = 400


class NotFound(TwilioError):
    """The requested resource was not found"""

    code = 20404
    status = 404


class TooManyRequests(TwilioError):
    """Too Many Requests"""

    code = 20429
    status = 429

    def __init__(self, message: str | None = None, *, retry_after_s: int | None = None) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s  # when to try again (the answer's Retry-After)


class MediaUnavailable(TwilioError):
    """HTTP retrieval failure"""

    code = 11200
    status = 502


class InternalError(TwilioError):
    """Internal server error"""

    code = 20500
    status = 500


class ServiceUnavailable(TwilioError):
    """Service unavailable"""

    code = 20503
    status = 503


class RequestTimeout(TwilioError):
    """The request was not received in time."""

    # Twilio documents no code for a request that never arrives; 20408 follows its
    # HTTP-status family (20404, 20413, 20429, 20503).
    code = 20408
    status = 408


class PayloadTooLarge(TwilioError):
    """Request Entity Too Large"""

    code = 20413
    status = 413


class RequestHeadTooLarge(TwilioError):
    """Request Header Fields Too Large"""

    code = 20413  # Twilio's "Request Entity Too Large", for the head
    status = 431


class InvalidTo(TwilioError):
    """The 'To' number is not a valid phone number."""

    code = 21211
    status = 400


class InvalidFrom(TwilioError):
    """The 'From' number is not a valid phone number, shortcode, or alphanumeric sender ID."""

    code = 21212
    status = 400


class NoInternationalPermission(TwilioError):
    """Permission to send an SMS has not been enabled for the region indicated by the 'To' number"""

    code = 21408
    status = 400


class PhoneNumberInvalid(TwilioError):
    """The phone number you are attempting to register is not valid."""

    code = 21421
    status = 400


class PhoneNumberUnavailable(TwilioError):
    """The phone number is not available."""

    code = 21422
    status = 400


class BodyRequired(TwilioError):
    """Message body is required."""

    code = 21602
    status = 400


class FromRequired(TwilioError):
    """A 'From' phone number is required."""

    code = 21603
    status = 400


class ToRequired(TwilioError):
    """A 'To' phone number is required."""

    code = 21604
    status = 400


class FromNotOwned(TwilioError):
    """The 'From' number is not a valid, SMS-capable phone number or short code for your account."""

    code = 21606
    status = 400


class InvalidStatusCallback(TwilioError):
    """The StatusCallback URL is not a valid URL."""

    code = 21609
    status = 400


class RecipientOptedOut(TwilioError):
    """Attempt to send to unsubscribed recipient"""

    code = 21610
    status = 400


class QueueFull(TwilioError):
    """This 'From' number has exceeded the maximum number of queued messages"""

    code = 21611
    status = 400


class CannotRoute(TwilioError):
    """The 'To' phone number is not currently reachable using the 'From' phone number."""

    code = 21612
    status = 400


class NotMobile(TwilioError):
    """'To' number is not a valid mobile number"""

    code = 21614
    status = 400


class BodyTooLong(TwilioError):
    """The concatenated message body exceeds the 1600 character limit."""

    code = 21617
    status = 400


class BodyOrMediaRequired(TwilioError):
    """A text message body or media urls must be specified."""

    code = 21619
    status = 400


class InvalidMediaUrl(TwilioError):
    """Invalid media URL(s)"""

    code = 21620
    status = 400


class FromNotMmsCapable(TwilioError):
    """The 'From' number is not MMS-capable: it cannot send media."""

    code = 21621
    status = 400


class TooManyMedia(TwilioError):
    """Too many media urls: a message can have at most 10."""

    code = 21623
    status = 400


class InvalidContentSid(TwilioError):
    """Invalid ContentSid: Herald has no Content templates; send Body and MediaUrl instead."""

    code = 21655
    status = 400


class InvalidValidityPeriod(TwilioError):
    """Invalid ValidityPeriod value: it must be an integer from 1 to 36000."""

    code = 21624
    status = 400


class ParameterTooLong(TwilioError):
    """Parameter exceeds the max length limit"""

    code = 21658
    status = 400


class IdempotencyKeyReused(TwilioError):
    """This Idempotency-Key was already used for a different request."""

    code = 20001
    status = 400
