"""Copilot sender selection for a Messaging Service (reference §6): which sender of the
pool sends to a recipient, the rule that chose it, and why every other candidate lost.

Pure: the caller supplies the pool, the recipient's country, area code and whether its
carrier takes short codes, the sticky mapping, the queue waits and the mapping counts.
Order (§6.1): first the sender type — a short code that can reach the recipient, else an
alphanumeric ID where the country accepts one and the pool has no short code there, else
long codes and toll-free numbers (toll-free first in Canada) — then within that type a
valid Sticky Sender mapping, else Area Code Geomatch (US/CA), else Country Geomatch (same
country, else a US number, else any), and Scaler among what is left: the shortest queue
wait, with Sticky Sender on the fewest mappings.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from herald.domain import delivery_errors
from herald.domain.senders import SenderKind

NO_SENDER_ERROR = (
    delivery_errors.NoSenderReaches.code
)  # no sender in the pool reaches the recipient
PREREGISTRATION_ALERT = 30018
NANP = frozenset({"US", "CA"})
NUMBERS = frozenset({SenderKind.LONG_CODE, SenderKind.TOLL_FREE})


class Rule(StrEnum):
    SHORT_CODE = "short_code"
    ALPHA_SENDER = "alpha_sender"
    STICKY_SENDER = "sticky_sender"
    AREA_CODE_GEOMATCH = "area_code_geomatch"
    COUNTRY_GEOMATCH = "country_geomatch"
    US_FALLBACK = "us_number_fallback"
    ANY_NUMBER = "any_number"
    FROM_PARAMETER = "from_parameter"  # the request named the sender itself
    NONE = "none"


@dataclass(frozen=True, slots=True, kw_only=True)
class Candidate:
    """A sender in the pool. `country` is its home country (for an alphanumeric ID, the
    empty string: it has none); `registered_in` lists where an alpha ID is registered."""

    sid: str
    address: str
    kind: SenderKind
    country: str = ""
    area_code: str | None = None
    registered_in: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True, kw_only=True)
class Recipient:
    country: str
    area_code: str | None = None
    short_codes_reachable: bool = True  # its carrier takes short codes
    alpha: str = "no"  # the country's alphanumeric support: yes | no | restricted
    alpha_preregistration: str = "no"  # required | no | unknown


@dataclass(frozen=True, slots=True, kw_only=True)
class Options:
    area_code_geomatch: bool = True
    sticky_sender: bool = True
    skip_unregistered_alpha: bool = False  # Herald's extension (reference §14)


@dataclass(frozen=True, slots=True)
class Rejection:
    sid: str
    reason: str


@dataclass(frozen=True, slots=True)
class Rejected:
    """Candidates turned down for one reason: a pool of hundreds is hundreds of these per
    message, so they are kept as SIDs, not as a `Rejection` each."""

    reason: str
    sids: tuple[str, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class RoutingDecision:
    sender: Candidate | None
    rule: Rule
    rejected_groups: tuple[Rejected, ...] = ()
    rerouted: bool = False  # a short code could not reach the recipient: long code instead
    alert: int | None = None  # 30018: alpha ID not registered where it must be
    error_code: int | None = None  # why no sender was chosen
    candidates: int = 0  # how many Scaler chose among
    health: str | None = None  # sender health: why an impaired sender was used or passed over

    @property
    def rejected(self) -> tuple[Rejection, ...]:
        """Every candidate turned down, with its reason, in the order routing ruled."""
        return tuple(Rejection(sid, g.reason) for g in self.rejected_groups for sid in g.sids)


@dataclass
class _Trace:
    rejected: list[Rejected] = field(default_factory=list)

    def reject(self, candidates: Sequence[Candidate], reason: str) -> None:
        if candidates:
            self.rejected.append(Rejected(reason, tuple(c.sid for c in candidates)))

    def keep(
        self, candidates: Sequence[Candidate], test: Callable[[Candidate], bool], reason: str
    ) -> list[Candidate]:
        kept, rest = _split(candidates, test)
        self.reject(rest, reason)
        return kept

    def narrow(
        self, candidates: Sequence[Candidate], test: Callable[[Candidate], bool], reason: str
    ) -> list[Candidate]:
        """Those that pass `test`, the rest rejected; nothing rejected when none passes."""
        kept, rest = _split(candidates, test)
        if kept:
            self.reject(rest, reason)
        return kept


def _split(
    candidates: Sequence[Candidate], test: Callable[[Candidate], bool]
) -> tuple[list[Candidate], list[Candidate]]:
    """One pass (pools hold hundreds of senders, and this runs for every message)."""
    kept: list[Candidate] = []
    rest: list[Candidate] = []
    for c in candidates:
        (kept if test(c) else rest).append(c)
    return kept, rest


@dataclass(slots=True, kw_only=True)
class Shortlist:
    """What the pool and the recipient alone decide (§6.1: the sender type, then, when no
    mapping holds, the geomatch steps), so that messages to like recipients share it;
    Sticky Sender and Scaler then choose per message (`choose_from`)."""

    recipient: Recipient
    options: Options
    is_overlay: Callable[[str, str], bool]
    pool_sids: frozenset[str]
    typed: dict[str, Candidate]  # the winning type's candidates by SID, in pool order
    type_rule: Rule | None  # short code or alpha: the type alone decided
    local_country: bool  # a typed candidate is in the recipient's country
    rerouted: bool
    alert: int | None
    type_rejected: tuple[Rejected, ...]
    _geo: tuple[tuple[Candidate, ...], Rule, tuple[Rejected, ...]] | None = None

    def geomatched(self) -> tuple[tuple[Candidate, ...], Rule, tuple[Rejected, ...]]:
        """What Scaler chooses among without a mapping, the rule, and who lost; worked
        out once, when first needed."""
        if self._geo is None:
            typed = list(self.typed.values())
            if self.type_rule is not None:
                self._geo = (tuple(typed), self.type_rule, ())
            else:
                trace = _Trace()
                final, rule = _geomatch(typed, self.recipient, self.options, trace, self.is_overlay)
                self._geo = (tuple(final), rule, tuple(trace.rejected))
        return self._geo


def shortlist(
    pool: Sequence[Candidate],
    recipient: Recipient,
    *,
    options: Options | None = None,
    is_overlay: Callable[[str, str], bool] = lambda sender, recipient: sender == recipient,
) -> Shortlist:
    """`is_overlay(sender_area, recipient_area)` is Area Code Geomatch's test (the same
    code or an overlay of it)."""
    options = options or Options()
    trace = _Trace()
    typed, rule, rerouted, alert = _by_type(pool, recipient, options, trace)
    return Shortlist(
        recipient=recipient,
        options=options,
        is_overlay=is_overlay,
        pool_sids=frozenset(c.sid for c in pool),
        typed={c.sid: c for c in typed},
        type_rule=rule,
        local_country=any(c.country == recipient.country for c in typed),
        rerouted=rerouted,
        alert=alert,
        type_rejected=tuple(trace.rejected),
    )


def choose_from(
    short: Shortlist,
    *,
    sticky: str | None = None,
    pinned: bool = False,
    queue_waits: Mapping[str, float] | None = None,
    mappings: Mapping[str, int] | None = None,
) -> RoutingDecision:
    """The sender among the shortlist: the recipient's valid Sticky Sender mapping, else
    Scaler's choice. A `pinned` mapping (set by hand) is not remapped to a sender of the
    recipient's country, only dropped when ineligible."""
    if not short.typed:
        return RoutingDecision(
            sender=None,
            rule=Rule.NONE,
            rejected_groups=short.type_rejected,
            rerouted=short.rerouted,
            error_code=NO_SENDER_ERROR,
        )
    sticky_sender = short.options.sticky_sender
    invalid: tuple[Rejected, ...] = ()
    if sticky is not None and sticky_sender:
        mapped = short.typed.get(sticky)
        if mapped is not None and (pinned or not _remapped(mapped, short)):
            others = _group(
                "Sticky Sender maps this recipient to another sender",
                tuple(sid for sid in short.typed if sid != sticky),
            )
            return RoutingDecision(
                sender=mapped,
                rule=Rule.STICKY_SENDER,
                rejected_groups=short.type_rejected + others,
                rerouted=short.rerouted,
                alert=short.alert,
                candidates=1,
            )
        if sticky in short.pool_sids:
            invalid = (Rejected("Sticky Sender mapping no longer eligible", (sticky,)),)
    final, rule, geo_rejected = short.geomatched()
    chosen = _scale(final, queue_waits or {}, mappings or {}, sticky_sender)
    scaled = _group(
        "Scaler chose a less busy sender", tuple(c.sid for c in final if c is not chosen)
    )
    return RoutingDecision(
        sender=chosen,
        rule=rule,
        rejected_groups=short.type_rejected + invalid + geo_rejected + scaled,
        rerouted=short.rerouted,
        alert=short.alert,
        candidates=len(final),
    )


def choose_sender(
    pool: Sequence[Candidate],
    recipient: Recipient,
    *,
    sticky: str | None = None,
    pinned: bool = False,
    queue_waits: Mapping[str, float] | None = None,
    mappings: Mapping[str, int] | None = None,
    options: Options | None = None,
    is_overlay: Callable[[str, str], bool] = lambda sender, recipient: sender == recipient,
) -> RoutingDecision:
    """The sender for `recipient`: `shortlist`, then `choose_from`."""
    short = shortlist(pool, recipient, options=options, is_overlay=is_overlay)
    return choose_from(
        short, sticky=sticky, pinned=pinned, queue_waits=queue_waits, mappings=mappings
    )


def _group(reason: str, sids: tuple[str, ...]) -> tuple[Rejected, ...]:
    return (Rejected(reason, sids),) if sids else ()


def _remapped(mapped: Candidate, short: Shortlist) -> bool:
    """A mapping to a number of another country gives way once the pool has one in the
    recipient's country (§6.4: a new country sender remaps existing mappings)."""
    return (
        mapped.kind in NUMBERS and mapped.country != short.recipient.country and short.local_country
    )


def _by_type(
    pool: Sequence[Candidate], recipient: Recipient, options: Options, trace: _Trace
) -> tuple[list[Candidate], Rule | None, bool, int | None]:
    """The candidates of the winning sender type; the rule when the type alone decides
    (short code, alpha), whether a short code was rerouted, and any alert."""
    short = [c for c in pool if c.kind is SenderKind.SHORT_CODE]
    alpha = [c for c in pool if c.kind is SenderKind.ALPHANUMERIC]
    numbers = [c for c in pool if c.kind in NUMBERS]
    short_here = trace.keep(
        short, lambda c: c.country == recipient.country, "short code of another country"
    )
    rerouted = False
    if short_here and recipient.short_codes_reachable:
        trace.reject(alpha + numbers, "a short code can reach this recipient")
        return short_here, Rule.SHORT_CODE, False, None
    if short_here:
        trace.reject(short_here, "the recipient's carrier does not take short codes")
        rerouted = True
    if alpha and not short_here:
        eligible, alert = _alpha(alpha, recipient, options, trace)
        if eligible:
            trace.reject(numbers, "an alphanumeric sender ID is used in this country")
            return eligible, Rule.ALPHA_SENDER, False, alert
    elif alpha:
        trace.reject(alpha, "the pool has a short code in this country")
    if recipient.country == "CA" and any(c.kind is SenderKind.TOLL_FREE for c in numbers):
        numbers = trace.keep(
            numbers,
            lambda c: c.kind is SenderKind.TOLL_FREE,
            "toll-free numbers are preferred in Canada",
        )
    return numbers, None, rerouted, None


def _alpha(
    alpha: list[Candidate], recipient: Recipient, options: Options, trace: _Trace
) -> tuple[list[Candidate], int | None]:
    if recipient.alpha != "yes":
        trace.reject(
            alpha, f"{recipient.country or 'this country'} does not accept alphanumeric sender IDs"
        )
        return [], None
    if recipient.alpha_preregistration != "required":
        return alpha, None
    country = recipient.country
    registered = trace.narrow(
        alpha, lambda c: country in c.registered_in, "not registered in this country"
    )
    if registered:
        return registered, None
    if options.skip_unregistered_alpha:
        trace.reject(
            alpha, "not registered in this country, and the service skips unregistered IDs"
        )
        return [], None
    return alpha, PREREGISTRATION_ALERT


def _geomatch(
    numbers: list[Candidate],
    recipient: Recipient,
    options: Options,
    trace: _Trace,
    is_overlay: Callable[[str, str], bool],
) -> tuple[list[Candidate], Rule]:
    if options.area_code_geomatch and recipient.country in NANP and recipient.area_code:
        area = recipient.area_code
        local = trace.narrow(
            numbers,
            lambda c: c.area_code is not None and is_overlay(c.area_code, area),
            "not the recipient's area code or an overlay of it",
        )
        if local:
            return _own_country_first(local, recipient, trace), Rule.AREA_CODE_GEOMATCH
        nanp = trace.narrow(numbers, lambda c: c.country in NANP, "not a US/CA number")
        if nanp:
            return _own_country_first(nanp, recipient, trace), Rule.AREA_CODE_GEOMATCH
    country = recipient.country
    same = trace.narrow(numbers, lambda c: c.country == country, "not from the recipient's country")
    if same:
        return same, Rule.COUNTRY_GEOMATCH
    us = trace.narrow(
        numbers,
        lambda c: c.country == "US",
        "no sender in the recipient's country: a US number first",
    )
    if us:
        return us, Rule.US_FALLBACK
    return numbers, Rule.ANY_NUMBER


def _own_country_first(
    numbers: list[Candidate], recipient: Recipient, trace: _Trace
) -> list[Candidate]:
    """Among US/CA numbers, those of the recipient's own country when there are any
    (Country Code Geomatch is always on): a mapping to the other country would give way
    to them at the next send (`_remapped`), and Sticky Sender would not stick."""
    own = trace.narrow(
        numbers, lambda c: c.country == recipient.country, "not from the recipient's country"
    )
    return own or numbers


def _scale(
    candidates: Sequence[Candidate],
    waits: Mapping[str, float],
    mappings: Mapping[str, int],
    sticky_on: bool,
) -> Candidate:
    """Scaler: the shortest queue wait; with Sticky Sender, the fewest mappings first."""

    def load(c: Candidate) -> tuple[float, float, str]:
        count = float(mappings.get(c.sid, 0)) if sticky_on else 0.0
        return (count, waits.get(c.sid, 0.0), c.sid)

    return min(candidates, key=load)
