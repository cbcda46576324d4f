"""What every command that talks to the target holds for its run (seed 004's channel):
the campaign database, the API client and the retry policy, opened together and closed
together however the command ends."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import NamedTuple

from herald.campaign.api_client import Api, Retrying
from herald.campaign.settings import Campaign
from herald.campaign.store import CampaignStore


class Channel(NamedTuple):
    store: CampaignStore
    api: Api
    retrying: Retrying


@contextlib.asynccontextmanager
async def opened(campaign: Campaign) -> AsyncIterator[Channel]:
    store = CampaignStore(campaign.database_url)
    try:
        api = Api(campaign, connections=int(campaign["send.concurrency"]))
        try:
            yield Channel(store, api, Retrying.of(campaign))
        finally:
            await api.aclose()
    finally:
        store.close()
