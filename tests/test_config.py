from __future__ import annotations

from pathlib import Path

import pytest

from herald.config import ConfigError, Settings, load


def test_defaults() -> None:
    settings = load({})
    assert settings.port == 8080 and settings.host == "127.0.0.1"
    assert settings.resolved_database_url == "sqlite:///var/herald.db"
    assert settings.credentials_path == Path("var/credentials.env")
    assert settings.sqlite_synchronous == "FULL"
    assert settings.webhook_allow_private is False  # secure by default
    assert settings.resolved_media_dir == Path("var/media")


def test_every_variable_is_read() -> None:
    settings = load(
        {
            "HERALD_DATA_DIR": "/tmp/h",
            "HERALD_DATABASE_URL": "postgresql://u@h/db",
            "HERALD_HOST": "0.0.0.0",
            "HERALD_PORT": "9000",
            "HERALD_PUBLIC_URL": "https://sms.example.com/",
            "HERALD_LOG_LEVEL": "debug",
            "HERALD_SQLITE_SYNCHRONOUS": "normal",
            "HERALD_GROUP_COMMIT_MAX": "64",
            "HERALD_AUTH_CACHE_S": "0",
            "HERALD_IDEMPOTENCY_TTL_S": "60",
            "HERALD_DISPATCH": "no",
            "HERALD_API": "false",
            "HERALD_SHUTDOWN_GRACE_S": "2.5",
            "HERALD_QUEUE_HORIZON_S": "600",
            "HERALD_SIMULATOR_SEED": "7",
            "HERALD_SIMULATOR_LATENCY": "Instant",
            "HERALD_CALLBACK_MAX_ATTEMPTS": "3",
            "HERALD_CALLBACK_BACKOFF_S": "0.5",
            "HERALD_CALLBACK_TIMEOUT_S": "2",
            "HERALD_CALLBACK_CONCURRENCY": "32",
            "HERALD_CALLBACK_PER_HOST": "8",
            "HERALD_CALLBACK_PROCESSES": "0",
            "HERALD_MAX_BODY_BYTES": "1024",
            "HERALD_HEAD_TIMEOUT_S": "2",
            "HERALD_BODY_TIMEOUT_S": "3.5",
            "HERALD_MAX_CONNECTIONS": "64",
            "HERALD_API_CONCURRENCY": "25",
            "HERALD_WEBHOOK_ALLOW_PRIVATE": "true",
            "HERALD_MEDIA_DIR": "/srv/media",
        }
    )
    assert settings == Settings(
        data_dir=Path("/tmp/h"),
        database_url="postgresql://u@h/db",
        host="0.0.0.0",
        port=9000,
        public_url="https://sms.example.com",
        log_level="DEBUG",
        sqlite_synchronous="NORMAL",
        group_commit_max=64,
        auth_cache_s=0.0,
        idempotency_ttl_s=60,
        dispatch=False,
        api=False,
        shutdown_grace_s=2.5,
        queue_horizon_s=600,
        simulator_seed=7,
        simulator_latency="instant",
        callback_max_attempts=3,
        callback_backoff_s=0.5,
        callback_timeout_s=2.0,
        callback_concurrency=32,
        callback_per_host=8,
        callback_processes=0,
        max_body_bytes=1024,
        head_timeout_s=2.0,
        body_timeout_s=3.5,
        max_connections=64,
        api_concurrency=25,
        webhook_allow_private=True,
        media_dir=Path("/srv/media"),
    )


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("HERALD_PORT", "http"),
        ("HERALD_PORT", "70000"),
        ("HERALD_PUBLIC_URL", "sms.example.com"),
        ("HERALD_LOG_LEVEL", "LOUD"),
        ("HERALD_SQLITE_SYNCHRONOUS", "OFF"),
        ("HERALD_GROUP_COMMIT_MAX", "0"),
        ("HERALD_AUTH_CACHE_S", "-1"),
        ("HERALD_IDEMPOTENCY_TTL_S", "day"),
        ("HERALD_CALLBACK_PER_HOST", "0"),
        ("HERALD_API", "maybe"),
        ("HERALD_SHUTDOWN_GRACE_S", "0"),
        ("HERALD_CALLBACK_PROCESSES", "-1"),
        ("HERALD_CALLBACK_PROCESSES", "two"),
        ("HERALD_MAX_BODY_BYTES", "0"),
        ("HERALD_HEAD_TIMEOUT_S", "soon"),
        ("HERALD_BODY_TIMEOUT_S", "0"),
        ("HERALD_MAX_CONNECTIONS", "-5"),
        ("HERALD_API_CONCURRENCY", "-1"),
        ("HERALD_API_CONCURRENCY", "many"),
        ("HERALD_WEBHOOK_ALLOW_PRIVATE", "sometimes"),
        ("HERALD_MEDIA_DIR", "  "),
    ],
)
def test_errors_name_the_variable_and_value(name: str, value: str) -> None:
    with pytest.raises(ConfigError) as error:
        load({name: value})
    assert name in str(error.value) and repr(value) in str(error.value)


def test_api_concurrency_is_twilios_default_and_zero_lifts_it() -> None:
    assert load({}).api_concurrency == 100  # Twilio's commonly cited per-account limit
    assert load({"HERALD_API_CONCURRENCY": "0"}).api_concurrency == 0  # no limit
    assert load({"HERALD_API_CONCURRENCY": "250"}).api_concurrency == 250


def test_overrides_keep_unset_fields() -> None:
    settings = load({"HERALD_PORT": "9000"}).with_overrides(port=None, host="::1")
    assert settings.port == 9000 and settings.host == "::1"


def test_metrics_token_is_off_by_default_and_must_be_long() -> None:
    assert load({}).metrics_token is None
    token = "a-scraper-token-of-some-length"
    assert load({"HERALD_METRICS_TOKEN": token}).metrics_token == token
    for bad in ("short", "has a space in the middle", "ünïcödé-is-not-ascii-x"):
        with pytest.raises(ConfigError, match="HERALD_METRICS_TOKEN"):
            load({"HERALD_METRICS_TOKEN": bad})


def test_sender_health_settings() -> None:
    settings = load(
        {
            "HERALD_HEALTH_WINDOW_S": "60",
            "HERALD_HEALTH_MIN_MESSAGES": "5",
            "HERALD_HEALTH_FAILURE_THRESHOLD": "0.8",
            "HERALD_HEALTH_RECOVERY_THRESHOLD": "0",
            "HERALD_HEALTH_PROBE_SHARE": "1",
        }
    )
    assert (
        settings.health_window_s,
        settings.health_min_messages,
        settings.health_failure_threshold,
        settings.health_recovery_threshold,
        settings.health_probe_share,
    ) == (60.0, 5, 0.8, 0.0, 1.0)
    assert load({}).health_failure_threshold == 0.5


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("HERALD_HEALTH_WINDOW_S", "0"),
        ("HERALD_HEALTH_MIN_MESSAGES", "0"),
        ("HERALD_HEALTH_FAILURE_THRESHOLD", "0"),
        ("HERALD_HEALTH_FAILURE_THRESHOLD", "1.5"),
        ("HERALD_HEALTH_RECOVERY_THRESHOLD", "-0.1"),
        ("HERALD_HEALTH_RECOVERY_THRESHOLD", "0.9"),  # above the failure threshold
        ("HERALD_HEALTH_PROBE_SHARE", "half"),
    ],
)
def test_sender_health_errors_name_the_variable(name: str, value: str) -> None:
    with pytest.raises(ConfigError) as error:
        load({name: value})
    shown = str(error.value)
    assert name in shown and (repr(value) in shown or repr(float(value)) in shown)
