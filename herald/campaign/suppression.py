"""Filling the suppression table as seed 004 does: the keywords among inbound messages to
the sending numbers within the retrieval period (`Messages.json?To=…&DateSent>=…`), read
incrementally from where the last read stopped; plus, when the target is Herald, its
opt-out ledger, which also knows opt-outs that arrived other ways (imports, Advanced
Opt-Out keywords, other channels)."""

from __future__ import annotations

import asyncio
import functools
import logging
from dataclasses import dataclass, replace
from typing import Any

from herald.campaign import keywords, times
from herald.campaign.api_client import Api, Retrying
from herald.campaign.store import CampaignStore
from herald.campaign.target import Target

log = logging.getLogger("herald.campaign")
DAY_US = 86_400_000_000
OVERLAP_US = 5 * 60 * 1_000_000  # re-read this much before the mark: late-stored messages


@dataclass(frozen=True, slots=True, kw_only=True)
class Inbound:
    sid: str
    phone: str  # who sent it
    number: str  # the sending number it went to
    body: str
    keyword: str | None
    at_us: int


async def read_inbound(
    api: Api, store: CampaignStore, target: Target, campaign: str, period_days: int,
    retrying: Retrying,
) -> list[Inbound]:  # fmt: skip
    """The inbound messages to the sending numbers since the last read (or within the
    retrieval period), their keywords stored as suppression activity."""
    now = times.now_us()
    floor = now - period_days * DAY_US
    found: list[Inbound] = []
    for number in target.numbers:
        mark = await _mark(store, campaign, number)
        since = max(floor, mark - OVERLAP_US) if mark else floor
        messages = await retrying.run(functools.partial(_collect, api, number, since))
        found += messages
        rows = [
            _activity_row(api.account_sid, target.service_sid, m) for m in messages if m.keyword
        ]
        await asyncio.to_thread(store.add_suppression, rows)
        await asyncio.to_thread(store.set_mark, campaign, f"inbound:{number}", now)
    return found


async def refresh_ledger(
    api: Api, store: CampaignStore, target: Target, retrying: Retrying
) -> None:
    """Herald's ledger, as it is now, into the suppression table."""
    entries = await retrying.run(api.opt_out_ledger)
    rows = [row for e in entries if (row := _ledger_row(api.account_sid, target, e)) is not None]
    await asyncio.to_thread(store.replace_ledger, api.account_sid, rows)
    log.info("Read %d opt-outs from the target's ledger", len(rows))


def suppressed(store: CampaignStore, account_sid: str, target: Target) -> set[str]:
    activities = [
        keywords.Activity(phone=r.phone, number=r.number, keyword=r.activity, at_us=r.at_us)
        for r in store.suppression_rows(account_sid)
    ]
    return keywords.suppressed(activities, target.numbers)


async def _collect(api: Api, number: str, since_us: int) -> list[Inbound]:
    found = []
    async for message in api.messages({"To": number, "DateSent>": times.iso(since_us)}):
        if message.get("direction") != "inbound":
            continue
        at = times.parse_us(message.get("date_sent")) or times.parse_us(message.get("date_created"))
        body = str(message.get("body") or "")
        found.append(
            Inbound(
                sid=str(message.get("sid")),
                phone=str(message.get("from")),
                number=number,
                body=body,
                keyword=keywords.keyword_of(body),
                at_us=at or 0,
            )
        )
    return _ordered(found)


def _ordered(newest_first: list[Inbound]) -> list[Inbound]:
    """The API's times have whole seconds: STOP then START within one second would tie.
    The list is newest first, so within a second each message is given a microsecond
    below the one listed before it — the same on every read, since a `DateSent>` bound
    takes or leaves a whole second."""
    ordered: list[Inbound] = []
    rank = 0
    for message in newest_first:
        if message.at_us % 1_000_000:  # the API gave finer times: nothing ties
            ordered.append(message)
            continue
        previous = ordered[-1].at_us if ordered else None
        same_second = previous is not None and previous // 1_000_000 == message.at_us // 1_000_000
        rank = rank + 1 if same_second else 0
        ordered.append(replace(message, at_us=message.at_us + 999_999 - rank))
    return ordered


def _activity_row(account_sid: str, service_sid: str, message: Inbound) -> dict[str, Any]:
    return {
        "account_sid": account_sid, "phone": message.phone, "number": message.number,
        "messaging_service_sid": service_sid, "activity": message.keyword,
        "at_us": message.at_us, "source": "reply",
    }  # fmt: skip


def _ledger_row(account_sid: str, target: Target, entry: dict[str, Any]) -> dict[str, Any] | None:
    """A ledger entry as suppression, if it binds this campaign: account-wide, for its
    service, or for one of its numbers."""
    scope = entry.get("scope")
    service = entry.get("messaging_service_sid") or ""
    sender = entry.get("sender") or ""
    if scope == "service" and service != target.service_sid:
        return None
    if scope == "sender" and sender not in target.numbers:
        return None
    number = sender if scope == "sender" else ""
    return {
        "account_sid": account_sid, "phone": str(entry.get("phone_number")), "number": number,
        "messaging_service_sid": service,
        "activity": "STOP",  # an entry is an opt-out, whatever word or import made it
        "at_us": times.parse_us(entry.get("date_created")) or 0, "source": "ledger",
    }  # fmt: skip


async def _mark(store: CampaignStore, campaign: str, number: str) -> int | None:
    return await asyncio.to_thread(store.mark, campaign, f"inbound:{number}")
