"""Sender health (beyond Twilio): outcomes counted per sender over a sliding window, and
the rule that takes a failing sender out of service routing and puts it back.

A window is `SLICES` time slices; each node keeps a `Tally` per subject (a sender, or a
carrier connection) and slice, and the tallies of every node add up. A subject is judged
on the outcomes since its last change of state: at least `min_messages` judged, then a
failure rate at or above `failure_threshold` makes a healthy one impaired, and one at or
under `recovery_threshold` makes an impaired one healthy again. Failures that describe
the recipient's number, not the sender (a landline, an invalid or unroutable number, a
carrier that takes no MMS), are counted in the error mix but never judged. An impaired
sender still gets `probe_share` of the messages routing would give it (chosen by the
message SID, which is random), so its recovery can be seen.
"""

from __future__ import annotations

import hashlib
import math
from bisect import bisect_left
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from itertools import accumulate

from herald.domain import delivery_errors, errors
from herald.domain.alerts import Alert
from herald.domain.routing import Candidate
from herald.domain.senders import SenderKind

SLICES = 10  # a window is this many slices
SECOND_US = 1_000_000
# Herald's own alert codes are six digits, outside Twilio's five-digit space.
HERALD_CODES = 100_000
IMPAIRED_ALERT = 900_100  # a sender taken out of routing
RECOVERED_ALERT = 900_101  # a sender put back
# The recipient's number, not the sender, is at fault: counted, never judged.
NOT_JUDGED = frozenset(
    {
        delivery_errors.LandlineOrUnreachableCarrier.code,  # 30006
        delivery_errors.MmsNotSupported.code,  # 30011
        errors.InvalidTo.code,  # 21211
        errors.CannotRoute.code,  # 21612
        errors.NotMobile.code,  # 21614
    }
)
# Upper bounds (s) of the receipt latency buckets; a longer wait counts in the last one.
LATENCY_BOUNDS_S = (0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0, 86_400.0)
_EMPTY_LATENCY = (0,) * len(LATENCY_BOUNDS_S)


class Health(StrEnum):
    HEALTHY = "healthy"
    IMPAIRED = "impaired"  # out of service routing but for probes


@dataclass(frozen=True, slots=True, kw_only=True)
class Policy:
    window_s: float = 600.0
    min_messages: int = 20
    failure_threshold: float = 0.5
    recovery_threshold: float = 0.2
    probe_share: float = 0.05

    @property
    def window_us(self) -> int:
        return round(self.window_s * SECOND_US)

    @property
    def slice_us(self) -> int:
        return max(1, self.window_us // SLICES)


@dataclass(frozen=True, slots=True, kw_only=True)
class Subject:
    """What outcomes are counted for: `key` is a sender's queue key (its SID, or
    account/ID for an alphanumeric ID) or a connection's name; `account_sid` is None for
    what belongs to no account (a connection), which raises no alert."""

    key: str
    kind: str = "sender"  # sender | connection
    address: str = ""
    account_sid: str | None = None
    resource_sid: str | None = None  # the sender's PN…/SC… SID, for its alerts


@dataclass(frozen=True, slots=True, kw_only=True)
class Outcome:
    """A message's final outcome: delivered, or not with its error code; `latency_us` is
    the time from sent to the receipt (None for a refusal, or when not known)."""

    delivered: bool
    error_code: int | None = None
    latency_us: int | None = None
    refused: bool = False  # the carrier refused it at submit (`failed`), no receipt


@dataclass(frozen=True, slots=True, kw_only=True)
class Tally:
    delivered: int = 0
    failed: int = 0  # judged failures
    not_judged: int = 0  # failures that describe the recipient (`NOT_JUDGED`)
    errors: tuple[tuple[int, int], ...] = ()  # (error code, count), by code
    latency: tuple[int, ...] = _EMPTY_LATENCY  # receipts per `LATENCY_BOUNDS_S` bucket

    @property
    def total(self) -> int:
        return self.delivered + self.failed + self.not_judged

    @property
    def judged(self) -> int:
        return self.delivered + self.failed

    @property
    def failure_rate(self) -> float | None:
        return self.failed / self.judged if self.judged else None

    @property
    def delivery_rate(self) -> float | None:
        return self.delivered / self.total if self.total else None

    def add(self, outcome: Outcome) -> Tally:
        latency = self.latency
        if outcome.latency_us is not None:
            bucket = latency_bucket(outcome.latency_us)
            latency = (*latency[:bucket], latency[bucket] + 1, *latency[bucket + 1 :])
        if outcome.delivered:
            return Tally(
                delivered=self.delivered + 1,
                failed=self.failed,
                not_judged=self.not_judged,
                errors=self.errors,
                latency=latency,
            )
        code = outcome.error_code or delivery_errors.UnknownError.code
        counts = dict(self.errors)
        counts[code] = counts.get(code, 0) + 1
        judged = code not in NOT_JUDGED
        return Tally(
            delivered=self.delivered,
            failed=self.failed + judged,
            not_judged=self.not_judged + (not judged),
            errors=tuple(sorted(counts.items())),
            latency=latency,
        )

    def percentile(self, q: float) -> float | None:
        """The upper bound (s) of the latency bucket holding the `q` quantile."""
        cumulative = list(accumulate(self.latency))
        if not cumulative[-1]:
            return None
        rank = max(1, math.ceil(q * cumulative[-1]))
        return LATENCY_BOUNDS_S[bisect_left(cumulative, rank)]


def merge(tallies: Iterable[Tally]) -> Tally:
    """The tallies added up (several slices, several nodes)."""
    delivered = failed = not_judged = 0
    counts: dict[int, int] = {}
    latency = list(_EMPTY_LATENCY)
    for t in tallies:
        delivered += t.delivered
        failed += t.failed
        not_judged += t.not_judged
        for code, n in t.errors:
            counts[code] = counts.get(code, 0) + n
        latency = [a + b for a, b in zip(latency, t.latency, strict=True)]
    return Tally(
        delivered=delivered,
        failed=failed,
        not_judged=not_judged,
        errors=tuple(sorted(counts.items())),
        latency=tuple(latency),
    )


def latency_bucket(latency_us: int) -> int:
    """Its bucket: the first whose bound it does not exceed, else the last."""
    return min(bisect_left(LATENCY_BOUNDS_S, latency_us / SECOND_US), len(LATENCY_BOUNDS_S) - 1)


@dataclass(frozen=True, slots=True)
class Slice:
    start_us: int
    tally: Tally


def slice_start(now_us: int, policy: Policy) -> int:
    return now_us - now_us % policy.slice_us


def window_start(now_us: int, policy: Policy) -> int:
    """The first slice start still in the window."""
    return slice_start(now_us, policy) - (SLICES - 1) * policy.slice_us


def in_window(slices: Iterable[Slice], now_us: int, policy: Policy, since_us: int = 0) -> Tally:
    """The slices of the window that began at or after `since_us`, added up."""
    first = max(window_start(now_us, policy), since_us)
    return merge(s.tally for s in slices if s.start_us >= first)


@dataclass(frozen=True, slots=True, kw_only=True)
class State:
    health: Health = Health.HEALTHY
    changed_at: int = 0  # µs; 0: never changed


@dataclass(frozen=True, slots=True, kw_only=True)
class Change:
    state: State
    counted: Tally  # what it was judged on


def judge(state: State, slices: Sequence[Slice], now_us: int, policy: Policy) -> Change | None:
    """The change of state the outcomes since the last one call for, if any."""
    counted = in_window(slices, now_us, policy, since_us=state.changed_at)
    rate = counted.failure_rate
    if rate is None or counted.judged < policy.min_messages:
        return None
    if state.health is Health.HEALTHY and rate >= policy.failure_threshold:
        return Change(state=State(health=Health.IMPAIRED, changed_at=now_us), counted=counted)
    if state.health is Health.IMPAIRED and rate <= policy.recovery_threshold:
        return Change(state=State(health=Health.HEALTHY, changed_at=now_us), counted=counted)
    return None


def is_probe(message_sid: str, share: float) -> bool:
    """Whether this message still goes to an impaired sender: `share` of all messages,
    told apart by the random hex digits of their SID (the same answer on every node)."""
    digits = message_sid[-8:]
    if len(digits) < 8 or any(c not in "0123456789abcdefABCDEF" for c in digits):
        return False
    return int(digits, 16) / 2**32 < share


def candidate_key(account_sid: str, candidate: Candidate) -> str:
    """The health key of a routing candidate: its queue's key (dispatch's `queue_key`)."""
    if candidate.kind is SenderKind.ALPHANUMERIC:
        return f"{account_sid}/{candidate.address}"
    return candidate.sid


def impaired_among(
    account_sid: str, candidates: Iterable[Candidate], impaired_keys: Collection[str]
) -> frozenset[str]:
    """The SIDs of the candidates whose senders are impaired."""
    return frozenset(c.sid for c in candidates if candidate_key(account_sid, c) in impaired_keys)


def health_sid(key: str) -> str:
    """A subject's stable SID (`HS` and 32 hex digits), the same on every node."""
    return "HS" + hashlib.blake2b(key.encode(), digest_size=16).hexdigest()


def alert_for(
    subject: Subject, change: Change, *, sid: str, now_us: int, policy: Policy
) -> Alert | None:
    """The Monitor alert a change raises (none for what belongs to no account)."""
    if subject.account_sid is None:
        return None
    counted = change.counted
    rate = counted.failure_rate or 0.0
    seen = f"{counted.failed} of {counted.judged} messages failed ({rate:.0%})"
    if change.state.health is Health.IMPAIRED:
        mix = ", ".join(f"{code} ×{n}" for code, n in counted.errors)
        code, level = IMPAIRED_ALERT, "warning"
        text = (
            f"Sender health: {subject.address} was taken out of service routing: {seen} "
            f"within {policy.window_s:g} s, at or above the threshold of "
            f"{policy.failure_threshold:.0%} (errors: {mix}). It still gets "
            f"{policy.probe_share:.0%} of its messages as probes, and messages sent from "
            "it directly, or that no other sender can take."
        )
    else:
        code, level = RECOVERED_ALERT, "notice"
        text = (
            f"Sender health: {subject.address} is back in service routing: {seen} since "
            f"it was taken out, at or under {policy.recovery_threshold:.0%}."
        )
    return Alert(
        sid=sid,
        account_sid=subject.account_sid,
        error_code=code,
        log_level=level,
        alert_text=text,
        resource_sid=subject.resource_sid,
        service_sid=None,
        date_created=now_us,
        date_updated=now_us,
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class Report:
    """A subject's health as the API shows it: its state and its window's outcomes."""

    sid: str
    subject: Subject
    state: State
    window: Tally
