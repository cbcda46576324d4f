"""`herald campaign send`: one request per recipient, at most `send.concurrency` at once,
resumable after any interruption without sending anyone twice.

Each recipient's intent (`sending`, with the attempt's time) is durable before its
request goes out, and its message SID before that worker sends again. A rerun skips the
`sent`; the doubts are a recipient left `sending` by an interruption and one whose tries
ended `failed` on answers that may have been lost. Against Herald the create is repeated
with the same `Idempotency-Key` (per campaign and contact), which returns the first
message if there was one. Against a target without the header (Twilio) the recipient's
recent messages are looked through first (`reconcile.py`), after every lost answer too.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from herald.campaign import reconcile, times
from herald.campaign.api_client import Ambiguous, Api, ApiError, Retrying
from herald.campaign.group_commit import GroupCommit
from herald.campaign.settings import Campaign
from herald.campaign.store import CampaignStore, Contact
from herald.campaign.target import Target

log = logging.getLogger("herald.campaign")
# Herald keeps an Idempotency-Key a day (HERALD_IDEMPOTENCY_TTL_S); a doubt older than
# half that is settled by looking, not by the key.
KEY_TRUSTED_US = 12 * 3600 * 1_000_000


@dataclass(slots=True, kw_only=True)
class Counts:
    sent: int = 0
    seeds_sent: int = 0
    failed: int = 0
    retries: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class Write:
    """One worker's write: an intent (`message` None) or an outcome."""

    contact: Contact
    message: dict[str, Any] | None = None
    error: ApiError | None = None
    at_us: int = 0


@dataclass(slots=True, kw_only=True)
class Sender:
    api: Api
    store: CampaignStore
    campaign: Campaign
    target: Target
    retrying: Retrying
    advance: Callable[[], None]
    counts: Counts = field(default_factory=Counts)

    async def run(self, work: list[Contact]) -> Counts:
        """Send to every contact of `work`, `send.concurrency` at a time."""
        queue: asyncio.Queue[Contact] = asyncio.Queue()
        for contact in work:
            queue.put_nowait(contact)
        commits: GroupCommit[Write] = GroupCommit(self._flush)
        workers = int(self.campaign["send.concurrency"])
        try:
            async with asyncio.TaskGroup() as group:
                for _ in range(min(workers, max(1, len(work)))):
                    group.create_task(self._work(queue, commits))
        finally:
            await commits.aclose()
        return self.counts

    async def _work(self, queue: asyncio.Queue[Contact], commits: GroupCommit[Write]) -> None:
        """One worker: each contact's intent is durable before its request, its outcome
        before the next request; the outcome and the next contact's intent share a write."""
        contact = None if queue.empty() else queue.get_nowait()
        if contact is not None:
            await commits.write(Write(contact=contact, at_us=times.now_us()))
        while contact is not None:
            message, error = await self._send(contact, times.now_us())
            following = None if queue.empty() else queue.get_nowait()
            now = times.now_us()
            done = Write(contact=contact, message=message, error=error, at_us=now)
            if following is None:
                await commits.write(done)
            else:
                await commits.write(done, Write(contact=following, at_us=now))
            if message is not None:
                self.counts.sent += 1
                self.counts.seeds_sent += contact.is_seed
            else:
                self.counts.failed += 1
            self.advance()
            contact = following

    async def _send(
        self, contact: Contact, now_us: int
    ) -> tuple[dict[str, Any] | None, ApiError | None]:
        """The accepted message, or the error that ended the tries."""
        trust_key = self.target.is_herald
        # A doubt: an interruption left it `sending`, or the last run gave up on it after
        # tries whose answers may have been lost (a retryable `failed`).
        if contact.state in ("sending", "failed"):
            attempted = contact.attempted_us or now_us
            trust_key = trust_key and now_us - attempted < KEY_TRUSTED_US
            if not trust_key:
                found = await self._look_for(contact, attempted)
                if found is not None:
                    return found, None
        form = self._form(contact)
        key = idempotency_key(self.campaign.name, contact.key)
        attempts = 0
        while True:
            attempts += 1
            try:
                return await self.retrying.run(
                    lambda: self.api.create_message(form, key), self._retried
                ), None
            except Ambiguous as exc:
                if not trust_key:  # the last try's message too, before giving up
                    found = await self._look_for(contact, now_us)
                    if found is not None:
                        return found, None
                if attempts >= int(self.campaign["send.max_attempts"]):
                    return None, exc
                self._retried(exc)
                await asyncio.sleep(self.retrying.delay_s(attempts, None))
            except ApiError as exc:
                return None, exc

    async def _look_for(self, contact: Contact, since_us: int) -> dict[str, Any] | None:
        sender = str(self.campaign["message.from"])
        try:
            return await self.retrying.run(
                lambda: reconcile.find_sent(self.api, contact, sender, since_us), self._retried
            )
        except ApiError:
            return None  # unknown: sending again is the lesser harm than missing a contact

    def _retried(self, exc: ApiError) -> None:
        self.counts.retries += 1
        log.debug("retrying after %s", exc)

    def _form(self, contact: Contact) -> dict[str, str]:
        form = {"To": contact.phone, "Body": contact.body}
        service = str(self.campaign["message.messaging_service_sid"])
        if service:
            form["MessagingServiceSid"] = service
        else:
            form["From"] = str(self.campaign["message.from"])
        callback = str(self.campaign["message.status_callback"])
        if callback:
            form["StatusCallback"] = callback
        return form

    def _flush(self, writes: list[Write]) -> None:
        intents = [w.contact.key for w in writes if w.message is None and w.error is None]
        outcomes = [_outcome(w) for w in writes if w.message is not None or w.error is not None]
        states = [_first_state(self.campaign.name, w) for w in writes if w.message is not None]
        now = times.now_us()
        self.store.apply(self.campaign.name, intents, outcomes, states, now)


def idempotency_key(campaign: str, contact_key: str) -> str:
    """The same for every attempt at one contact of one campaign, and short enough for
    any server's limit."""
    digest = hashlib.sha256(f"{campaign}\x00{contact_key}".encode()).hexdigest()
    return f"campaign-{digest[:48]}"


def _outcome(write: Write) -> dict[str, Any]:
    if write.message is not None:
        message = write.message
        code = message.get("error_code")
        return {
            "contact_key": write.contact.key, "state": "sent", "message_sid": message.get("sid"),
            "status": message.get("status"), "error_code": int(code) if code else None,
            "error_message": message.get("error_message"), "is_retryable": False,
            "is_final": message.get("status") in FINAL, "updated_us": write.at_us,
            "sent_us": times.parse_us(message.get("date_created")) or write.at_us,
        }  # fmt: skip
    error = write.error
    assert error is not None
    return {
        "contact_key": write.contact.key, "state": "failed",
        "error_code": error.code or (error.status or None),
        "error_message": str(error)[:500], "is_retryable": error.is_retryable,
        "updated_us": write.at_us,
    }  # fmt: skip


def _first_state(campaign: str, write: Write) -> dict[str, Any]:
    message = write.message or {}
    return {
        "campaign": campaign, "contact_key": write.contact.key, "message_sid": message.get("sid"),
        "state": fulfillment_state(str(message.get("status"))), "event_name": "",
        "at_us": times.parse_us(message.get("date_created")) or write.at_us,
    }  # fmt: skip


FINAL = frozenset({"delivered", "undelivered", "failed", "canceled", "read", "received"})
_STATES = {
    "accepted": "queued", "scheduled": "queued", "queued": "queued", "sending": "sending",
    "sent": "sent", "delivered": "delivered", "read": "delivered", "undelivered": "undelivered",
    "failed": "failed", "canceled": "failed",
}  # fmt: skip


def fulfillment_state(status: str) -> str:
    """The offer-history state for an API status (seed 004's fulfillment states)."""
    return _STATES.get(status, status)


def elapsed_since(started: float) -> float:
    return round(time.monotonic() - started, 3)
