"""Shared fixtures: a database on SQLite and on PostgreSQL, and a real Herald server
on 127.0.0.1 driven over HTTP.

PostgreSQL comes from HERALD_TEST_DATABASE_URL, else the default local URL when a
server answers there. Without one those tests skip, saying why; under CI (CI set) an
unreachable server fails the run instead. The schema is
migrated once into a template database; each test module gets a copy of it.
"""

from __future__ import annotations

import itertools
import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import httpx
import pytest
import uvicorn
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from twilio.rest import Client

from herald.api.app import create_app
from herald.api.server import server_config
from herald.config import Settings
from herald.domain.accounts import Account
from herald.provisioning import create_account
from herald.runtime import Runtime, build
from herald.store import migrate
from herald.store.db import normalize_url
from tests.webhooks.receiver import Receiver, Reply

T = TypeVar("T")
BACKENDS = ["sqlite", "postgres"]
DEFAULT_POSTGRES = "postgresql://postgres@127.0.0.1:5432/test"  # tried when none is named
METRICS_TOKEN = "metrics-token-for-the-tests"  # what test servers' /metrics asks for
METRICS_AUTH = {"Authorization": f"Bearer {METRICS_TOKEN}"}


def eventually(check: Callable[[], T], timeout: float = 10.0) -> T:
    """Wait for `check()` to return something truthy (a condition, not a fixed sleep)."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result or time.monotonic() > deadline:
            assert result, "condition not reached in time"
            return result
        time.sleep(0.01)


_counter = itertools.count()


class _Postgres:
    """A template database with the schema, and fresh copies of it on demand."""

    def __init__(self, url: str) -> None:
        self.base = make_url(normalize_url(url))
        self.admin = create_engine(
            self.base, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 3}
        )
        self.prefix = f"herald_test_{os.getpid()}"
        self.template = f"{self.prefix}_tpl"
        self.created: list[str] = []

    def url_for(self, name: str) -> str:
        return self.base.set(database=name).render_as_string(hide_password=False)

    def build_template(self) -> None:
        with self.admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{self.template}"'))
            conn.execute(text(f'CREATE DATABASE "{self.template}"'))
        engine = create_engine(self.url_for(self.template))
        migrate.upgrade(engine)
        engine.dispose()

    def fresh(self) -> str:
        name = f"{self.prefix}_{next(_counter)}"
        with self.admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{self.template}"'))
        self.created.append(name)
        return self.url_for(name)

    def empty(self) -> str:
        """A new database without even the schema (nodes starting on it migrate it)."""
        name = f"{self.prefix}_{next(_counter)}"
        with self.admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        self.created.append(name)
        return self.url_for(name)

    def drop_all(self) -> None:
        with self.admin.connect() as conn:
            for name in [*self.created, self.template]:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        self.admin.dispose()


@pytest.fixture(scope="session")
def postgres() -> Iterator[_Postgres | None]:
    """HERALD_TEST_DATABASE_URL's server, else one answering at the default local URL:
    a newcomer's `make test` runs the PostgreSQL tests wherever a server is up."""
    url = os.environ.get("HERALD_TEST_DATABASE_URL") or DEFAULT_POSTGRES
    pg = _Postgres(url)
    try:
        pg.build_template()
    except Exception as exc:
        if os.environ.get("CI"):
            pytest.fail(f"CI is set but PostgreSQL at {url} is unreachable: {exc}")
        pg.admin.dispose()
        yield None
        return
    yield pg
    pg.drop_all()


def database_url(backend: str, postgres: _Postgres | None, tmp: Path) -> str:
    if backend == "sqlite":
        return f"sqlite:///{tmp / 'herald.db'}"
    if postgres is None:
        reason = (
            "PostgreSQL unreachable at HERALD_TEST_DATABASE_URL"
            if os.environ.get("HERALD_TEST_DATABASE_URL")
            else f"no PostgreSQL at {DEFAULT_POSTGRES} and HERALD_TEST_DATABASE_URL is not set"
        )
        pytest.skip(reason)
    return postgres.fresh()


@pytest.fixture(params=BACKENDS)
def runtime(
    request: pytest.FixtureRequest, postgres: _Postgres | None, tmp_path: Path
) -> Iterator[Runtime]:
    """A runtime on a fresh database, for store-level tests."""
    url = database_url(request.param, postgres, tmp_path)
    rt = build(Settings(data_dir=tmp_path, database_url=url))
    yield rt
    rt.close()


@dataclass
class Herald:
    """A running server and what a test needs to talk to it."""

    base_url: str
    runtime: Runtime
    backend: str

    def account(self, *, test: bool = False) -> Account:
        return create_account(self.runtime, friendly_name="test", is_test=test)

    def client(self, account: Account) -> Client:
        return client_for(self.base_url, account.sid, account.auth_token)

    def url(self, account: Account, path: str) -> str:
        return f"{self.base_url}/2010-04-01/Accounts/{account.sid}/{path}"

    def metrics(self) -> str:
        """/metrics, scraped as Prometheus would with the token."""
        response = httpx.get(f"{self.base_url}/metrics", headers=METRICS_AUTH)
        assert response.status_code == 200, response.text
        return response.text


def client_for(
    base_url: str, username: str, password: str, account_sid: str | None = None
) -> Client:
    client = Client(username, password, account_sid=account_sid)
    client.api.base_url = base_url
    client.messaging.base_url = base_url
    return client


class _Server:
    def __init__(self, runtime: Runtime) -> None:
        settings = runtime.settings.with_overrides(host="127.0.0.1", log_level="WARNING")
        config = server_config(create_app(runtime), settings, port=0)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def start(self) -> str:
        self.thread.start()
        for _ in range(1000):
            if self.server.started:
                break
            self.thread.join(0.01)
        assert self.server.started, "Herald did not start"
        port = self.server.servers[0].sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


@pytest.fixture(scope="module", params=BACKENDS)
def herald(
    request: pytest.FixtureRequest,
    postgres: _Postgres | None,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Herald]:
    """One server per test module and backend; tests isolate themselves by account.

    A module that sets `DISPATCH = False` gets an API-only server (as `HERALD_DISPATCH=false`
    runs one): its messages stay `queued`, so the paths refused before completion stay testable.
    Private webhook targets are allowed (receivers listen on 127.0.0.1) unless a module's
    `SETTINGS` says `webhook_allow_private=False`.
    """
    tmp = tmp_path_factory.mktemp("herald")
    url = database_url(request.param, postgres, tmp)
    dispatch = getattr(request.module, "DISPATCH", True)
    settings = Settings(
        data_dir=tmp,
        database_url=url,
        simulator_latency="instant",
        dispatch=dispatch,
        metrics_token=METRICS_TOKEN,
        webhook_allow_private=True,  # the tests' receivers listen on 127.0.0.1
    ).with_overrides(**getattr(request.module, "SETTINGS", {}))
    runtime = build(settings)
    server = _Server(runtime)
    base_url = server.start()
    yield Herald(base_url=base_url, runtime=runtime, backend=request.param)
    server.stop()


# The first bytes of a JPEG and of a PNG: enough for Herald's check that media are what
# their Content-Type says.
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(32)
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(32)
MEDIA_FILES = {
    "/cat.jpg": ("image/jpeg", JPEG),
    "/a.jpg": ("image/jpeg", JPEG),
    "/c.jpg": ("image/jpeg", JPEG),
    "/dog.png": ("image/png", PNG),
    "/a.png": ("image/png", PNG),
}


@pytest.fixture(scope="session")
def media_server() -> Iterator[Receiver]:
    """A media server on 127.0.0.1 serving `MEDIA_FILES`: Herald fetches every `MediaUrl`
    of a send, so a test that sends media names one of these."""
    with Receiver(record=False) as server:
        for path, (content_type, body) in MEDIA_FILES.items():
            server.route(path, Reply(headers=(("Content-Type", content_type),), body=body))
        yield server
