"""`herald campaign dry-run FILE`: what a send would do, sending nothing.

The audience is read, deduplicated and checked against suppression as a send does it;
then each recipient's encoding and segments — through the target's `Preview` when the
target is Herald and the campaign sends through a service (so Smart Encoding, the MMS
Converter and the price are the server's own answer), else counted here (`segments.py`)
and priced at `estimate.price_per_segment`. The time to finish is the segments over the
pool's MPS: `estimate.mps`, else the senders' own `mps` where the target reports one,
else Twilio's defaults by kind of sender (reference §8.1).
"""

from __future__ import annotations

import asyncio
import csv
import logging
from decimal import Decimal
from pathlib import Path
from typing import Any

import phonenumbers

from herald.campaign import segments
from herald.campaign.api_client import Api, ApiError, Retrying
from herald.campaign.audience import Recipient
from herald.campaign.channel import opened
from herald.campaign.prepare import prepare
from herald.campaign.settings import Campaign
from herald.campaign.target import Target

log = logging.getLogger("herald.campaign")
SHORT_CODE_MPS, TOLL_FREE_MPS, LONG_CODE_MPS, OTHER_MPS = 100.0, 3.0, 1.0, 10.0


async def dry_run(campaign: Campaign, *, details: Path | None = None) -> dict[str, Any]:
    async with opened(campaign) as (store, api, retrying):
        prepared = await prepare(campaign, api, store, retrying)
        audience = prepared.audience
        eligible = [r for r in audience.recipients if r.phone not in prepared.suppressed]
        rows = await _estimates(campaign, api, prepared.target, retrying, eligible)
    if details is not None:
        _write_details(details, rows)
    total_segments = sum(int(r["segments"]) for r in rows)
    cost = sum((Decimal(str(r["price"])) for r in rows), Decimal(0))
    mps = float(campaign["estimate.mps"]) or pool_mps(prepared.target)
    suppressed = [r for r in audience.recipients if r.phone in prepared.suppressed]
    by_encoding: dict[str, int] = {}
    for row in rows:
        by_encoding[row["encoding"]] = by_encoding.get(row["encoding"], 0) + 1
    return {
        "campaign": campaign.name,
        "total": audience.contacts.total,
        "invalid": audience.contacts.invalid,
        "duplicates": audience.contacts.duplicates,
        "suppressed": sum(not r.is_seed for r in suppressed),
        "seeds": audience.seeds.total,
        "recipients": len(rows),
        "segments": total_segments,
        "encodings": by_encoding,
        "estimated_cost": float(round(cost, 4)),
        "price_unit": "USD",
        "mps": mps,
        "estimated_seconds": round(total_segments / mps, 1) if mps else None,
        "previewed": prepared.target.is_herald and bool(prepared.target.service_sid),
    }


async def _estimates(
    campaign: Campaign, api: Api, target: Target, retrying: Retrying, eligible: list[Recipient]
) -> list[dict[str, Any]]:
    price = Decimal(str(campaign["estimate.price_per_segment"]))
    if not (target.is_herald and target.service_sid):
        return [_local(r, price) for r in eligible]
    limit = asyncio.Semaphore(int(campaign["send.concurrency"]))

    async def preview(recipient: Recipient) -> dict[str, Any]:
        async with limit:
            try:
                answer = await retrying.run(
                    lambda: api.preview(target.service_sid, recipient.phone, recipient.body)
                )
            except ApiError as exc:
                log.warning("no preview for %s (%s); counted here", recipient.key, exc)
                return _local(recipient, price)
        try:
            price_quoted = abs(Decimal(str(answer.get("price") or 0)))
        except ArithmeticError:  # decimal.InvalidOperation: not a number
            price_quoted = Decimal(0)
        return {
            "contact_key": recipient.key, "phone": recipient.phone,
            "encoding": answer.get("encoding"), "segments": int(answer.get("num_segments") or 1),
            "price": price_quoted, "from": answer.get("from") or "",
        }  # fmt: skip

    return list(await asyncio.gather(*(preview(r) for r in eligible)))


def _local(recipient: Recipient, price: Decimal) -> dict[str, Any]:
    counted = segments.count(recipient.body)
    return {
        "contact_key": recipient.key, "phone": recipient.phone,
        "encoding": str(counted.encoding), "segments": counted.segments,
        "price": price * counted.segments, "from": "",
    }  # fmt: skip


def pool_mps(target: Target) -> float:
    """The senders' segments per second together."""
    return sum(_mps(sender) for sender in target.senders)


def _mps(sender: dict[str, Any]) -> float:
    given = sender.get("mps")
    if isinstance(given, int | float) and given > 0:
        return float(given)
    address = str(sender.get("phone_number") or sender.get("short_code") or "")
    if not address.startswith("+"):
        return SHORT_CODE_MPS if address.isdigit() else OTHER_MPS
    try:
        number = phonenumbers.parse(address, None)
    except phonenumbers.NumberParseException:
        return OTHER_MPS
    if phonenumbers.number_type(number) == phonenumbers.PhoneNumberType.TOLL_FREE:
        return TOLL_FREE_MPS
    return LONG_CODE_MPS if number.country_code == 1 else OTHER_MPS


def _write_details(path: Path, rows: list[dict[str, Any]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.DictWriter(
            out, ["contact_key", "phone", "encoding", "segments", "price", "from"]
        )
        writer.writeheader()
        writer.writerows(rows)
