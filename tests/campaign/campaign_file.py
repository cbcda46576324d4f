"""Campaign files for the tests: a valid minimal campaign as a dict, changed by dotted key
and written as TOML next to the test's other files (relative paths resolve from there)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from herald.campaign.settings import Campaign, load

ACCOUNT = "AC" + "0123456789abcdef" * 2
MINIMAL: dict[str, Any] = {
    "name": "spring-sale",
    "api": {"base_url": "http://127.0.0.1:9", "account_sid": ACCOUNT, "auth_token": "token"},
    "message": {"from": "+14155550100", "body": "Hi {first_name}"},
    "audience": {"csv": "contacts.csv"},
}


def document(changes: Mapping[str, object] = {}) -> dict[str, Any]:
    """MINIMAL with `changes` by dotted key; a value of None removes the key."""
    result: dict[str, Any] = {
        name: dict(value) if isinstance(value, dict) else value for name, value in MINIMAL.items()
    }
    for dotted, value in changes.items():
        section, _, name = dotted.rpartition(".")
        table = result.setdefault(section, {}) if section else result
        if value is None:
            table.pop(name, None)
        else:
            table[name] = value
    return result


def toml(doc: Mapping[str, Any]) -> str:
    """`doc` as TOML: top-level scalars first, then one table per section."""
    lines = [f"{name} = {_value(v)}" for name, v in doc.items() if not isinstance(v, dict)]
    for section, table in doc.items():
        if isinstance(table, dict):
            lines.append(f"[{section}]")
            lines += [f"{name} = {_value(v)}" for name, v in table.items()]
    return "\n".join(lines) + "\n"


def _value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return json.dumps(value) if isinstance(value, str) else repr(value)


def write(directory: Path, changes: Mapping[str, object] = {}) -> Path:
    path = directory / "campaign.toml"
    path.write_text(toml(document(changes)), encoding="utf-8")
    return path


def campaign(directory: Path, changes: Mapping[str, object] = {}) -> Campaign:
    return load(write(directory, changes), {}, {})
