"""The campaign's fulfillment counts, as seed 004's connector reports them: Sent (accepted
by the API), then each accepted message by its latest known state — Queued, Sending,
Delivered, Undelivered, Failed (with the recipients the API refused) — and Replies and
Opt-outs from the recipients. A message whose latest status is `sent` (handed to the
carrier, no receipt yet) is in Sent only."""

from __future__ import annotations

from typing import Any

from herald.campaign.keywords import OPT_IN, OPT_OUT
from herald.campaign.send import fulfillment_state
from herald.campaign.store import CampaignStore

BUCKETS = ("queued", "sending", "delivered", "undelivered", "failed")


def fulfillment_counts(store: CampaignStore, campaign: str) -> dict[str, Any]:
    counts = dict.fromkeys(("sent", *BUCKETS, "replies", "opt_outs"), 0)
    for state, status, has_sid, n in store.status_counts(campaign):
        if has_sid:
            counts["sent"] += n
            bucket = fulfillment_state(status or "queued")
            if bucket in BUCKETS:
                counts[bucket] += n
        elif state == "failed":
            counts["failed"] += n
    replies = store.replies_of(campaign)
    counts["replies"] = len(replies)
    counts["opt_outs"] = len(opted_out(replies))
    return counts


def opted_out(replies: list[Any]) -> set[str]:
    """The contacts whose latest opt-out or opt-in reply is an opt-out."""
    latest: dict[str, Any] = {}
    for reply in sorted(replies, key=lambda r: r.at_us):
        if reply.keyword in OPT_OUT or reply.keyword in OPT_IN:
            latest[reply.contact_key] = reply
    return {key for key, reply in latest.items() if reply.keyword in OPT_OUT}
