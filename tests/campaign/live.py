"""What the campaign tests against a live Herald share: a tenant with fast senders in a
Messaging Service, campaign files, the `herald campaign` command run as a real process,
and Herald's own record of what it sent (the truth the campaign's copy is checked
against)."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import text

from tests.conftest import Herald

ROOT = Path(__file__).resolve().parents[2]
_senders = itertools.count(0)


@dataclass
class Tenant:
    """An account with `numbers` senders (each `mps` segments/s) in one service."""

    herald: Herald
    account_sid: str
    auth_token: str
    service_sid: str
    numbers: list[str]

    @classmethod
    def create(cls, herald: Herald, *, numbers: int = 1, mps: int = 5000) -> Tenant:
        account = herald.account()
        auth = (account.sid, account.auth_token)
        base = herald.base_url
        service = httpx.post(f"{base}/v1/Services", auth=auth, data={"FriendlyName": "campaign"})
        assert service.status_code == 201, service.text
        service_sid = service.json()["sid"]
        owned = []
        for _ in range(numbers):
            number = f"+1415555{next(_senders) % 100 + 100:04d}"  # 555-01xx: fictional
            created = httpx.post(
                herald.url(account, "IncomingPhoneNumbers.json"),
                auth=auth,
                data={"PhoneNumber": number, "Mps": str(mps)},
            )
            assert created.status_code == 201, created.text
            added = httpx.post(
                f"{base}/v1/Services/{service_sid}/PhoneNumbers",
                auth=auth,
                data={"PhoneNumberSid": created.json()["sid"]},
            )
            assert added.status_code == 201, added.text
            owned.append(number)
        return cls(herald, account.sid, account.auth_token, service_sid, owned)

    def texts(self, phone: str, body: str, to: str | None = None) -> None:
        """`phone` texts `body` to the tenant's number, through the simulated carrier."""
        answer = httpx.post(
            f"{self.herald.base_url}/herald/v1/Simulator/Inbound",
            auth=(self.account_sid, self.auth_token),
            data={"From": phone, "To": to or self.numbers[0], "Body": body},
        )
        assert answer.status_code == 201, answer.text

    def sent(self) -> dict[str, tuple[str, str]]:
        """The messages this account's API sent (not Herald's STOP confirmations):
        SID → (recipient, status)."""
        query = text(
            "SELECT sid, to_number, status FROM messages"
            " WHERE account_sid = :a AND direction = 'outbound-api'"
        )
        rows = self.herald.runtime.db.run(
            lambda conn: conn.execute(query, {"a": self.account_sid}).all()
        )
        return {sid: (to, status) for sid, to, status in rows}

    def per_recipient(self) -> Counter[str]:
        return Counter(to for to, _status in self.sent().values())

    def campaign_file(self, directory: Path, name: str, **sections: dict[str, Any]) -> Path:
        document: dict[str, dict[str, Any]] = {
            "api": {"base_url": self.herald.base_url, "account_sid": self.account_sid,
                    "auth_token": self.auth_token},
            "message": {"messaging_service_sid": self.service_sid,
                        "body": "Hi {first_name}, 20% off today. Reply STOP to opt out."},
            "audience": {"csv": "contacts.csv"},
            "send": {"retry_min_s": 0.02, "retry_max_s": 0.2},
            "sync": {"database_url": f"sqlite:///{name}.db"},
        }  # fmt: skip
        for section, values in sections.items():
            document.setdefault(section, {}).update(values)
        lines = [f"name = {json.dumps(name)}"]
        for section, values in document.items():
            lines.append(f"[{section}]")
            lines += [f"{key} = {json.dumps(value)}" for key, value in values.items()]
        path = directory / f"{name}.toml"
        path.write_text("\n".join(lines) + "\n")
        return path


def write_contacts(path: Path, rows: list[tuple[str, str, str]]) -> None:
    lines = ["contact_id,phone,first_name", *(",".join(row) for row in rows)]
    path.write_text("\n".join(lines) + "\n")


def campaign(*args: str, check: bool = True) -> dict[str, Any]:
    """`herald campaign ARGS --json` as a process; its JSON line."""
    done = subprocess.run(
        [sys.executable, "-m", "herald", "campaign", *args, "--json", "--no-progress"],
        capture_output=True, text=True, timeout=300, cwd=ROOT, env=_env(),
    )  # fmt: skip
    if check:
        assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1]) if done.returncode == 0 else {}


def start_campaign(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "herald", "campaign", *args, "--json", "--no-progress"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT, env=_env(),
    )  # fmt: skip


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("HERALD_CAMPAIGN_")}
