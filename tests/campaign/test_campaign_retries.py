"""Herald's per-account concurrency limit set low: a campaign sending 16 at a time meets
429s (20429), retries them with backoff, and still sends every recipient exactly once."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from tests.campaign.live import Tenant, campaign, write_contacts
from tests.conftest import Herald

SETTINGS = {"api_concurrency": 2}
RECIPIENTS = 120


def test_429s_are_retried_and_every_recipient_is_sent_exactly_once(
    herald: Herald, tmp_path: Path
) -> None:
    tenant = Tenant.create(herald)
    phones = [f"+1312555{2000 + i:04d}" for i in range(RECIPIENTS)]
    write_contacts(tmp_path / "contacts.csv", [(f"c{i}", p, "A") for i, p in enumerate(phones)])
    send = {"concurrency": 16, "retry_min_s": 0.005, "retry_max_s": 0.05, "max_attempts": 100}
    file = tenant.campaign_file(tmp_path, "retried", send=send)

    sent = campaign("send", str(file))

    assert sent["retries"] > 0  # the limit of 2 was met
    assert (sent["sent"], sent["failed"]) == (RECIPIENTS, 0)
    assert tenant.per_recipient() == Counter(dict.fromkeys(phones, 1))
