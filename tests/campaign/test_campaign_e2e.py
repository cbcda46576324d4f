"""`herald campaign` end to end against a live Herald on loopback (issue 14's first "Must
show"): a 10,000-row audience with planted duplicates, invalid numbers, recipients who
texted STOP and seeds gives exactly the expected counts; every message ends as Herald's
simulator decided, and sync copies exactly that; a second sync adds nothing."""

from __future__ import annotations

import random
import sqlite3
from pathlib import Path

import pytest

from tests.campaign.live import Tenant, campaign, write_contacts
from tests.conftest import Herald, eventually

SQLITE_ONLY = pytest.mark.parametrize("herald", ["sqlite"], indirect=True)
ROWS = 10_000
INVALID, SAME_KEY, SAME_PHONE, STOPPED = 50, 40, 60, 25
FINAL = ("delivered", "undelivered", "failed")


def _audience(rng: random.Random) -> tuple[list[tuple[str, str, str]], list[str]]:
    """The rows (with what is planted) and the valid distinct recipients, in order."""
    unique = ROWS - INVALID - SAME_KEY - SAME_PHONE
    lines = rng.sample(range(2_000_000, 9_999_999), unique)
    phones = [f"+1212{line:07d}" for line in lines]
    phones = [p if not p.endswith("3000") else p[:-4] + "3003" for p in phones]  # no "never"
    rows = [(f"c{i}", phone, f"N{i}") for i, phone in enumerate(phones)]
    rows += [(f"c{i}", phones[i], "again") for i in range(SAME_KEY)]  # a key twice
    rows += [  # another key, the same phone in national format
        (f"d{i}", f"(212) {phones[i][5:8]}-{phones[i][8:]}", "twin") for i in range(SAME_PHONE)
    ]
    bad = ["12345", "+19999999999", "", "not a number", "+1212555"]
    rows += [(f"x{i}", bad[i % len(bad)], "bad") for i in range(INVALID)]
    rng.shuffle(rows)
    return rows, phones


@SQLITE_ONLY
def test_a_ten_thousand_row_campaign_counts_sends_and_syncs_exactly(
    herald: Herald, tmp_path: Path
) -> None:
    tenant = Tenant.create(herald)
    rng = random.Random(14)
    rows, phones = _audience(rng)
    write_contacts(tmp_path / "contacts.csv", rows)
    seeds = ["+12025550143", "+12025550144", "+1202555", "+12025550145"]
    (tmp_path / "seeds.csv").write_text(
        "phone,first_name\n" + "".join(f"{p},Seed\n" for p in seeds)
    )
    stopped = rng.sample(phones[SAME_PHONE:-1], STOPPED)
    for phone in stopped:
        tenant.texts(phone, "STOP")
    tenant.texts(seeds[3], "Stop")  # a seed who opted out
    back = phones[-1]
    tenant.texts(back, "STOP")
    tenant.texts(back, "START")  # opted back in: sendable
    file = tenant.campaign_file(
        tmp_path, "spring-sale", seeds={"csv": "seeds.csv"}, send={"concurrency": 48}
    )

    expected = {"total": ROWS, "invalid": INVALID, "duplicates": SAME_KEY + SAME_PHONE,
                "suppressed": STOPPED, "seeds": len(seeds)}  # fmt: skip
    recipients = ROWS - INVALID - SAME_KEY - SAME_PHONE - STOPPED + 2  # and two seeds
    sent = campaign("send", str(file))
    assert {k: sent[k] for k in expected} == expected
    assert (sent["sent"], sent["failed"], sent["seeds_sent"]) == (recipients, 0, 2)
    assert (sent["seeds_invalid"], sent["seeds_suppressed"]) == (1, 1)
    per_recipient = tenant.per_recipient()
    assert set(per_recipient.values()) == {1}
    assert set(per_recipient) == (set(phones) - set(stopped)) | set(seeds[:2])

    truth = eventually(lambda: _all_final(tenant), timeout=60)
    repliers = rng.sample(sorted(set(phones) - set(stopped)), 6)
    for phone in repliers[:5]:
        tenant.texts(phone, "STOP")
    tenant.texts(repliers[5], "Thanks!")

    synced = campaign("sync", str(file))
    statuses = [status for _to, status in truth.values()]
    assert synced["sent"] == recipients
    for state in FINAL:
        assert synced[state] == statuses.count(state), state
    assert synced["delivered"] > recipients * 0.9 and synced["undelivered"] > 0
    assert (synced["replies"], synced["opt_outs"]) == (6, 5)
    assert _campaign_statuses(tmp_path / "spring-sale.db") == {
        sid: status for sid, (_to, status) in truth.items()
    }

    again = campaign("sync", str(file))
    assert (again["new_states"], again["new_replies"]) == (0, 0)
    assert {k: again[k] for k in (*FINAL, "replies", "opt_outs")} == {
        k: synced[k] for k in (*FINAL, "replies", "opt_outs")
    }

    rerun = campaign("send", str(file))
    assert (rerun["sent"], rerun["already_sent"]) == (0, recipients)
    assert len(tenant.sent()) == recipients

    report = campaign("report", str(file), "--out-dir", str(tmp_path / "out"))
    lines = (tmp_path / "out" / "spring-sale-report.csv").read_text().splitlines()
    # the header, who was sent, who was suppressed (a seed too), who was invalid (a seed too)
    assert len(lines) == 1 + recipients + STOPPED + 1 + INVALID + 1
    assert {k: report[k] for k in (*FINAL, "sent")} == {k: synced[k] for k in (*FINAL, "sent")}


def _all_final(tenant: Tenant) -> dict[str, tuple[str, str]]:
    sent = tenant.sent()
    assert sent and all(status in FINAL for _to, status in sent.values())
    return sent


def _campaign_statuses(database: Path) -> dict[str, str]:
    with sqlite3.connect(database) as conn:
        rows = conn.execute(
            "SELECT message_sid, status FROM campaign_contacts WHERE message_sid IS NOT NULL"
        ).fetchall()
    return dict(rows)


def test_a_dry_run_counts_prices_and_times_through_preview_and_sends_nothing(
    herald: Herald, tmp_path: Path
) -> None:
    tenant = Tenant.create(herald, numbers=2, mps=50)
    rows = [(f"c{i}", f"+1312555{2000 + i:04d}", f"N{i}") for i in range(300)]
    rows += [("c0", "+13125559999", "again"), ("x", "12345", "bad")]
    rows.append(("u", "+13125553999", "你好" * 36))  # UCS-2: 72 units, two segments
    write_contacts(tmp_path / "contacts.csv", rows)
    tenant.texts("+13125552007", "STOP")
    file = tenant.campaign_file(tmp_path, "preview", message={"body": "{first_name}"})

    preview = campaign("dry-run", str(file), "--details", str(tmp_path / "details.csv"))

    counts = {k: preview[k] for k in ("total", "invalid", "duplicates", "suppressed", "seeds")}
    assert counts == {"total": 303, "invalid": 1, "duplicates": 1, "suppressed": 1, "seeds": 0}
    assert preview["recipients"] == 300 and preview["previewed"] is True
    assert preview["encodings"] == {"GSM-7": 299, "UCS-2": 1}
    assert preview["segments"] == 301
    assert preview["mps"] == 100 and preview["estimated_seconds"] == pytest.approx(3.0, abs=0.1)
    assert preview["estimated_cost"] > 0
    lines = (tmp_path / "details.csv").read_text().splitlines()
    assert len(lines) == 301 and lines[0].startswith("contact_key,phone,encoding,segments")
    assert tenant.sent() == {}  # a dry run sends nothing
