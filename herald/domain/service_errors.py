"""The errors of Messaging Services (reference §3.2, §4): a service or its pool refused,
and scheduling (which only a service does)."""

from __future__ import annotations

from herald.domain import errors


class ServiceNotFound(errors.TwilioError):
    """The Messaging Service does not exist"""

    code = 21701
    status = 404


class CannotCancel(errors.TwilioError):
    """This message cannot be canceled"""

    code = 30409
    status = 400


class SchedulingNeedsService(errors.TwilioError):
    """Scheduling a message requires a Messaging Service: pass MessagingServiceSid."""

    code = 35118
    status = 400


class ServiceUnavailableToSend(errors.TwilioError):
    """The Messaging Service is not available to send this message."""

    code = 21702
    status = 400


class NoSenderForRecipient(errors.TwilioError):
    """No sender in the Messaging Service can reach this recipient."""

    code = 21703
    status = 400


class ServiceHasNoSenders(errors.TwilioError):
    """The Messaging Service has no senders in its pool."""

    code = 21704
    status = 400


class AlphaSenderInvalid(errors.TwilioError):
    """The alphanumeric sender ID is invalid: at most 11 characters of A-Z, a-z, 0-9,
    space, '-', '+', '_' and '&', with at least one letter."""

    code = 21709
    status = 400


class SenderAlreadyInService(errors.TwilioError):
    """The sender is already in this Messaging Service."""

    code = 21710
    status = 400


class SenderInAnotherService(errors.TwilioError):
    """The sender already belongs to another Messaging Service."""

    code = 21712
    status = 400


class InvalidUsecase(errors.TwilioError):
    """Invalid Usecase: one of notifications, marketing, verification, discussion, poll,
    undeclared."""

    code = 21713
    status = 400


class ServicePoolFull(errors.TwilioError):
    """The Messaging Service's sender pool is full (400 numbers and short codes)."""

    code = 21714
    status = 400


class SenderNotCapable(errors.TwilioError):
    """The sender cannot send SMS or MMS."""

    code = 21715
    status = 400


class SendAtRequired(errors.TwilioError):
    """SendAt is required when ScheduleType is fixed."""

    code = 35111
    status = 400


class SendAtTooSoon(errors.TwilioError):
    """Scheduling does not support this timestamp"""

    code = 35114
    status = 400


class SendAtTooLate(errors.TwilioError):
    """Scheduling does not support this timestamp"""

    code = 35115
    status = 400


class SendAtInvalid(errors.TwilioError):
    """Scheduling does not support this timestamp"""

    code = 35117
    status = 400


class TooManyScheduled(errors.TwilioError):
    """The account has too many scheduled messages (500,000)."""

    code = 35125
    status = 400


class InvalidScheduleType(errors.TwilioError):
    """ScheduleType must be fixed."""

    code = 35126
    status = 400
