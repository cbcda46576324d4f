"""/metrics names every account and sender, so it answers only a scraper holding
`HERALD_METRICS_TOKEN`, and its series tell senders apart even when two accounts send
under the same alphanumeric ID."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest

from herald.config import Settings
from herald.runtime import build
from tests.api import spec
from tests.conftest import METRICS_TOKEN, Herald, _Server, eventually


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer not-the-token-at-all"},
        {"Authorization": f"Basic {METRICS_TOKEN}"},
        {"Authorization": f"Bearer {METRICS_TOKEN}x"},
    ],
    ids=["none", "wrong", "basic", "longer"],
)
def test_metrics_refuse_a_scraper_without_the_token(
    herald: Herald, headers: dict[str, str]
) -> None:
    response = httpx.get(f"{herald.base_url}/metrics", headers=headers)
    assert spec.error_problems(response, 401, 20003) == []
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert "herald_" not in response.text


def test_account_credentials_do_not_open_metrics(herald: Herald) -> None:
    account = herald.account()
    response = httpx.get(f"{herald.base_url}/metrics", auth=(account.sid, account.auth_token))
    assert spec.error_problems(response, 401, 20003) == []


def test_metrics_are_off_without_a_token(tmp_path: Path) -> None:
    runtime = build(Settings(data_dir=tmp_path, dispatch=False))
    server = _Server(runtime)
    base_url = server.start()
    try:
        for headers in ({}, {"Authorization": f"Bearer {METRICS_TOKEN}"}):
            response = httpx.get(f"{base_url}/metrics", headers=headers)
            assert spec.error_problems(response, 403, 20003) == []
            assert "HERALD_METRICS_TOKEN" in response.json()["message"]
        assert httpx.get(f"{base_url}/healthz").status_code == 200
    finally:
        server.stop()
        runtime.close()


def test_an_alphanumeric_id_of_two_accounts_gives_two_series(herald: Herald) -> None:
    first, second = herald.account(), herald.account()
    for account in (first, second):
        message = herald.client(account).messages.create(
            to="+447400123456", from_="HERALD", body="hi"
        )
        assert message.status == "queued"

    def both() -> bool:  # a queue joins the dispatcher once its message is announced
        text = herald.metrics()
        pattern = r'herald_queue_depth_segments\{address="HERALD",sender="([^"]+)"\}'
        return {f"{first.sid}/HERALD", f"{second.sid}/HERALD"} <= set(re.findall(pattern, text))

    eventually(both, timeout=10)
