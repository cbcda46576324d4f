"""Parameters shared by the sender resources: SMS webhook URLs and methods,
capabilities and the per-sender MPS override (a Herald extension).

A webhook URL whose host is an address the webhook target policy refuses is refused
here, when it is set (20001); a host name is checked when it is resolved, at connect
time (domain/targets.py)."""

from __future__ import annotations

from herald.api.forms import Form
from herald.domain import errors, targets
from herald.domain.outbound import is_http_url, refused_target
from herald.domain.senders import Capabilities, SmsWebhook
from herald.domain.sids import Prefix, is_sid

MAX_MPS = 10_000


def url_param(form: Form, name: str, *, allow_private: bool) -> str:
    """A webhook URL: empty clears it; anything else must be an absolute http(s) URL
    to a host the target policy allows (`allow_private`: HERALD_WEBHOOK_ALLOW_PRIVATE)."""
    value = (form.get(name) or "").strip()
    if not value:
        return value
    if not is_http_url(value):
        raise errors.InvalidParameter(f"{name} {value!r} is not a valid http(s) URL")
    refused = targets.url_refusal(value, allow_private=allow_private)
    if refused is not None:
        raise errors.InvalidParameter(f"{name} {value!r} is refused. {refused_target(refused)}")
    return value


def method_param(form: Form, name: str) -> str | None:
    value = form.get(name)
    if value is None or value == "":
        return None
    upper = value.upper()
    if upper not in ("GET", "POST"):
        raise errors.InvalidParameter(f"{name} must be GET or POST, not {value!r}")
    return upper


def sms_webhook(
    form: Form, current: SmsWebhook | None = None, *, allow_private: bool
) -> SmsWebhook:
    base = current or SmsWebhook()

    def url(name: str, kept: str) -> str:
        return url_param(form, name, allow_private=allow_private) if name in form else kept

    return SmsWebhook(
        sms_url=url("SmsUrl", base.sms_url),
        sms_method=method_param(form, "SmsMethod") or base.sms_method,
        sms_fallback_url=url("SmsFallbackUrl", base.sms_fallback_url),
        sms_fallback_method=method_param(form, "SmsFallbackMethod") or base.sms_fallback_method,
    )


def capabilities(form: Form, current: Capabilities) -> Capabilities:
    """`Capabilities.Sms` etc.: what the number can do with its carrier (an extension)."""

    def flag(name: str, value: bool) -> bool:
        given = form.boolean(f"Capabilities.{name}")
        return value if given is None else given

    return Capabilities(
        voice=flag("Voice", current.voice),
        sms=flag("Sms", current.sms),
        mms=flag("Mms", current.mms),
        fax=flag("Fax", current.fax),
    )


def application_sid(form: Form) -> str:
    """`SmsApplicationSid`: an `AP…` SID, or empty to clear it."""
    value = (form.get("SmsApplicationSid") or "").strip()
    if value and not is_sid(value, Prefix.APPLICATION):
        raise errors.InvalidParameter(f"SmsApplicationSid {value!r} is not an AP… SID")
    return value


def mps(form: Form) -> int | None:
    """`Mps`: this sender's messages-per-second override (empty restores the default)."""
    value = form.integer("Mps")
    if value is not None and not 1 <= value <= MAX_MPS:
        raise errors.InvalidParameter(f"Mps must be from 1 to {MAX_MPS}")
    return value
