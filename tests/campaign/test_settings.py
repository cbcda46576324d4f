"""The campaign file: the issue's example parses; every key is also a flag and a variable,
a flag beating its variable, the variable the file, the file the default; every refusal
names the key; relative paths are read from the file's directory."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import make_url

from herald.campaign import cli
from herald.campaign.settings import KEYS, CampaignFileError, Key, load
from tests.campaign import campaign_file
from tests.campaign.campaign_file import ACCOUNT

FULL = f"""\
name = "spring-sale"
[api]                      # any Twilio-compatible API
base_url = "http://127.0.0.1:8080"
account_sid = "{ACCOUNT}"
auth_token = "secret"
[message]
messaging_service_sid = "MG{"0" * 32}"   # or from = "+1…"
body = "Hi {{first_name}}, 20% off today. Reply STOP to opt out."
status_callback = ""             # optional
[audience]
csv = "contacts.csv"             # or sql_url + query, any SQLAlchemy URL
key_column = "contact_id"
phone_column = "phone"
default_country = "US"           # for national-format numbers
[seeds]
csv = "seeds.csv"                # a seed list: sent as well, counted apart
[send]
concurrency = 16
retry_min_s = 2
retry_max_s = 20
max_attempts = 8
[sync]
database_url = "sqlite:///spring-sale.db"
retrieval_period_days = 396      # 13 months
batch_size = 500
[estimate]
price_per_segment = 0.0079
mps = 10
[notify]
webhook = ""
smtp_url = "smtp://user:pass@127.0.0.1:2525"
email_to = "ops@example.com"
"""

# A value each key takes from a flag or a variable (the raw string, what it becomes), and
# what else must change with it for the campaign to stay valid.
SAMPLES: dict[str, tuple[str, Any, dict[str, str]]] = {
    "name": ("autumn-sale", "autumn-sale", {}),
    "api.base_url": ("https://twilio.example", "https://twilio.example", {}),
    "api.messaging_base_url": ("http://127.0.0.1:81", "http://127.0.0.1:81", {}),
    "api.account_sid": ("AC" + "f" * 32, "AC" + "f" * 32, {}),
    "api.auth_token": ("other-token", "other-token", {}),
    "api.username": ("SK" + "1" * 32, "SK" + "1" * 32, {}),
    "api.timeout_s": ("2.5", 2.5, {}),
    "message.messaging_service_sid": ("MG" + "2" * 32, "MG" + "2" * 32, {"message.from": ""}),
    "message.from": ("+14155550199", "+14155550199", {}),
    "message.body": ("Bye {first_name}", "Bye {first_name}", {}),
    "message.status_callback": ("http://cb.example/s", "http://cb.example/s", {}),
    "audience.csv": ("others.csv", "others.csv", {}),
    "audience.sql_url": ("sqlite:///crm.db", "sqlite:///crm.db",
                         {"audience.csv": "", "audience.query": "SELECT 1"}),
    "audience.query": ("SELECT 2", "SELECT 2", {}),
    "audience.key_column": ("id", "id", {}),
    "audience.phone_column": ("mobile", "mobile", {}),
    "audience.default_country": ("GB", "GB", {}),
    "seeds.csv": ("seeds.csv", "seeds.csv", {}),
    "send.concurrency": ("4", 4, {}),
    "send.retry_min_s": ("0.5", 0.5, {}),
    "send.retry_max_s": ("30", 30.0, {}),
    "send.max_attempts": ("3", 3, {}),
    "sync.database_url": ("sqlite:////var/x.db", "sqlite:////var/x.db", {}),
    "sync.retrieval_period_days": ("30", 30, {}),
    "sync.batch_size": ("50", 50, {}),
    "estimate.price_per_segment": ("0.01", 0.01, {}),
    "estimate.mps": ("5", 5.0, {}),
    "notify.webhook": ("http://127.0.0.1:1/hook", "http://127.0.0.1:1/hook", {}),
    "notify.smtp_url": ("smtps://mail.example", "smtps://mail.example",
                        {"notify.email_to": "ops@example.com"}),
    "notify.email_to": ("ops@example.com", "ops@example.com",
                        {"notify.smtp_url": "smtp://127.0.0.1"}),
    "notify.email_from": ("campaigns@example.com", "campaigns@example.com", {}),
}  # fmt: skip
BY_DOTTED = {key.dotted: key for key in KEYS}


def _dotted(key: Key) -> str:
    return key.dotted


def test_the_issues_example_parses(tmp_path: Path) -> None:
    path = tmp_path / "spring-sale.toml"
    path.write_text(FULL, encoding="utf-8")
    campaign = load(path, {}, {})
    assert campaign.name == "spring-sale"
    assert campaign["api.base_url"] == "http://127.0.0.1:8080"
    assert campaign["message.messaging_service_sid"] == "MG" + "0" * 32
    assert campaign["message.from"] == ""
    assert campaign["message.body"].startswith("Hi {first_name}, 20% off")
    assert campaign["audience.default_country"] == "US"
    assert campaign["send.concurrency"] == 16
    assert campaign["send.retry_min_s"] == 2.0
    assert type(campaign["send.retry_min_s"]) is float  # an integer in the file, a float key
    assert type(campaign["estimate.mps"]) is float
    assert campaign["sync.retrieval_period_days"] == 396
    assert campaign["notify.email_to"] == "ops@example.com"
    assert campaign["api.timeout_s"] == 30.0  # not in the file: the default
    assert campaign.path("seeds.csv") == tmp_path / "seeds.csv"
    assert campaign.database_url == f"sqlite:///{tmp_path}/spring-sale.db"
    assert set(campaign.values) == set(BY_DOTTED)


def test_samples_cover_every_key() -> None:
    assert set(SAMPLES) == set(BY_DOTTED), "a new key needs a sample here"


def test_flags_and_variables_are_named_from_the_key() -> None:
    concurrency = BY_DOTTED["send.concurrency"]
    assert concurrency.flag == "--send-concurrency"
    assert concurrency.env == "HERALD_CAMPAIGN_SEND_CONCURRENCY"
    assert BY_DOTTED["name"].flag == "--name"
    assert BY_DOTTED["name"].env == "HERALD_CAMPAIGN_NAME"
    assert BY_DOTTED["sync.retrieval_period_days"].env == (
        "HERALD_CAMPAIGN_SYNC_RETRIEVAL_PERIOD_DAYS"
    )
    assert len({key.flag for key in KEYS}) == len({key.env for key in KEYS}) == len(KEYS)


@pytest.mark.parametrize("key", KEYS, ids=_dotted)
def test_every_key_is_a_flag_of_the_cli(key: Key, tmp_path: Path) -> None:
    raw, expected, also = SAMPLES[key.dotted]
    argv = ["send", str(campaign_file.write(tmp_path)), key.flag, raw]
    for dotted, value in also.items():
        argv += [BY_DOTTED[dotted].flag, value]
    args = cli.parser().parse_args(argv)
    flags = {k.dotted: getattr(args, k.dotted) for k in KEYS}
    assert load(args.file, {}, flags)[key.dotted] == expected


@pytest.mark.parametrize("key", KEYS, ids=_dotted)
def test_every_key_is_a_variable(key: Key, tmp_path: Path) -> None:
    raw, expected, also = SAMPLES[key.dotted]
    environ = {key.env: raw, **{BY_DOTTED[d].env: v for d, v in also.items()}}
    campaign = load(campaign_file.write(tmp_path), environ, {})
    assert campaign[key.dotted] == expected
    assert type(campaign[key.dotted]) is key.kind


@pytest.mark.parametrize(
    ("in_file", "env", "flag", "expected"),
    [
        (8, "12", "20", 20),
        (8, "12", None, 12),
        (8, None, None, 8),
        (None, None, None, 16),
        (None, None, "20", 20),
        (None, "12", None, 12),
    ],
)
def test_flag_beats_variable_beats_file_beats_default(
    tmp_path: Path, in_file: int | None, env: str | None, flag: str | None, expected: int
) -> None:
    path = campaign_file.write(tmp_path, {"send.concurrency": in_file})
    environ = {} if env is None else {"HERALD_CAMPAIGN_SEND_CONCURRENCY": env}
    assert load(path, environ, {"send.concurrency": flag})["send.concurrency"] == expected


def test_precedence_holds_for_strings_and_floats(tmp_path: Path) -> None:
    path = campaign_file.write(tmp_path, {"send.retry_min_s": 1, "message.body": "file"})
    environ = {"HERALD_CAMPAIGN_SEND_RETRY_MIN_S": "0.25", "HERALD_CAMPAIGN_MESSAGE_BODY": "env"}
    by_env = load(path, environ, {})
    assert (by_env["send.retry_min_s"], by_env["message.body"]) == (0.25, "env")
    flags = {"send.retry_min_s": "3", "message.body": "flag"}
    by_flag = load(path, environ, flags)
    assert (by_flag["send.retry_min_s"], by_flag["message.body"]) == (3.0, "flag")
    assert type(by_flag["send.retry_min_s"]) is float
    assert load(path, {}, {})["send.retry_min_s"] == 1.0


def test_an_empty_flag_clears_the_files_value(tmp_path: Path) -> None:
    path = campaign_file.write(tmp_path, {"message.from": "+14155550100"})
    flags = {"message.from": "", "message.messaging_service_sid": "MG" + "3" * 32}
    assert load(path, {}, flags)["message.from"] == ""


BAD_FILES = [
    ({"send.concurrency": 0}, "send.concurrency: must be 1 to 1000"),
    ({"send.concurrency": 1001}, "send.concurrency: must be 1 to 1000"),
    ({"send.concurrency": "16"}, "send.concurrency: must be an integer"),
    ({"send.concurrency": 1.5}, "send.concurrency: must be an integer"),
    ({"send.concurrency": True}, "send.concurrency: must be an integer"),
    ({"send.retry_min_s": "2"}, "send.retry_min_s: must be a number"),
    ({"send.retry_min_s": False}, "send.retry_min_s: must be a number"),
    ({"name": 5}, "name: must be a string"),
    ({"send.retry_min_s": -1}, "send.retry_min_s: must not be negative"),
    ({"send.retry_min_s": 5, "send.retry_max_s": 4},
     "send.retry_max_s: must be at least send.retry_min_s"),
    ({"send.max_attempts": 0}, "send.max_attempts: must be at least 1"),
    ({"sync.retrieval_period_days": 0}, "sync.retrieval_period_days: must be at least 1"),
    ({"sync.batch_size": 10_001}, "sync.batch_size: must be 1 to 10000"),
    ({"api.timeout_s": 0}, "api.timeout_s: must be positive"),
    ({"estimate.price_per_segment": -0.01}, "estimate.price_per_segment: must not be negative"),
    ({"estimate.mps": -1}, "estimate.mps: must not be negative"),
    ({"send.speed": 3}, "send.speed is not a campaign key"),
    ({"colour": "red"}, "colour is not a campaign key"),
    ({"sending.concurrency": 3}, "[sending] is not a section of a campaign"),
    ({"message.messaging_service_sid": "MG" + "0" * 32},
     "message: give one of messaging_service_sid and from"),
    ({"message.from": None}, "message: give one of messaging_service_sid and from"),
    ({"audience.sql_url": "sqlite:///crm.db", "audience.query": "SELECT 1"},
     "audience: give one of csv and sql_url"),
    ({"audience.csv": None}, "audience: give one of csv and sql_url"),
    ({"audience.csv": None, "audience.sql_url": "sqlite:///crm.db"},
     "audience.query: is required with audience.sql_url"),
    ({"notify.smtp_url": "smtp://127.0.0.1"}, "notify: smtp_url and email_to go together"),
    ({"notify.email_to": "ops@example.com"}, "notify: smtp_url and email_to go together"),
    ({"api.base_url": "ftp://api.example"}, "api.base_url: must be a http:// or https:// URL"),
    ({"api.messaging_base_url": "messaging.example"},
     "api.messaging_base_url: must be a http:// or https:// URL"),
    ({"notify.webhook": "127.0.0.1:8000/hook"},
     "notify.webhook: must be a http:// or https:// URL"),
    ({"notify.smtp_url": "http://mail.example", "notify.email_to": "ops@example.com"},
     "notify.smtp_url: must be a smtp:// or smtps:// URL"),
    ({"notify.webhook": "http://127.0.0.1:99999/hook"}, "notify.webhook: Port out of range"),
    ({"notify.smtp_url": "smtp://mail.example:smtp", "notify.email_to": "ops@example.com"},
     "notify.smtp_url: Port could not be cast to integer value as 'smtp'"),
    ({"api.base_url": "http://[::1"}, "api.base_url: Invalid IPv6 URL"),
    ({"name": "spring sale"}, "name: letters, digits, '.', '_' and '-', at most 100"),
    ({"name": "x" * 101}, "name: letters, digits"),
    ({"name": "../up"}, "name: letters, digits"),
    ({"name": None}, "name: is required"),
    ({"name": ""}, "name: is required"),
    ({"api.account_sid": None}, "api.account_sid: is required"),
    ({"api.auth_token": None}, "api.auth_token: is required"),
    ({"message.body": ""}, "message.body: is required"),
]  # fmt: skip


@pytest.mark.parametrize(("changes", "message"), BAD_FILES)
def test_a_bad_file_is_refused_naming_the_key(
    tmp_path: Path, changes: dict[str, object], message: str
) -> None:
    with pytest.raises(CampaignFileError) as refused:
        campaign_file.campaign(tmp_path, changes)
    assert message in str(refused.value)


@pytest.mark.parametrize(
    ("environ", "flags", "message"),
    [
        ({"HERALD_CAMPAIGN_SEND_CONCURRENCY": "many"}, {},
         "HERALD_CAMPAIGN_SEND_CONCURRENCY: 'many' is not an integer"),
        ({"HERALD_CAMPAIGN_SEND_CONCURRENCY": "2.5"}, {},
         "HERALD_CAMPAIGN_SEND_CONCURRENCY: '2.5' is not an integer"),
        ({}, {"send.retry_min_s": "soon"}, "--send-retry-min-s: 'soon' is not a number"),
        ({}, {"send.concurrency": "0"}, "send.concurrency: must be 1 to 1000"),
        ({"HERALD_CAMPAIGN_API_BASE_URL": "api.example"}, {},
         "api.base_url: must be a http:// or https:// URL"),
        ({"HERALD_CAMPAIGN_MESSAGE_MESSAGING_SERVICE_SID": "MG" + "0" * 32}, {},
         "message: give one of messaging_service_sid and from"),
    ],
)  # fmt: skip
def test_a_bad_override_is_refused_naming_it(
    tmp_path: Path, environ: dict[str, str], flags: dict[str, str], message: str
) -> None:
    with pytest.raises(CampaignFileError) as refused:
        load(campaign_file.write(tmp_path), environ, flags)
    assert message in str(refused.value)


def test_a_variable_outside_the_table_is_ignored(tmp_path: Path) -> None:
    environ = {"HERALD_CAMPAIGN_SEND_SPEED": "x", "HERALD_CAMPAIGN_": "y"}
    assert load(campaign_file.write(tmp_path), environ, {}).name == "spring-sale"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b'name = "spring-sale"\n[api\n', "campaign.toml: "),
        (b"name = 'a'\nname = 'b'\n", "campaign.toml: "),
        ('name = "caf\u00e9"\n'.encode("latin-1"), "campaign.toml: not UTF-8 text"),
    ],
    ids=["invalid-toml", "duplicate-key", "not-utf-8"],
)
def test_an_unreadable_file_is_refused_naming_it(
    tmp_path: Path, content: bytes, message: str
) -> None:
    path = tmp_path / "campaign.toml"
    path.write_bytes(content)
    with pytest.raises(CampaignFileError) as refused:
        load(path, {}, {})
    assert message in str(refused.value)


def test_a_missing_file_is_refused_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "absent.toml"
    with pytest.raises(CampaignFileError, match=r"absent\.toml: No such file"):
        load(path, {}, {})
    with pytest.raises(CampaignFileError, match="Is a directory"):
        load(tmp_path, {}, {})


def test_relative_paths_resolve_against_the_files_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "campaigns" / "spring"
    folder.mkdir(parents=True)
    changes = {"audience.csv": "data/contacts.csv", "seeds.csv": str(tmp_path / "seeds.csv")}
    campaign_file.write(folder, changes)
    monkeypatch.chdir(tmp_path)
    campaign = load(Path("campaigns/spring/campaign.toml"), {}, {})
    assert campaign.directory == folder
    assert campaign.path("audience.csv") == folder / "data" / "contacts.csv"
    assert campaign.path("seeds.csv") == tmp_path / "seeds.csv"  # absolute: as given


def test_an_unset_path_is_none(tmp_path: Path) -> None:
    assert campaign_file.campaign(tmp_path).path("seeds.csv") is None


@pytest.mark.parametrize(
    ("given", "database"),
    [
        (None, "{dir}/spring-sale.db"),
        ("sqlite:///state.db", "{dir}/state.db"),
        ("sqlite:///data/state.db", "{dir}/data/state.db"),
        ("sqlite+pysqlite:///state.db", "{dir}/state.db"),
        ("sqlite:////srv/campaigns/state.db", "/srv/campaigns/state.db"),
        ("sqlite:///:memory:", ":memory:"),
    ],
)
def test_a_relative_sqlite_database_is_in_the_files_directory(
    tmp_path: Path, given: str | None, database: str
) -> None:
    url = campaign_file.campaign(tmp_path, {"sync.database_url": given}).database_url
    assert make_url(url).database == database.format(dir=tmp_path)


def test_other_databases_are_left_as_given(tmp_path: Path) -> None:
    url = "postgresql://campaigns@db.example/spring"
    assert campaign_file.campaign(tmp_path, {"sync.database_url": url}).database_url == url


@pytest.mark.parametrize(
    ("base_url", "messaging_base_url", "expected"),
    [
        (None, None, "https://messaging.twilio.com"),
        ("https://api.twilio.com/", None, "https://messaging.twilio.com"),
        ("http://127.0.0.1:8080/", None, "http://127.0.0.1:8080"),
        ("http://127.0.0.1:8080", "http://127.0.0.1:8081/", "http://127.0.0.1:8081"),
    ],
)
def test_messaging_base_url_defaults_to_twilios_or_the_base(
    tmp_path: Path, base_url: str | None, messaging_base_url: str | None, expected: str
) -> None:
    changes = {"api.base_url": base_url, "api.messaging_base_url": messaging_base_url}
    assert campaign_file.campaign(tmp_path, changes).messaging_base_url == expected
