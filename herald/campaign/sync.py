"""`herald campaign sync FILE`: seed 004's channel synchronisation, incremental.

1. The status of every message not yet final is read (`Messages/{SM}.json`), a batch of
   `sync.batch_size` at a time, and each new state goes into the offer-history states;
   a message that reached a final status is not read again.
2. Inbound messages to the sending numbers since the last sync are read; those from the
   campaign's recipients after their message are its replies, with their keywords, and
   every keyword refreshes the suppression table.
A second sync with nothing new adds nothing: every state and reply has a unique key.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from herald.campaign import status_pages, suppression, times
from herald.campaign.api_client import Api, ApiError, Retrying
from herald.campaign.channel import opened
from herald.campaign.keywords import Kind, kind_of
from herald.campaign.send import FINAL, fulfillment_state
from herald.campaign.settings import Campaign
from herald.campaign.store import CampaignStore, Contact
from herald.campaign.tally import fulfillment_counts
from herald.campaign.target import connect

log = logging.getLogger("herald.campaign")


async def sync(campaign: Campaign) -> dict[str, Any]:
    async with opened(campaign) as (store, api, retrying):
        target = await connect(api, campaign, retrying)
        states_before = store.count_states(campaign.name)
        read = await _statuses(campaign, api, store, retrying, target.numbers)
        period = int(campaign["sync.retrieval_period_days"])
        inbound = await suppression.read_inbound(
            api, store, target, campaign.name, period, retrying
        )
        new_replies = _replies(campaign.name, store, inbound)
        if target.is_herald:
            await suppression.refresh_ledger(api, store, target, retrying)
        new_states = store.count_states(campaign.name) - states_before
        totals = fulfillment_counts(store, campaign.name)
    log.info(
        "Synchronised %d messages: %d new states, %d new replies", read, new_states, new_replies
    )
    return {**totals, "campaign": campaign.name, "messages_read": read,
            "new_states": new_states, "new_replies": new_replies}  # fmt: skip


async def _statuses(
    campaign: Campaign, api: Api, store: CampaignStore, retrying: Retrying,
    numbers: tuple[str, ...],
) -> int:  # fmt: skip
    batch_size = int(campaign["sync.batch_size"])
    limit = asyncio.Semaphore(int(campaign["send.concurrency"]))
    count, oldest = await asyncio.to_thread(store.unfinished_summary, campaign.name)
    pages: dict[str, dict[str, Any]] = {}
    if count > batch_size and oldest is not None and numbers:
        pages = await status_pages.listed(api, numbers, oldest, retrying)
    after = ""
    read = 0
    while True:
        batch = await asyncio.to_thread(store.unfinished, campaign.name, after, batch_size)
        if not batch:
            return read
        after = batch[-1].key

        async def fetch(contact: Contact) -> tuple[Contact, dict[str, Any] | None]:
            sid = str(contact.message_sid)
            if sid in pages:
                return contact, pages[sid]
            async with limit:
                try:
                    return contact, await retrying.run(lambda: api.fetch_message(sid))
                except ApiError as exc:
                    if exc.status == 404:  # deleted at the target: nothing more to learn
                        return contact, {"sid": sid, "status": contact.status, "gone": True}
                    log.warning("cannot read %s for %s: %s", sid, contact.key, exc)
                    return contact, None

        found = await asyncio.gather(*(fetch(c) for c in batch))
        outcomes, rows = _loaded(campaign.name, [(c, m) for c, m in found if m is not None])
        await asyncio.to_thread(store.apply, campaign.name, [], outcomes, rows, times.now_us())
        read += len(outcomes)


def _loaded(
    campaign: str, found: list[tuple[Contact, dict[str, Any]]]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    outcomes, rows = [], []
    for contact, message in found:
        status = str(message.get("status"))
        code = message.get("error_code")
        at = times.parse_us(message.get("date_updated")) or times.now_us()
        outcomes.append({
            "contact_key": contact.key, "status": status,
            "error_code": int(code) if code else contact.error_code,
            "error_message": message.get("error_message"),
            "is_final": status in FINAL or bool(message.get("gone")), "updated_us": at,
        })  # fmt: skip
        if message.get("gone"):
            continue
        rows.append({
            "campaign": campaign, "contact_key": contact.key, "message_sid": message.get("sid"),
            "state": fulfillment_state(status), "event_name": str(code) if code else "",
            "at_us": at,
        })  # fmt: skip
    return outcomes, rows


def _replies(campaign: str, store: CampaignStore, inbound: list[suppression.Inbound]) -> int:
    """The inbound messages that answer the campaign: from a recipient it sent to, since
    the target created the message (both times by the target's clock). Seed 004's
    limitation 6 holds: a reply cannot name the message it answers."""
    if not inbound:
        return 0
    by_phone = {c.phone: c for c in store.contacts(campaign).values() if c.message_sid}
    replies, rows = [], []
    for message in inbound:
        contact = by_phone.get(message.phone)
        if contact is None or message.at_us < (contact.sent_us or 0):
            continue
        replies.append({
            "campaign": campaign, "message_sid": message.sid, "contact_key": contact.key,
            "phone": message.phone, "to_number": message.number, "body": message.body,
            "keyword": message.keyword, "at_us": message.at_us,
        })  # fmt: skip
        rows.append({
            "campaign": campaign, "contact_key": contact.key, "message_sid": message.sid,
            "state": "opted-out" if message.keyword and kind_of(message.keyword) is Kind.OPT_OUT
            else "replied",
            "event_name": message.keyword or "", "at_us": message.at_us,
        })  # fmt: skip
    new = store.add_replies(replies)
    store.add_states(rows)
    return new
