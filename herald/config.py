"""Herald's settings: one frozen value, built by a pure `load` from the environment.

This module is the only reader of `HERALD_*` variables; every CLI flag has a twin here.
Errors name the variable and the bad value so a misconfiguration is fixed at a glance.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")


class ConfigError(ValueError):
    """A setting has a value Herald cannot use."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Settings:
    data_dir: Path = Path("var")
    database_url: str = ""
    host: str = "127.0.0.1"
    port: int = 8080
    public_url: str | None = None
    log_level: str = "INFO"
    sqlite_synchronous: str = "FULL"
    group_commit_max: int = 1024
    auth_cache_s: float = 5.0
    idempotency_ttl_s: int = 86_400
    dispatch: bool = True
    api: bool = True
    shutdown_grace_s: float = 10.0
    queue_horizon_s: int = 14_400
    schedule_min_s: int = 300
    simulator_seed: int = 0
    simulator_latency: str = "realistic"
    callback_max_attempts: int = 8
    callback_backoff_s: float = 1.0
    callback_timeout_s: float = 15.0
    callback_concurrency: int = 128
    callback_per_host: int = 64
    callback_processes: int = 1  # helper processes that sign and post; 0: in this process
    metrics_token: str | None = None  # /metrics answers only `Authorization: Bearer` this
    # The request edge (README "Limits and parsing"): what one client may hold of the server.
    max_body_bytes: int = 65_536
    head_timeout_s: float = 10.0
    body_timeout_s: float = 30.0
    max_connections: int = 512
    # An account's requests in flight on one API node; one more is refused 429 (20429), as
    # Twilio's per-account concurrency limit (commonly 100). 0: no limit.
    api_concurrency: int = 100
    # The web console's sessions end after this long unused, and this long after sign-in.
    console_idle_s: int = 1800
    console_max_s: int = 43_200
    # Webhooks, callbacks and media fetches may go to loopback, private, unique-local and
    # shared (CGNAT) addresses: for a receiver on this machine or network (domain/targets).
    webhook_allow_private: bool = False
    # Sender health (README "Sender health"): the window outcomes are judged over, how
    # many it takes, the failure rates that take a sender out of routing and put it back,
    # and the share of its messages an impaired sender still gets as probes.
    health_window_s: float = 600.0
    health_min_messages: int = 20
    health_failure_threshold: float = 0.5
    health_recovery_threshold: float = 0.2
    health_probe_share: float = 0.05
    # SMPP connections and their routes (TOML, README "Real carriers over SMPP"); none: every
    # message goes to the carrier simulator.
    carriers_file: Path | None = None

    # Where outbound MMS media too large for the database are kept (README "MMS");
    # unset: `media` under the data directory.
    media_dir: Path | None = None

    @property
    def resolved_database_url(self) -> str:
        """The database URL, defaulting to a SQLite file under the data directory."""
        return self.database_url or f"sqlite:///{self.data_dir / 'herald.db'}"

    @property
    def resolved_media_dir(self) -> Path:
        return self.media_dir or self.data_dir / "media"

    @property
    def link_base(self) -> str:
        """Where links Herald hands out point (MMS Converter): HERALD_PUBLIC_URL, else the
        address it listens on."""
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")

    def media_link(self, code: str) -> str:
        """An MMS Converter link: where `/m/{code}` is served."""
        return f"{self.link_base}/m/{code}"

    @property
    def credentials_path(self) -> Path:
        return self.data_dir / "credentials.env"

    def with_overrides(self, **changes: Any) -> Settings:
        """A copy with the given fields changed; `None` leaves a field as it is."""
        return replace(self, **{k: v for k, v in changes.items() if v is not None})


def _parse(environ: Mapping[str, str], name: str, convert: Callable[[str], T], default: T) -> T:
    raw = environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return convert(raw)
    except ValueError as exc:
        raise ConfigError(f"{name}={raw!r} is not valid: {exc}") from None


def _positive_int(raw: str) -> int:
    value = int(raw)
    if value <= 0:
        raise ValueError("must be a positive integer")
    return value


def _non_negative_int(raw: str) -> int:
    value = int(raw)
    if value < 0:
        raise ValueError("must not be negative")
    return value


def _port(raw: str) -> int:
    value = int(raw)
    if not 0 <= value <= 65535:
        raise ValueError("must be a TCP port from 0 to 65535")
    return value


def _non_negative_float(raw: str) -> float:
    value = float(raw)
    if value < 0:
        raise ValueError("must not be negative")
    return value


def _log_level(raw: str) -> str:
    value = raw.upper()
    if value not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
        raise ValueError("must be one of DEBUG, INFO, WARNING, ERROR")
    return value


def _synchronous(raw: str) -> str:
    value = raw.upper()
    if value not in {"FULL", "NORMAL", "EXTRA"}:
        raise ValueError("must be one of FULL, NORMAL, EXTRA")
    return value


def _latency(raw: str) -> str:
    value = raw.lower()
    if value not in {"instant", "realistic"}:
        raise ValueError("must be instant or realistic")
    return value


def _flag(raw: str) -> bool:
    value = raw.lower()
    if value not in {"1", "0", "true", "false", "yes", "no"}:
        raise ValueError("must be true or false")
    return value in {"1", "true", "yes"}


def _int(raw: str) -> int:
    return int(raw)


def _positive_float(raw: str) -> float:
    value = float(raw)
    if value <= 0:
        raise ValueError("must be positive")
    return value


def _ratio(raw: str) -> float:
    value = float(raw)
    if not 0 < value <= 1:
        raise ValueError("must be a number above 0 and at most 1")
    return value


def _share(raw: str) -> float:
    value = float(raw)
    if not 0 <= value <= 1:
        raise ValueError("must be a number from 0 to 1")
    return value


def _url(raw: str) -> str:
    if not raw.startswith(("http://", "https://")):
        raise ValueError("must start with http:// or https://")
    return raw.rstrip("/")


def _token(raw: str) -> str:
    if len(raw) < 16 or not raw.isascii() or not raw.isprintable() or " " in raw:
        raise ValueError("must be at least 16 printable ASCII characters without spaces")
    return raw


def _directory(raw: str) -> Path:
    if "\x00" in raw or not raw.strip():
        raise ValueError("must be a directory path")
    return Path(raw)


def load(environ: Mapping[str, str]) -> Settings:
    """Build Settings from `HERALD_*` variables; unset ones keep their defaults."""
    d = Settings()
    return Settings(
        data_dir=Path(environ.get("HERALD_DATA_DIR") or d.data_dir),
        database_url=environ.get("HERALD_DATABASE_URL", ""),
        host=environ.get("HERALD_HOST") or d.host,
        port=_parse(environ, "HERALD_PORT", _port, d.port),
        public_url=_parse(environ, "HERALD_PUBLIC_URL", _url, d.public_url),
        log_level=_parse(environ, "HERALD_LOG_LEVEL", _log_level, d.log_level),
        sqlite_synchronous=_parse(
            environ, "HERALD_SQLITE_SYNCHRONOUS", _synchronous, d.sqlite_synchronous
        ),
        group_commit_max=_parse(
            environ, "HERALD_GROUP_COMMIT_MAX", _positive_int, d.group_commit_max
        ),
        auth_cache_s=_parse(environ, "HERALD_AUTH_CACHE_S", _non_negative_float, d.auth_cache_s),
        idempotency_ttl_s=_parse(
            environ, "HERALD_IDEMPOTENCY_TTL_S", _positive_int, d.idempotency_ttl_s
        ),
        dispatch=_parse(environ, "HERALD_DISPATCH", _flag, d.dispatch),
        api=_parse(environ, "HERALD_API", _flag, d.api),
        shutdown_grace_s=_parse(
            environ, "HERALD_SHUTDOWN_GRACE_S", _positive_float, d.shutdown_grace_s
        ),
        queue_horizon_s=_parse(environ, "HERALD_QUEUE_HORIZON_S", _positive_int, d.queue_horizon_s),
        schedule_min_s=_parse(
            environ, "HERALD_SCHEDULE_MIN_S", _non_negative_int, d.schedule_min_s
        ),
        simulator_seed=_parse(environ, "HERALD_SIMULATOR_SEED", _int, d.simulator_seed),
        simulator_latency=_parse(
            environ, "HERALD_SIMULATOR_LATENCY", _latency, d.simulator_latency
        ),
        callback_max_attempts=_parse(
            environ, "HERALD_CALLBACK_MAX_ATTEMPTS", _positive_int, d.callback_max_attempts
        ),
        callback_backoff_s=_parse(
            environ, "HERALD_CALLBACK_BACKOFF_S", _positive_float, d.callback_backoff_s
        ),
        callback_timeout_s=_parse(
            environ, "HERALD_CALLBACK_TIMEOUT_S", _positive_float, d.callback_timeout_s
        ),
        callback_concurrency=_parse(
            environ, "HERALD_CALLBACK_CONCURRENCY", _positive_int, d.callback_concurrency
        ),
        callback_per_host=_parse(
            environ, "HERALD_CALLBACK_PER_HOST", _positive_int, d.callback_per_host
        ),
        callback_processes=_parse(
            environ, "HERALD_CALLBACK_PROCESSES", _non_negative_int, d.callback_processes
        ),
        metrics_token=_parse(environ, "HERALD_METRICS_TOKEN", _token, d.metrics_token),
        max_body_bytes=_parse(environ, "HERALD_MAX_BODY_BYTES", _positive_int, d.max_body_bytes),
        head_timeout_s=_parse(environ, "HERALD_HEAD_TIMEOUT_S", _positive_float, d.head_timeout_s),
        body_timeout_s=_parse(environ, "HERALD_BODY_TIMEOUT_S", _positive_float, d.body_timeout_s),
        max_connections=_parse(environ, "HERALD_MAX_CONNECTIONS", _positive_int, d.max_connections),
        api_concurrency=_parse(
            environ, "HERALD_API_CONCURRENCY", _non_negative_int, d.api_concurrency
        ),
        console_idle_s=_parse(environ, "HERALD_CONSOLE_IDLE_S", _positive_int, d.console_idle_s),
        console_max_s=_parse(environ, "HERALD_CONSOLE_MAX_S", _positive_int, d.console_max_s),
        webhook_allow_private=_parse(
            environ, "HERALD_WEBHOOK_ALLOW_PRIVATE", _flag, d.webhook_allow_private
        ),
        **_health(environ, d),
        media_dir=_parse(environ, "HERALD_MEDIA_DIR", _directory, d.media_dir),
        carriers_file=Path(environ["HERALD_CARRIERS_FILE"])
        if environ.get("HERALD_CARRIERS_FILE")
        else None,
    )


def _health(environ: Mapping[str, str], d: Settings) -> dict[str, Any]:
    """The sender health settings; the recovery threshold may not exceed the failure one."""
    failure = _parse(environ, "HERALD_HEALTH_FAILURE_THRESHOLD", _ratio, d.health_failure_threshold)
    recovery = _parse(
        environ, "HERALD_HEALTH_RECOVERY_THRESHOLD", _share, d.health_recovery_threshold
    )
    if recovery > failure:
        raise ConfigError(
            f"HERALD_HEALTH_RECOVERY_THRESHOLD={recovery!r} is not valid: must not exceed "
            f"HERALD_HEALTH_FAILURE_THRESHOLD ({failure!r})"
        )
    return {
        "health_window_s": _parse(
            environ, "HERALD_HEALTH_WINDOW_S", _positive_float, d.health_window_s
        ),
        "health_min_messages": _parse(
            environ, "HERALD_HEALTH_MIN_MESSAGES", _positive_int, d.health_min_messages
        ),
        "health_failure_threshold": failure,
        "health_recovery_threshold": recovery,
        "health_probe_share": _parse(
            environ, "HERALD_HEALTH_PROBE_SHARE", _share, d.health_probe_share
        ),
    }


def from_environment() -> Settings:
    """Settings from this process's environment (the one place `os.environ` is read)."""
    return load(os.environ)
