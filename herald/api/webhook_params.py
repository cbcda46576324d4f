"""Parameters shared by the sender resources: SMS webhook URLs and methods,
capabilities and the per-sender MPS override (a Herald extension)."""

from __future__ import annotations

from herald.api.forms import Form
from herald.domain import errors
from herald.domain.outbound import is_http_url
from herald.domain.senders import Capabilities, SmsWebhook
from herald.domain.sids import Prefix, is_sid

MAX_MPS = 10_000


def url_param(form: Form, name: str) -> str:
    """A webhook URL: empty clears it; anything else must be an absolute http(s) URL."""
    value = (form.get(name) or "").strip()
    if value and not is_http_url(value):
        raise errors.InvalidParameter(f"{name} {value!r} is not a valid http(s) URL")
    return value


def method_param(form: Form, name: str) -> str | None:
    value = form.get(name)
    if value is None or value == "":
        return None
    upper = value.upper()
    if upper not in ("GET", "POST"):
        raise errors.InvalidParameter(f"{name} must be GET or POST, not {value!r}")
    return upper


def sms_webhook(form: Form, current: SmsWebhook | None = None) -> SmsWebhook:
    base = current or SmsWebhook()
    return SmsWebhook(
        sms_url=url_param(form, "SmsUrl") if "SmsUrl" in form else base.sms_url,
        sms_method=method_param(form, "SmsMethod") or base.sms_method,
        sms_fallback_url=(
            url_param(form, "SmsFallbackUrl") if "SmsFallbackUrl" in form else base.sms_fallback_url
        ),
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
