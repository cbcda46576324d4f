"""One message's routing decision through a Messaging Service, and its explanation:
what the router decides for every message and what Preview shows without sending."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace

from herald.domain import delivery_errors, numbers
from herald.domain.carrier import CarrierInfo
from herald.domain.encoding import encode_body
from herald.domain.health import is_probe
from herald.domain.queued import QueuedMessage
from herald.domain.routing import (
    Candidate,
    Options,
    Recipient,
    Rejected,
    RoutingDecision,
    Rule,
    Shortlist,
    choose_from,
    shortlist,
)
from herald.domain.senders import SenderKind
from herald.domain.services import Mapping, PoolEntry, Service

NO_SENDERS = delivery_errors.NoSendersInPool.code
LISTED = 20  # rejected candidates named in a message's explanation

Lookup = Callable[[str], CarrierInfo | None]


def recipient_of(to_number: str, lookup: Lookup) -> Recipient:
    """The recipient's country, area code, carrier capability and alphanumeric rules."""
    number = numbers.parse_number(to_number)
    info = lookup(number.e164)
    reachable = info.supports_short_codes if info is not None else True
    alpha, preregistration = numbers.alpha_support(number.country) or ("no", "no")
    return Recipient(
        country=number.country,
        area_code=number.area_code,
        short_codes_reachable=reachable,
        alpha=alpha,
        alpha_preregistration=preregistration,
    )


Shortlists = dict[tuple[Recipient, bool, frozenset[str]], tuple[Shortlist, tuple[Rejected, ...]]]
# Sender health (`health.py`): what a decision says of an impaired sender.
IMPAIRED = "impaired: taken out of routing by sender health"
PROBE = "probe: the impaired sender keeps a share of its messages, so that its recovery shows"
ONLY_IMPAIRED = "impaired, but no other sender of the pool can take this message"
REROUTED = "rerouted: the sender routing chose is impaired"


def decide(
    service: Service,
    pool: Sequence[PoolEntry],
    row: QueuedMessage,
    recipient: Recipient,
    *,
    mapping: Mapping | None,
    waits: dict[str, float],
    counts: dict[str, int],
    shortlists: Shortlists | None = None,
    impaired: frozenset[str] = frozenset(),
    probe_share: float = 0.0,
) -> RoutingDecision:
    """`choose_sender` for one message, with an MMS sent only by MMS-capable senders.
    `shortlists` keeps what like recipients share within a batch (one service's pool).

    A sender of `impaired` (SIDs) that routing chooses keeps the message when it is a
    probe (`health.is_probe`) or when no other sender can take it; otherwise the message
    is routed among the others, the impaired ones named as passed over."""
    if not pool:
        return RoutingDecision(sender=None, rule=Rule.NONE, error_code=NO_SENDERS)
    shortlists = {} if shortlists is None else shortlists
    chosen = _decide(service, pool, row, recipient, mapping, waits, counts, shortlists, frozenset())
    if chosen.sender is None or chosen.sender.sid not in impaired:
        return chosen
    if is_probe(row.sid, probe_share):
        return replace(chosen, health=PROBE)
    healthy = _decide(service, pool, row, recipient, mapping, waits, counts, shortlists, impaired)
    if healthy.sender is None:
        return replace(chosen, health=ONLY_IMPAIRED)
    passed = Rejected(IMPAIRED, tuple(e.candidate.sid for e in pool if e.candidate.sid in impaired))
    return replace(healthy, rejected_groups=(passed, *healthy.rejected_groups), health=REROUTED)


def _decide(
    service: Service,
    pool: Sequence[PoolEntry],
    row: QueuedMessage,
    recipient: Recipient,
    mapping: Mapping | None,
    waits: dict[str, float],
    counts: dict[str, int],
    shortlists: Shortlists,
    excluded: frozenset[str],
) -> RoutingDecision:
    key = (recipient, bool(row.num_media), excluded)
    found = shortlists.get(key)
    if found is None:
        usable = [
            e.candidate
            for e in pool
            if (not row.num_media or e.mms) and e.candidate.sid not in excluded
        ]
        options = Options(
            area_code_geomatch=service.area_code_geomatch,
            sticky_sender=service.sticky_sender,
            skip_unregistered_alpha=service.skip_unregistered_alpha,
        )
        short = shortlist(usable, recipient, options=options, is_overlay=numbers.is_local_area)
        lacking = tuple(e.candidate.sid for e in pool if row.num_media and not e.mms)
        refused: tuple[Rejected, ...] = (Rejected("cannot send MMS", lacking),) if lacking else ()
        found = shortlists[key] = (short, refused)
    short, no_mms = found
    decision = choose_from(
        short,
        sticky=mapping.sender_sid if mapping is not None else None,
        pinned=mapping.pinned if mapping is not None else False,
        queue_waits=waits,
        mappings=counts,
    )
    if no_mms:
        return replace(decision, rejected_groups=no_mms + decision.rejected_groups)
    return decision


def given_sender(row: QueuedMessage) -> RoutingDecision:
    """The decision for a message whose request named its sender (§6.1: `From` with the
    service skips selection)."""
    if row.sender_sid is None:
        kind = SenderKind.ALPHANUMERIC
    elif numbers.is_short_code(row.from_number):
        kind = SenderKind.SHORT_CODE
    elif numbers.parse_number(row.from_number).number_type is numbers.NumberType.TOLL_FREE:
        kind = SenderKind.TOLL_FREE
    else:
        kind = SenderKind.LONG_CODE
    sender = Candidate(sid=row.sender_sid or "", address=row.from_number, kind=kind)
    return RoutingDecision(sender=sender, rule=Rule.FROM_PARAMETER, candidates=1)


def converts(service: Service | None, info: CarrierInfo | None, row: QueuedMessage) -> bool:
    """Whether the MMS Converter sends this message as SMS: it carries media, the service
    converts, and the recipient's carrier takes no MMS."""
    return bool(
        row.num_media and service and service.mms_converter and info and not info.supports_mms
    )


def converted_to_sms(row: QueuedMessage, link: str) -> QueuedMessage:
    """The message as the MMS Converter sends it: SMS with `link` to its media appended
    (reference §12), counted in SMS segments."""
    converted = replace(row, mms_link=link)
    segments = encode_body(converted.text, smart=row.smart_encoded).num_segments
    return replace(converted, num_segments=segments)


def addresses_of(pool: Sequence[PoolEntry]) -> dict[str, str]:
    return {e.candidate.sid: e.candidate.address for e in pool}


def explain(
    decision: RoutingDecision,
    addresses: dict[str, str],
    recipient: Recipient,
    service: Service | None,
    *,
    carrier: str | None,
) -> dict[str, object]:
    """The decision as `Routing.json` serves it. Every rejected candidate is counted under
    its reason; the first LISTED of them are named, the rarer reasons first, so a pool of
    hundreds costs a message about a kilobyte, not fifty."""
    sender = decision.sender
    groups = sorted(decision.rejected_groups, key=lambda g: len(g.sids))
    listed: list[dict[str, str | None]] = []
    for group in groups:  # the rarer reasons first
        for sid in group.sids[: LISTED - len(listed)]:
            listed.append({"sid": sid, "address": addresses.get(sid), "reason": group.reason})
    return {
        "rule": decision.rule.value,
        "sender": None
        if sender is None
        else {"sid": sender.sid, "address": sender.address, "type": sender.kind.value},
        "rerouted": decision.rerouted,
        "alert_code": decision.alert,
        "error_code": decision.error_code,
        "candidates": decision.candidates,
        "health": decision.health,
        "pool_size": len(addresses),
        "rejected": listed,
        "rejected_total": sum(len(g.sids) for g in decision.rejected_groups),
        "rejected_by_reason": _by_reason(decision.rejected_groups),
        "recipient": {
            "country": recipient.country,
            "area_code": recipient.area_code,
            "carrier": carrier,
            "carrier_takes_short_codes": recipient.short_codes_reachable,
            "alphanumeric_sender_ids": recipient.alpha,
        },
        "settings": None
        if service is None
        else {
            "sticky_sender": service.sticky_sender,
            "area_code_geomatch": service.area_code_geomatch,
            "skip_unregistered_alpha": service.skip_unregistered_alpha,
        },
    }


def _by_reason(groups: Sequence[Rejected]) -> list[dict[str, object]]:
    counts: dict[str, int] = {}
    for group in groups:
        counts[group.reason] = counts.get(group.reason, 0) + len(group.sids)
    return [{"reason": reason, "count": count} for reason, count in counts.items()]
