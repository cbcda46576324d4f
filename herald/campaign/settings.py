"""The campaign file (TOML), with every key also a flag and a `HERALD_CAMPAIGN_*` variable.

The keys are one table, `KEYS`, so the file, the flags and the variables cannot drift
apart: `send.concurrency` is `--send-concurrency` and `HERALD_CAMPAIGN_SEND_CONCURRENCY`.
A flag wins over its variable, a variable over the file, the file over the default.
Relative paths (the audience and seed CSVs, a SQLite campaign database) are read from
the campaign file's directory, so a campaign moves as one folder.
"""

from __future__ import annotations

import math
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

ENV_PREFIX = "HERALD_CAMPAIGN_"


class CampaignFileError(Exception):
    """The campaign file or an override is wrong; the message names the key."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Key:
    section: str  # "" for a top-level key
    name: str
    kind: type
    default: Any
    help: str

    @property
    def dotted(self) -> str:
        return f"{self.section}.{self.name}" if self.section else self.name

    @property
    def flag(self) -> str:
        return "--" + self.dotted.replace(".", "-").replace("_", "-")

    @property
    def env(self) -> str:
        return ENV_PREFIX + self.dotted.replace(".", "_").upper()


def _k(section: str, name: str, kind: type, default: Any, help: str) -> Key:
    return Key(section=section, name=name, kind=kind, default=default, help=help)


KEYS = (
    _k("", "name", str, None, "the campaign's name, its key in the campaign database"),
    _k("api", "base_url", str, "https://api.twilio.com", "any Twilio-compatible API"),
    _k("api", "messaging_base_url", str, "", "Messaging Services API (default: base_url)"),
    _k("api", "account_sid", str, None, "the account sending"),
    _k("api", "auth_token", str, None, "its auth token (or an API key secret)"),
    _k("api", "username", str, "", "an API key SID to authenticate with instead"),
    _k("api", "timeout_s", float, 30.0, "one request's time limit"),
    _k("message", "messaging_service_sid", str, "", "send through this service, or"),
    _k("message", "from", str, "", "from this number"),
    _k("message", "body", str, None, "the text; {column} takes the audience row's value"),
    _k("message", "status_callback", str, "", "StatusCallback of each message"),
    _k("audience", "csv", str, "", "a CSV of contacts, or"),
    _k("audience", "sql_url", str, "", "any SQLAlchemy URL, with"),
    _k("audience", "query", str, "", "the query giving the contacts"),
    _k("audience", "key_column", str, "contact_id", "the contact's key"),
    _k("audience", "phone_column", str, "phone", "the contact's phone number"),
    _k("audience", "default_country", str, "US", "for national-format numbers"),
    _k("seeds", "csv", str, "", "a seed list: sent as well, counted apart"),
    _k("send", "concurrency", int, 16, "requests in flight at once"),
    _k("send", "retry_min_s", float, 2.0, "the shortest wait before a retry"),
    _k("send", "retry_max_s", float, 20.0, "the longest wait before a retry"),
    _k("send", "max_attempts", int, 8, "attempts per recipient in one run"),
    _k("sync", "database_url", str, "", "the campaign's own database (default: NAME.db)"),
    _k("sync", "retrieval_period_days", int, 396, "how far back replies are read (13 months)"),
    _k("sync", "batch_size", int, 500, "unfinished messages read per batch"),
    _k("estimate", "price_per_segment", float, 0.0083, "when the target has no Preview"),
    _k("estimate", "mps", float, 0.0, "the pool's segments per second (0: from its senders)"),
    _k("notify", "webhook", str, "", "POSTed the totals when a send or sync finishes"),
    _k("notify", "smtp_url", str, "", "smtp://user:pass@host:port (smtps:// for TLS)"),
    _k("notify", "email_to", str, "", "who receives the notice"),
    _k("notify", "email_from", str, "herald-campaign@localhost", "its sender"),
)


@dataclass(frozen=True, slots=True, kw_only=True)
class Campaign:
    """One campaign's settings, checked. `values` holds every key by its dotted name."""

    directory: Path
    values: Mapping[str, Any]

    def __getitem__(self, dotted: str) -> Any:
        return self.values[dotted]

    @property
    def name(self) -> str:
        return str(self.values["name"])

    def path(self, dotted: str) -> Path | None:
        """A path key, resolved against the campaign file's directory; None when unset."""
        raw = self.values[dotted]
        if not raw:
            return None
        path = Path(raw).expanduser()
        return path if path.is_absolute() else self.directory / path

    @property
    def database_url(self) -> str:
        return self.sqlite_relative(
            str(self.values["sync.database_url"]) or f"sqlite:///{self.name}.db"
        )

    def sqlite_relative(self, url: str) -> str:
        """`url`, a relative SQLite file read from the campaign file's directory."""
        relative = SQLITE_RELATIVE.match(url)
        if relative is not None:
            database = url[relative.end() :]
            if database and database != ":memory:":
                return relative.group() + str(self.directory / database)
        return url

    @property
    def messaging_base_url(self) -> str:
        explicit = str(self.values["api.messaging_base_url"])
        if explicit:
            return explicit.rstrip("/")
        base = str(self.values["api.base_url"]).rstrip("/")
        return "https://messaging.twilio.com" if base == "https://api.twilio.com" else base


def load(path: Path, environ: Mapping[str, str], flags: Mapping[str, str | None]) -> Campaign:
    """The campaign in `path`, with `environ`'s `HERALD_CAMPAIGN_*` and `flags` (by dotted
    key; None when not given) over it."""
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise CampaignFileError(f"{path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise CampaignFileError(f"{path}: not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise CampaignFileError(f"{path}: {exc}") from None
    values = _from_document(path, document)
    for key in KEYS:
        if key.env in environ:
            values[key.dotted] = _coerce(key, environ[key.env], key.env)
        given = flags.get(key.dotted)
        if given is not None:
            values[key.dotted] = _coerce(key, given, key.flag)
    _check(values)
    return Campaign(directory=path.resolve().parent, values=values)


def _from_document(path: Path, document: dict[str, Any]) -> dict[str, Any]:
    known = {key.dotted: key for key in KEYS}
    sections = {key.section for key in KEYS if key.section}
    values = {key.dotted: key.default for key in KEYS}
    for name, value in document.items():
        if isinstance(value, dict):
            if name not in sections:
                raise CampaignFileError(f"{path}: [{name}] is not a section of a campaign")
            entries = [(f"{name}.{inner}", v) for inner, v in value.items()]
        else:
            entries = [(name, value)]
        for dotted, raw in entries:
            key = known.get(dotted)
            if key is None:
                raise CampaignFileError(f"{path}: {dotted} is not a campaign key")
            values[dotted] = _typed(key, raw, dotted)
    return values


def _typed(key: Key, raw: Any, where: str) -> Any:
    if key.kind is float and isinstance(raw, int) and not isinstance(raw, bool):
        return float(raw)
    if not isinstance(raw, key.kind) or isinstance(raw, bool):
        raise CampaignFileError(f"{where}: must be {_kind_name(key.kind)}")
    if isinstance(raw, float) and not math.isfinite(raw):
        raise CampaignFileError(f"{where}: must be a finite number")
    return raw


def _coerce(key: Key, raw: str, where: str) -> Any:
    if key.kind is str:
        return raw
    try:
        value = key.kind(raw)
    except ValueError:
        raise CampaignFileError(f"{where}: {raw!r} is not {_kind_name(key.kind)}") from None
    if key.kind is float and not math.isfinite(value):
        raise CampaignFileError(f"{where}: must be a finite number")
    return value


def _kind_name(kind: type) -> str:
    return {str: "a string", int: "an integer", float: "a number"}[kind]


def _check(values: dict[str, Any]) -> None:
    _check_required(values)
    for dotted, ok, why in RULES:
        if not ok(values[dotted]):
            raise CampaignFileError(f"{dotted}: {why}")
    if values["send.retry_max_s"] < values["send.retry_min_s"]:
        raise CampaignFileError("send.retry_max_s: must be at least send.retry_min_s")
    for first, second, why in ONE_OF:
        if bool(values[first]) == bool(values[second]):
            raise CampaignFileError(why)
    if values["audience.sql_url"] and not values["audience.query"]:
        raise CampaignFileError("audience.query: is required with audience.sql_url")
    if bool(values["notify.smtp_url"]) != bool(values["notify.email_to"]):
        raise CampaignFileError("notify: smtp_url and email_to go together")
    for dotted, schemes in URLS:
        if values[dotted]:
            _check_url(dotted, values[dotted], schemes)


def _check_url(dotted: str, url: str, schemes: tuple[str, ...]) -> None:
    if not url.startswith(schemes):
        raise CampaignFileError(f"{dotted}: must be a {' or '.join(schemes)} URL")
    try:
        urlsplit(url).port  # noqa: B018 (raises on a port that is not one)
    except ValueError as exc:
        raise CampaignFileError(f"{dotted}: {exc}") from None


def _check_required(values: dict[str, Any]) -> None:
    for key in KEYS:
        if key.default is None and not values[key.dotted]:
            raise CampaignFileError(f"{key.dotted}: is required")
    if not NAME.fullmatch(values["name"]):
        raise CampaignFileError("name: letters, digits, '.', '_' and '-', at most 100")


NAME = re.compile(r"[A-Za-z0-9._-]{1,100}")
SQLITE_RELATIVE = re.compile(r"sqlite(\+\w+)?:///(?!/)")  # any driver; four slashes: absolute
RULES: tuple[tuple[str, Callable[[Any], bool], str], ...] = (
    ("send.concurrency", lambda v: 1 <= v <= 1000, "must be 1 to 1000"),
    ("send.retry_min_s", lambda v: v >= 0, "must not be negative"),
    ("send.max_attempts", lambda v: v >= 1, "must be at least 1"),
    ("sync.retrieval_period_days", lambda v: v >= 1, "must be at least 1"),
    ("sync.batch_size", lambda v: 1 <= v <= 10_000, "must be 1 to 10000"),
    ("api.timeout_s", lambda v: v > 0, "must be positive"),
    ("estimate.price_per_segment", lambda v: v >= 0, "must not be negative"),
    ("estimate.mps", lambda v: v >= 0, "must not be negative"),
)
ONE_OF = (
    ("message.messaging_service_sid", "message.from",
     "message: give one of messaging_service_sid and from"),
    ("audience.csv", "audience.sql_url", "audience: give one of csv and sql_url"),
)  # fmt: skip
URLS = (
    ("api.base_url", ("http://", "https://")),
    ("api.messaging_base_url", ("http://", "https://")),
    ("notify.webhook", ("http://", "https://")),
    ("notify.smtp_url", ("smtp://", "smtps://")),
)
