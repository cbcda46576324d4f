"""Many messages' statuses a page at a time: the outbound messages from each sending
number created since the oldest unfinished one (`Messages.json?From=…`, a thousand a
request, newest first), instead of one `Messages/{SM}.json` each. A sync uses it when
more messages are unfinished than one batch; any it does not list are read one by one."""

from __future__ import annotations

import functools
from typing import Any

from herald.campaign import times
from herald.campaign.api_client import Api, Retrying

SKEW_US = 60 * 1_000_000


async def listed(
    api: Api, numbers: tuple[str, ...], since_us: int, retrying: Retrying
) -> dict[str, dict[str, Any]]:
    """SID → message, for the messages from `numbers` created since `since_us`."""
    found: dict[str, dict[str, Any]] = {}
    for number in numbers:
        found.update(await retrying.run(functools.partial(_from, api, number, since_us)))
    return found


async def _from(api: Api, number: str, since_us: int) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    async for message in api.messages({"From": number}):
        created = times.parse_us(message.get("date_created"))
        if created is not None and created < since_us - SKEW_US:
            break  # newest first: the rest is older still
        if isinstance(message.get("sid"), str):
            found[message["sid"]] = message
    return found
