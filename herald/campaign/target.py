"""What the campaign learns about its target before it sends or syncs: that the
credentials work (seed 004's connectivity test), which numbers send for it, and whether
the target is Herald (then its opt-out ledger and Preview are used too)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from herald.campaign.api_client import Api, ApiError, Retrying
from herald.campaign.settings import Campaign

log = logging.getLogger("herald.campaign")


class TargetError(Exception):
    """The target refused the credentials or cannot be reached."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Target:
    is_herald: bool
    numbers: tuple[str, ...]  # the addresses the campaign sends from (and reads replies to)
    senders: tuple[dict[str, Any], ...]  # their records, for a throughput estimate
    service_sid: str


async def connect(api: Api, campaign: Campaign, retrying: Retrying) -> Target:
    log.info("Testing channel availability, attempt 1")
    try:
        owned = await retrying.run(api.incoming_numbers)
    except ApiError as exc:
        log.info("Connect to %s: - Failed: %s", api.base_url, exc)
        if exc.status in (401, 403):  # Twilio's 20003 Authenticate, 20005 not active
            why = "refused the credentials (api.account_sid, api.auth_token)"
        else:
            why = "failed the connectivity test"
        raise TargetError(f"{api.base_url} {why}: {exc}") from None
    log.info("Connect to %s: - Success", api.base_url)
    log.info("Channel availability test completed successfully")
    is_herald = await api.is_herald()
    service_sid = str(campaign["message.messaging_service_sid"])
    by_number = {str(n.get("phone_number")): n for n in owned}
    if service_sid:
        try:
            pool = await retrying.run(lambda: api.service_senders(service_sid))
        except ApiError as exc:
            raise TargetError(f"message.messaging_service_sid: {exc}") from None
        numbers = [str(e.get("phone_number") or e.get("short_code")) for e in pool]
        senders = [by_number.get(n, e) for n, e in zip(numbers, pool, strict=True)]
    else:
        sender = str(campaign["message.from"])
        numbers, senders = [sender], [by_number.get(sender, {"phone_number": sender})]
    return Target(
        is_herald=is_herald,
        numbers=tuple(n for n in numbers if n and n != "None"),
        senders=tuple(senders),
        service_sid=service_sid,
    )
