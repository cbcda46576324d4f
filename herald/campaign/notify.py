"""The notice when a send or sync finishes: its totals POSTed as JSON to `notify.webhook`
and/or mailed through `notify.smtp_url` (seed 004's email notifications). A notice that
cannot be delivered is logged, never fatal: the campaign's work is already done."""

from __future__ import annotations

import asyncio
import json
import logging
import smtplib
import ssl
from email.message import EmailMessage
from typing import Any
from urllib.parse import unquote, urlsplit

import aiohttp

from herald.campaign.settings import Campaign

log = logging.getLogger("herald.campaign")
TIMEOUT_S = 15.0


async def notify(campaign: Campaign, command: str, totals: dict[str, Any]) -> list[str]:
    """Sends the notices; returns where they went."""
    delivered: list[str] = []
    document = {"campaign": campaign.name, "command": command, "totals": totals}
    webhook = str(campaign["notify.webhook"])
    if webhook:
        try:
            timeout = aiohttp.ClientTimeout(total=TIMEOUT_S)
            async with (
                aiohttp.ClientSession(timeout=timeout) as http,
                http.post(webhook, json=document) as response,
            ):
                response.raise_for_status()
            delivered.append("webhook")
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            log.warning("the notice to %s failed: %s", webhook, exc)
    if campaign["notify.smtp_url"]:
        try:
            await asyncio.to_thread(_mail, campaign, command, document)
            delivered.append("email")
        except (OSError, smtplib.SMTPException) as exc:
            log.warning("the notice by email failed: %s", exc)
    return delivered


def _mail(campaign: Campaign, command: str, document: dict[str, Any]) -> None:
    url = urlsplit(str(campaign["notify.smtp_url"]))
    message = EmailMessage()
    message["Subject"] = f"Campaign {campaign.name}: {command} finished"
    message["From"] = str(campaign["notify.email_from"])
    message["To"] = str(campaign["notify.email_to"])
    lines = [f"{name}: {value}" for name, value in document["totals"].items()]
    message.set_content("\n".join([f"herald campaign {command} {campaign.name}", "", *lines]))
    message.add_attachment(
        json.dumps(document, indent=1).encode(), maintype="application", subtype="json",
        filename=f"{campaign.name}-{command}.json",
    )  # fmt: skip
    host = url.hostname or "localhost"
    port = url.port or (465 if url.scheme == "smtps" else 25)
    if url.scheme == "smtps":
        client: smtplib.SMTP = smtplib.SMTP_SSL(host, port, timeout=TIMEOUT_S,
                                                context=ssl.create_default_context())  # fmt: skip
    else:
        client = smtplib.SMTP(host, port, timeout=TIMEOUT_S)
    with client:
        client.ehlo_or_helo_if_needed()
        if url.scheme == "smtp" and client.has_extn("starttls"):
            client.starttls(context=ssl.create_default_context())
            client.ehlo()  # what the server offers under TLS (AUTH, often)
        if url.username and client.has_extn("auth"):
            client.login(unquote(url.username), unquote(url.password or ""))
        elif url.username:  # login() would raise; a server without AUTH may not need it
            log.warning("the SMTP server %s:%d offers no AUTH: sending without logging in",
                        host, port)  # fmt: skip
        client.send_message(message)
