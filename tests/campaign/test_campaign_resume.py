"""A send killed with SIGKILL mid-run and run again sends every recipient exactly once:
against Herald (the rerun repeats an unanswered create with its Idempotency-Key), and
against a Twilio-shaped stub that ignores the key (the rerun looks for the message first).
On PostgreSQL the campaign's own database is PostgreSQL too."""

from __future__ import annotations

import secrets
import signal
import time
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from tests.campaign.live import Tenant, campaign, start_campaign, write_contacts
from tests.campaign.twilio_stub import TwilioStub
from tests.conftest import Herald, _Postgres

RECIPIENTS = 2_000
KILL_AFTER = 200  # message SIDs recorded


def test_a_send_killed_mid_run_resumes_without_sending_twice_or_missing_anyone(
    herald: Herald, postgres: _Postgres | None, tmp_path: Path
) -> None:
    tenant = Tenant.create(herald)
    phones = [f"+1646555{1000 + i:04d}" for i in range(RECIPIENTS)]
    write_contacts(tmp_path / "contacts.csv", [(f"c{i}", p, "A") for i, p in enumerate(phones)])
    url = f"sqlite:///{tmp_path / 'resumed.db'}"
    if herald.backend == "postgres":
        assert postgres is not None
        url = postgres.empty()
    file = tenant.campaign_file(tmp_path, "resumed", sync={"database_url": url})

    recorded = _kill_mid_send(str(file), url)

    rerun = campaign("send", str(file))
    assert rerun["already_sent"] >= recorded
    assert rerun["already_sent"] + rerun["sent"] == RECIPIENTS and rerun["failed"] == 0
    assert tenant.per_recipient() == Counter(dict.fromkeys(phones, 1))
    assert set(_sids(url)) == set(tenant.sent())


def test_a_send_killed_mid_run_against_a_target_without_idempotency_keys(
    tmp_path: Path,
) -> None:
    account, token, sender = "AC" + secrets.token_hex(16), secrets.token_hex(16), "+14155550100"
    phones = [f"+1718555{1000 + i:04d}" for i in range(RECIPIENTS)]
    write_contacts(tmp_path / "contacts.csv", [(f"c{i}", p, "A") for i, p in enumerate(phones)])
    url = f"sqlite:///{tmp_path / 'stubbed.db'}"
    with TwilioStub(account, token, [sender], step_delay=0) as stub:
        (tmp_path / "stubbed.toml").write_text(
            'name = "stubbed"\n'
            f'[api]\nbase_url = "{stub.base_url}"\naccount_sid = "{account}"\n'
            f'auth_token = "{token}"\n'
            f'[message]\nfrom = "{sender}"\nbody = "Hello"\n'
            '[audience]\ncsv = "contacts.csv"\n'
            f'[sync]\ndatabase_url = "{url}"\n'
        )
        file = str(tmp_path / "stubbed.toml")
        _kill_mid_send(file, url)
        rerun = campaign("send", file)
        assert rerun["already_sent"] + rerun["sent"] == RECIPIENTS
        assert Counter(m.to for m in stub.created) == Counter(dict.fromkeys(phones, 1))


def _kill_mid_send(file: str, url: str) -> int:
    """Starts the send, SIGKILLs it once KILL_AFTER SIDs are recorded; how many were."""
    process = start_campaign("send", file)
    deadline = time.monotonic() + 60
    recorded = 0
    try:
        while recorded < KILL_AFTER:
            assert process.poll() is None, process.communicate()[1][-2000:]
            assert time.monotonic() < deadline, "the send did not get going"
            time.sleep(0.02)
            recorded = len(_sids(url))
    finally:
        process.send_signal(signal.SIGKILL)
        process.communicate()
    assert process.returncode == -signal.SIGKILL
    recorded = len(_sids(url))
    if recorded >= RECIPIENTS:
        pytest.fail("the send finished before it could be killed")
    return recorded


def _sids(url: str) -> list[str]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            query = text("SELECT message_sid FROM campaign_contacts WHERE message_sid IS NOT NULL")
            return [row[0] for row in conn.execute(query)]
    except Exception:  # not created yet: the send is still reading its audience
        return []
    finally:
        engine.dispose()
