"""`herald campaign report FILE`: the fulfillment counts, and the campaign per recipient
written as CSV and JSON (`NAME-report.csv`, `NAME-report.json`) for whoever reads it next
— a spreadsheet or the marketing platform's loader."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

from herald.campaign import times
from herald.campaign.send import fulfillment_state
from herald.campaign.settings import Campaign
from herald.campaign.store import CampaignStore
from herald.campaign.tally import fulfillment_counts, opted_out

COLUMNS = ("contact_key", "phone", "is_seed", "state", "message_sid", "status",
           "fulfillment_state", "error_code", "error_message", "attempts", "updated",
           "reply", "opted_out")  # fmt: skip


def report(campaign: Campaign, out_dir: Path | None) -> dict[str, Any]:
    store = CampaignStore(campaign.database_url)
    try:
        counts = fulfillment_counts(store, campaign.name)
        contacts = store.contacts(campaign.name)
        replies = store.replies_of(campaign.name)
    finally:
        store.close()
    latest_reply: dict[str, Any] = {}
    for reply in sorted(replies, key=lambda r: r.at_us):
        latest_reply[reply.contact_key] = reply
    stopped = opted_out(replies)
    rows = []
    for contact in sorted(contacts.values(), key=lambda c: c.key):
        reply = latest_reply.get(contact.key)
        rows.append({
            "contact_key": contact.key, "phone": contact.phone, "is_seed": contact.is_seed,
            "state": contact.state, "message_sid": contact.message_sid or "",
            "status": contact.status or "",
            "fulfillment_state": fulfillment_state(contact.status) if contact.status else "",
            "error_code": contact.error_code or "", "error_message": contact.error_message or "",
            "attempts": contact.attempts, "updated": times.shown(contact.updated_us),
            "reply": reply.body if reply else "", "opted_out": contact.key in stopped,
        })  # fmt: skip
    directory = out_dir or campaign.directory
    directory.mkdir(parents=True, exist_ok=True)
    csv_path = directory / f"{campaign.name}-report.csv"
    json_path = directory / f"{campaign.name}-report.json"
    with csv_path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.DictWriter(out, COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    document = {"campaign": campaign.name, "counts": counts, "recipients": rows}
    json_path.write_text(json.dumps(document, indent=1), encoding="utf-8")
    return {**counts, "campaign": campaign.name, "csv": str(csv_path), "json": str(json_path)}
