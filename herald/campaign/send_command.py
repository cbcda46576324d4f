"""`herald campaign send FILE`: prepare, plan, send what is left, and say what happened in
seed 004's words ("Count before deduplication", "N SMS(s) have been sent", …)."""

from __future__ import annotations

import logging
import time
from typing import Any

from herald.campaign import progress, times
from herald.campaign.audience import SEED_PREFIX, Audience
from herald.campaign.channel import opened
from herald.campaign.prepare import prepare
from herald.campaign.send import Sender, elapsed_since
from herald.campaign.settings import Campaign
from herald.campaign.store import Contact

log = logging.getLogger("herald.campaign")
RATE_EVERY_S = 0.5


async def send(campaign: Campaign, *, show_progress: bool) -> dict[str, Any]:
    started = time.monotonic()
    async with opened(campaign) as (store, api, retrying):
        prepared = await prepare(campaign, api, store, retrying)
        audience = prepared.audience
        recipients = audience.recipients
        store.plan(campaign.name, _plan_rows(audience), times.now_us())
        known = store.contacts(campaign.name)
        work: list[Contact] = []
        suppressed: list[Contact] = []
        done = {"sent": 0, "refused": 0}  # by an earlier run: sent, or refused for good
        for recipient in recipients:
            contact = known[recipient.key]
            if contact.state == "sent":
                done["sent"] += 1
            elif contact.state == "failed" and not contact.is_retryable:
                done["refused"] += 1
            else:
                (suppressed if contact.phone in prepared.suppressed else work).append(contact)
        store.set_state(campaign.name, [c.key for c in suppressed], "suppressed", times.now_us())
        log.info("About to send SMS campaign")
        log.info("Preparing to send Twilio messages")
        log.info("Sending first batch of SMS campaign: %d messages", len(work))
        with progress.bar(enabled=show_progress) as bar:
            task = bar.add_task(campaign.name, total=len(work), rate=progress.rate_text(None))

            def advance() -> None:
                bar.advance(task)
                now = time.monotonic()
                if now - shown[0] >= RATE_EVERY_S:  # rich's speed is a scan of samples
                    shown[0] = now
                    bar.update(task, rate=progress.rate_text(bar.tasks[0].speed))

            shown = [0.0]

            sender = Sender(api=api, store=store, campaign=campaign, target=prepared.target,
                            retrying=retrying, advance=advance)  # fmt: skip
            counts = await sender.run(work)
    contacts_suppressed = sum(not c.is_seed for c in suppressed)
    seeds_suppressed = len(suppressed) - contacts_suppressed
    log.info("%d SMS(s) have been sent", counts.sent - counts.seeds_sent)
    log.info("%d invalid SMS numbers", audience.contacts.invalid)
    log.info("%d unsubscribed SMS numbers", contacts_suppressed)
    log.info("%d seed SMS(s) have been sent", counts.seeds_sent)
    log.info("%d invalid seed SMS numbers", audience.seeds.invalid)
    log.info("%d unsubscribed seed SMS numbers", seeds_suppressed)
    if counts.failed:
        log.info("%d SMS(s) failed (see `herald campaign report`)", counts.failed)
    return {
        "campaign": campaign.name,
        "total": audience.contacts.total,
        "invalid": audience.contacts.invalid,
        "duplicates": audience.contacts.duplicates,
        "suppressed": contacts_suppressed,
        "seeds": audience.seeds.total,
        "seeds_invalid": audience.seeds.invalid,
        "seeds_suppressed": seeds_suppressed,
        "sent": counts.sent,
        "seeds_sent": counts.seeds_sent,
        "failed": counts.failed,
        "retries": counts.retries,
        "already_sent": done["sent"],
        "already_refused": done["refused"],
        "elapsed_s": elapsed_since(started),
    }


def _plan_rows(audience: Audience) -> list[dict[str, Any]]:
    """The recipients, and the invalid rows (kept for the report), one row per key."""
    rows = {
        r.key: {"contact_key": r.key, "phone": r.phone, "is_seed": r.is_seed, "body": r.body,
                "state": "pending"}
        for r in audience.recipients
    }  # fmt: skip
    for tally, prefix in ((audience.contacts, ""), (audience.seeds, SEED_PREFIX)):
        for key, raw in tally.invalid_rows:
            stored = prefix + (key or f"(no key) {raw}")[:150]
            rows.setdefault(stored, {"contact_key": stored, "phone": raw[:32], "body": "",
                                     "is_seed": bool(prefix), "state": "invalid"})  # fmt: skip
    return list(rows.values())
