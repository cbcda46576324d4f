"""Opt-out keywords (reference §11): which inbound bodies are STOP, START or HELP, and what
Herald answers them with.

A keyword matches only as the whole message, case-insensitively, once surrounding whitespace
and any trailing run of sentence punctuation are dropped. Twilio documents neither; reading
"Stop." as an opt-out is the safer choice for compliance. Toll-free numbers are answered by
the carrier with fixed NETWORK MSG texts whatever is configured. Advanced Opt-Out (per
Messaging Service, off by default) adds keywords, languages, replies and country overrides,
and only then does the inbound webhook carry `OptOutType`.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType

from herald.domain.errors import InvalidParameter

MAX_REPLY = 1600
MAX_KEYWORD = 20  # characters in one keyword
MAX_KEYWORDS = 50  # per class, per keyword set
MAX_LANGUAGES = 20
MAX_COUNTRIES = 250
TRAILING_PUNCTUATION = ".!?,;:"


class OptOutType(StrEnum):
    STOP = "STOP"
    START = "START"
    HELP = "HELP"


DEFAULT_KEYWORDS: Mapping[OptOutType, tuple[str, ...]] = MappingProxyType(
    {
        OptOutType.STOP: (
            "STOP",
            "STOPALL",
            "UNSUBSCRIBE",
            "CANCEL",
            "END",
            "QUIT",
            "REVOKE",
            "OPTOUT",
        ),
        OptOutType.START: ("START", "YES", "UNSTOP"),
        OptOutType.HELP: ("HELP", "INFO"),
    }
)
DEFAULT_REPLIES: Mapping[OptOutType, str] = MappingProxyType(
    {
        OptOutType.STOP: "You have successfully been unsubscribed. You will not receive any more "
        "messages from this number. Reply START to resubscribe.",
        OptOutType.START: "You have successfully been re-subscribed to messages from this "
        "number. Reply HELP for help. Reply STOP to unsubscribe. Msg&Data Rates May Apply.",
        OptOutType.HELP: "Reply STOP to unsubscribe. Msg&Data Rates May Apply.",
    }
)
# The carrier's own answers on toll-free numbers: they cannot be changed or turned off.
TOLL_FREE_REPLIES: Mapping[OptOutType, str] = MappingProxyType(
    {
        OptOutType.STOP: 'NETWORK MSG: You replied with the word "stop" which blocks all texts '
        'sent from this number. Text back "unstop" to receive messages again.',
        OptOutType.START: 'NETWORK MSG: You have replied "unstop" and will begin receiving '
        "messages again from this number.",
    }
)

# The JSON names of each class's keywords and reply, in the order `to_json` writes them.
KEYWORD_KEYS: Mapping[OptOutType, str] = MappingProxyType(
    {
        OptOutType.STOP: "opt_out_keywords",
        OptOutType.START: "opt_in_keywords",
        OptOutType.HELP: "help_keywords",
    }
)
REPLY_KEYS: Mapping[OptOutType, str] = MappingProxyType(
    {
        OptOutType.STOP: "opt_out_reply",
        OptOutType.START: "opt_in_reply",
        OptOutType.HELP: "help_reply",
    }
)
_SET_KEYS = frozenset(KEYWORD_KEYS.values()) | frozenset(REPLY_KEYS.values())
_TOP_KEYS = _SET_KEYS | {"enabled", "languages", "countries"}
_LANGUAGE_KEYS = _SET_KEYS | {"language"}
_COUNTRY_KEYS = frozenset(REPLY_KEYS.values()) | {"country"}
_LANGUAGE = re.compile(r"[a-z]{2,3}(-[A-Za-z]{2,4})?")
_COUNTRY = re.compile(r"[A-Z]{2}")

Replies = Mapping[OptOutType, str]


def normalise(body: str) -> str:
    """`body` as a stored keyword is written: trimmed, trailing punctuation dropped, then
    casefolded and upper-cased (so "straße" and "STRASSE" compare equal)."""
    return body.strip().rstrip(TRAILING_PUNCTUATION).casefold().upper()


@dataclass(frozen=True, slots=True, kw_only=True)
class KeywordSet:
    """Keywords and replies of one language; `language` None is the default set. A language
    set may leave replies out: the default set's answer then."""

    language: str | None
    keywords: Mapping[OptOutType, tuple[str, ...]]
    replies: Replies

    def type_of(self, word: str) -> OptOutType | None:
        """The class `word` (already normalised) is a keyword of in this set, if any."""
        for type_, words in self.keywords.items():
            if word in words:
                return type_
        return None


@dataclass(frozen=True, slots=True, kw_only=True)
class AdvancedOptOut:
    """A Messaging Service's opt-out settings; they apply only while `enabled`."""

    enabled: bool
    default: KeywordSet
    languages: tuple[KeywordSet, ...]
    country_replies: Mapping[str, Replies]  # by the texter's ISO-2 country

    def to_json(self) -> dict[str, object]:
        """The settings as plain JSON, for storage and the API; `from_json` reads it back."""
        return {
            "enabled": self.enabled,
            **_set_json(self.default),
            "languages": [{"language": s.language, **_set_json(s)} for s in self.languages],
            "countries": [
                {"country": country, **_replies_json(replies)}
                for country, replies in self.country_replies.items()
            ],
        }

    @classmethod
    def from_json(cls, data: object) -> AdvancedOptOut:
        """Validated settings from their JSON form; a missing key keeps its default. Raises
        `InvalidParameter` (20001) naming the offending key."""
        top = _object(data, "", _TOP_KEYS)
        enabled = top.get("enabled", False)
        if not isinstance(enabled, bool):
            raise _invalid("enabled", "must be true or false")
        default = _keyword_set(top, "", None)
        for type_ in OptOutType:
            if type_.value not in default.keywords[type_]:
                raise _invalid(
                    KEYWORD_KEYS[type_],
                    f"must keep {type_.value}: STOP, START and HELP cannot be removed",
                )
        languages = _languages(top)
        _check_classes([("", default), *((f"languages[{i}]", s) for i, s in enumerate(languages))])
        return cls(
            enabled=enabled,
            default=default,
            languages=languages,
            country_replies=_countries(top),
        )


def default_config() -> AdvancedOptOut:
    """Twilio's behaviour without Advanced Opt-Out: off, default keywords and replies."""
    return _DEFAULT


@dataclass(frozen=True, slots=True, kw_only=True)
class Match:
    """An inbound body that is a keyword; `reply` None means no reply is sent."""

    type: OptOutType
    keyword: str
    language: str | None
    reply: str | None


def classify(
    body: str,
    config: AdvancedOptOut | None,
    *,
    country: str | None,
    toll_free: bool,
    opted_out: bool,
) -> Match | None:
    """The keyword `body` is, under `config` (the defaults when None or disabled), and the
    reply: on toll-free the carrier's text for STOP and START, and none to HELP while the
    texter is opted out. Sets are tried default first, then languages in order."""
    active = config if config is not None and config.enabled else _DEFAULT
    word = normalise(body)
    for keyword_set in (active.default, *active.languages):
        type_ = keyword_set.type_of(word)
        if type_ is not None:
            return Match(
                type=type_,
                keyword=word,
                language=keyword_set.language,
                reply=_reply(active, keyword_set, type_, country, toll_free, opted_out),
            )
    return None


def opt_out_type_param(match: Match | None, config: AdvancedOptOut | None) -> str | None:
    """The inbound webhook's `OptOutType`: sent only when Advanced Opt-Out is enabled."""
    if match is None or config is None or not config.enabled:
        return None
    return match.type.value


def _reply(
    active: AdvancedOptOut,
    keyword_set: KeywordSet,
    type_: OptOutType,
    country: str | None,
    toll_free: bool,
    opted_out: bool,
) -> str | None:
    if toll_free:
        if type_ in TOLL_FREE_REPLIES:
            return TOLL_FREE_REPLIES[type_]
        if opted_out:
            return None  # toll-free HELP is unanswered until the texter opts back in
    overrides = active.country_replies.get(country.upper(), {}) if country else {}
    return overrides.get(type_) or keyword_set.replies.get(type_) or active.default.replies[type_]


# ---- JSON ------------------------------------------------------------------------------


def _set_json(keyword_set: KeywordSet) -> dict[str, object]:
    words = {KEYWORD_KEYS[t]: list(keyword_set.keywords.get(t, ())) for t in OptOutType}
    return {**words, **_replies_json(keyword_set.replies)}


def _replies_json(replies: Replies) -> dict[str, object]:
    return {REPLY_KEYS[t]: replies[t] for t in OptOutType if t in replies}


def _invalid(where: str, problem: str) -> InvalidParameter:
    return InvalidParameter(f"Invalid Advanced Opt-Out setting {where or 'value'}: {problem}")


def _at(prefix: str, key: str) -> str:
    return f"{prefix}.{key}" if prefix else key


def _object(data: object, where: str, allowed: frozenset[str]) -> Mapping[str, object]:
    if not isinstance(data, dict):
        raise _invalid(where, "must be an object")
    for key in data:
        if key not in allowed:
            raise _invalid(_at(where, str(key)), "is not a known setting")
    return data


def _list(top: Mapping[str, object], key: str, limit: int) -> list[object]:
    items = top.get(key, [])
    if not isinstance(items, list):
        raise _invalid(key, "must be a list")
    if len(items) > limit:
        raise _invalid(key, f"may have at most {limit} entries")
    return items


def _is_word(word: str) -> bool:
    """Letters and digits of any script (with the combining marks some scripts spell
    words with), no spaces or punctuation, 1–20 characters."""
    return 0 < len(word) <= MAX_KEYWORD and all(unicodedata.category(c)[0] in "LMN" for c in word)


def _keywords(value: object, where: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(w, str) for w in value):
        raise _invalid(where, "must be a list of words")
    if len(value) > MAX_KEYWORDS:
        raise _invalid(where, f"may have at most {MAX_KEYWORDS} keywords")
    words = [w.casefold().upper() for w in value]
    for raw, word in zip(value, words, strict=True):
        if not _is_word(word):
            raise _invalid(where, f"{raw!r} is not one word of 1–{MAX_KEYWORD} letters or digits")
    return tuple(dict.fromkeys(words))


def _reply_text(value: object, where: str) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > MAX_REPLY:
        raise _invalid(where, f"must be text of 1–{MAX_REPLY} characters")
    return value


def _replies(data: Mapping[str, object], prefix: str) -> Replies:
    return MappingProxyType(
        {
            t: _reply_text(data[key], _at(prefix, key))
            for t, key in REPLY_KEYS.items()
            if key in data
        }
    )


def _keyword_set(data: Mapping[str, object], prefix: str, language: str | None) -> KeywordSet:
    """A keyword set; the default one (`language` None) starts from Twilio's defaults."""
    keywords: dict[OptOutType, tuple[str, ...]] = {}
    replies = dict(_replies(data, prefix))
    for type_, key in KEYWORD_KEYS.items():
        if key in data:
            keywords[type_] = _keywords(data[key], _at(prefix, key))
        else:
            keywords[type_] = DEFAULT_KEYWORDS[type_] if language is None else ()
        if language is None:
            replies.setdefault(type_, DEFAULT_REPLIES[type_])
    return KeywordSet(
        language=language, keywords=MappingProxyType(keywords), replies=MappingProxyType(replies)
    )


def _languages(top: Mapping[str, object]) -> tuple[KeywordSet, ...]:
    sets: list[KeywordSet] = []
    for i, item in enumerate(_list(top, "languages", MAX_LANGUAGES)):
        prefix = f"languages[{i}]"
        data = _object(item, prefix, _LANGUAGE_KEYS)
        language = data.get("language")
        if not isinstance(language, str) or not _LANGUAGE.fullmatch(language):
            raise _invalid(f"{prefix}.language", "must be a language tag such as es or pt-BR")
        if any(s.language == language for s in sets):
            raise _invalid(f"{prefix}.language", f"{language} is listed twice")
        sets.append(_keyword_set(data, prefix, language))
    return tuple(sets)


def _countries(top: Mapping[str, object]) -> Mapping[str, Replies]:
    countries: dict[str, Replies] = {}
    for i, item in enumerate(_list(top, "countries", MAX_COUNTRIES)):
        prefix = f"countries[{i}]"
        data = _object(item, prefix, _COUNTRY_KEYS)
        country = data.get("country")
        if not isinstance(country, str) or not _COUNTRY.fullmatch(country):
            raise _invalid(f"{prefix}.country", "must be an ISO-2 country code such as MX")
        if country in countries:
            raise _invalid(f"{prefix}.country", f"{country} is listed twice")
        countries[country] = _replies(data, prefix)
    return MappingProxyType(countries)


def _check_classes(sets: list[tuple[str, KeywordSet]]) -> None:
    """A keyword means one thing: it may sit in several sets, but always in the same class."""
    seen: dict[str, OptOutType] = {}
    for prefix, keyword_set in sets:
        for type_, words in keyword_set.keywords.items():
            for word in words:
                if seen.setdefault(word, type_) is not type_:
                    raise _invalid(
                        _at(prefix, KEYWORD_KEYS[type_]),
                        f"{word} is already a {seen[word].value} keyword",
                    )


_DEFAULT = AdvancedOptOut(
    enabled=False,
    default=KeywordSet(language=None, keywords=DEFAULT_KEYWORDS, replies=DEFAULT_REPLIES),
    languages=(),
    country_replies=MappingProxyType({}),
)
