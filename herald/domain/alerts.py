"""Alerts, as Twilio's Monitor keeps them: warnings that do not stop a message (30018,
an alphanumeric sender ID used unregistered where registration is required)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True, kw_only=True)
class Alert:
    """A Monitor alert (Twilio's Alerts resource): a warning about one resource."""

    sid: str
    account_sid: str
    error_code: int
    log_level: str
    alert_text: str
    resource_sid: str | None
    service_sid: str | None
    date_created: int
    date_updated: int
