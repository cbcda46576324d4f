"""What a send and a dry run do first, in seed 004's order: the audience read and
deduplicated (every template error found before anything goes out), the target's
credentials tested, then the subscription data (suppression) brought up to date."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from herald.campaign import suppression
from herald.campaign.api_client import Api, Retrying
from herald.campaign.audience import Audience, read
from herald.campaign.settings import Campaign
from herald.campaign.store import CampaignStore
from herald.campaign.target import Target, connect
from herald.campaign.template import parse

log = logging.getLogger("herald.campaign")


@dataclass(frozen=True, slots=True, kw_only=True)
class Prepared:
    audience: Audience
    target: Target
    suppressed: frozenset[str]  # phones


def read_audience(campaign: Campaign) -> Audience:
    template = parse(str(campaign["message.body"]))
    audience = read(campaign, template)
    contacts = audience.contacts
    log.info("Deduplicating on contact key")
    log.info("Count before deduplication: %d", contacts.total - contacts.invalid)
    log.info(
        "Count after deduplication: %d", contacts.total - contacts.invalid - contacts.duplicates
    )
    log.info("Number of duplicates: %d", contacts.duplicates)
    return audience


async def prepare(
    campaign: Campaign, api: Api, store: CampaignStore, retrying: Retrying
) -> Prepared:
    audience = read_audience(campaign)
    target = await connect(api, campaign, retrying)
    log.info("Retrieving SMS subscription data")
    period = int(campaign["sync.retrieval_period_days"])
    await suppression.read_inbound(api, store, target, campaign.name, period, retrying)
    if target.is_herald:
        await suppression.refresh_ledger(api, store, target, retrying)
    phones = suppression.suppressed(store, api.account_sid, target)
    return Prepared(audience=audience, target=target, suppressed=frozenset(phones))
