"""Did a create whose answer was lost reach the target? Against an API that does not
honour `Idempotency-Key`, the recipient's newest messages are read: one created since
the attempt (less a minute of clock skew), from the campaign's sender, with the same
body, is that create's message. Read before sending again, so a lost answer costs one
list request instead of a second text to the recipient."""

from __future__ import annotations

from typing import Any

from herald.campaign import times
from herald.campaign.api_client import Api
from herald.campaign.store import Contact

SKEW_US = 60 * 1_000_000


async def find_sent(
    api: Api, contact: Contact, sender: str, since_us: int
) -> dict[str, Any] | None:
    filters = {"To": contact.phone}
    if sender:
        filters["From"] = sender
    async for message in api.messages(filters):
        created = times.parse_us(message.get("date_created"))
        if created is not None and created < since_us - SKEW_US:
            return None  # newest first: everything after this is older still
        outbound = str(message.get("direction", "")).startswith("outbound")
        if outbound and message.get("body") == contact.body:
            return message
    return None
