"""The audience and the seed list: rows read, numbers normalised to E.164, duplicates
dropped, and each recipient's body filled in, before anything is sent.

Dedupe runs as seed 004's connector does it: on the contact key first (a contact listed
twice is one contact), then on the phone number (two contacts sharing a phone get one
message). Invalid numbers (unparseable, or not a valid number of their country as
libphonenumber knows it) are counted and kept for the report. A row with no key is
invalid too: without one a rerun could not tell it was already sent.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import phonenumbers
from phonenumbers import NumberParseException

from herald.campaign.settings import Campaign, CampaignFileError
from herald.campaign.template import Template, check_columns

SEED_PREFIX = "seed:"  # seeds' keys, apart from the contacts'


@dataclass(frozen=True, slots=True, kw_only=True)
class Recipient:
    key: str
    phone: str  # E.164
    body: str
    is_seed: bool = False


@dataclass(slots=True, kw_only=True)
class Tally:
    """What one list (audience or seeds) came to."""

    total: int = 0
    invalid: int = 0
    duplicates: int = 0
    invalid_rows: list[tuple[str, str]] = field(default_factory=list)  # (key, raw phone)


@dataclass(slots=True, kw_only=True)
class Audience:
    recipients: list[Recipient]
    contacts: Tally
    seeds: Tally


def read(campaign: Campaign, template: Template) -> Audience:
    """The campaign's recipients, seeds after contacts, each phone at most once."""
    country = str(campaign["audience.default_country"]).upper()
    if country not in phonenumbers.SUPPORTED_REGIONS:
        raise CampaignFileError(f"audience.default_country: {country!r} is not a country code")
    key_column = str(campaign["audience.key_column"])
    phone_column = str(campaign["audience.phone_column"])
    columns, rows = _audience_rows(campaign)
    _require(columns, (key_column, phone_column), "audience")
    check_columns(template, columns, "audience")
    seen_phones: set[str] = set()
    recipients: list[Recipient] = []
    contacts = _take(rows, key_column, phone_column, country, template, seen_phones, recipients)
    seeds = Tally()
    seed_path = campaign.path("seeds.csv")
    if seed_path is not None:
        seed_columns, seed_rows = _csv_rows(seed_path, "seeds.csv")
        _require(seed_columns, (phone_column,), "seed list")
        check_columns(template, seed_columns, "seed list")
        seed_key = key_column if key_column in seed_columns else None
        seeds = _take(seed_rows, seed_key, phone_column, country, template, seen_phones,
                      recipients, is_seed=True)  # fmt: skip
    return Audience(recipients=recipients, contacts=contacts, seeds=seeds)


def _take(
    rows: Iterator[Mapping[str, str]],
    key_column: str | None,
    phone_column: str,
    country: str,
    template: Template,
    seen_phones: set[str],
    into: list[Recipient],
    *,
    is_seed: bool = False,
) -> Tally:
    tally = Tally()
    seen_keys: set[str] = set()
    for row in rows:
        tally.total += 1
        raw_phone = (row.get(phone_column) or "").strip()
        key = (row.get(key_column) or "").strip() if key_column else raw_phone
        if key and key in seen_keys:  # rows without a key are each invalid, not duplicates
            tally.duplicates += 1
            continue
        seen_keys.add(key)
        phone = normalise(raw_phone, country)
        if phone is None or not key:
            tally.invalid += 1
            tally.invalid_rows.append((key, raw_phone))
            continue
        if phone in seen_phones:
            tally.duplicates += 1
            continue
        seen_phones.add(phone)
        stored_key = SEED_PREFIX + key if is_seed else key
        into.append(
            Recipient(key=stored_key, phone=phone, body=template.render(row), is_seed=is_seed)
        )
    return tally


def normalise(raw: str, country: str) -> str | None:
    """`raw` as E.164, or None when it is not a valid number."""
    if not raw or len(raw) > 40:
        return None
    try:
        parsed = phonenumbers.parse(raw, country)
    except NumberParseException:
        return None
    if not phonenumbers.is_valid_number(parsed):
        return None
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def _require(columns: list[str], needed: tuple[str, ...], source: str) -> None:
    missing = [name for name in needed if name not in columns]
    if missing:
        raise CampaignFileError(
            f"the {source} has no column {', '.join(missing)} (columns: {', '.join(columns)})"
        )


def _audience_rows(campaign: Campaign) -> tuple[list[str], Iterator[Mapping[str, str]]]:
    csv_path = campaign.path("audience.csv")
    if csv_path is not None:
        return _csv_rows(csv_path, "audience.csv")
    url = campaign.sqlite_relative(str(campaign["audience.sql_url"]))
    return _sql_rows(url, str(campaign["audience.query"]))


def _csv_rows(path: Path, key: str) -> tuple[list[str], Iterator[Mapping[str, str]]]:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise CampaignFileError(f"{key}: {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise CampaignFileError(f"{key}: {path} is not UTF-8 text") from None
    reader = csv.DictReader(io.StringIO(text, newline=""))  # quoted fields keep line breaks
    columns = list(reader.fieldnames or [])
    return columns, iter(reader)


def _sql_rows(url: str, query: str) -> tuple[list[str], Iterator[Mapping[str, str]]]:
    from sqlalchemy import create_engine, text
    from sqlalchemy.exc import SQLAlchemyError

    try:
        engine = create_engine(url)
    except (SQLAlchemyError, ValueError, ImportError) as exc:  # ImportError: no driver
        raise CampaignFileError(f"audience.sql_url: {type(exc).__name__}: {exc}") from None
    try:
        with engine.connect() as conn:
            result = conn.execute(text(query))
            columns = list(result.keys())
            rows = [
                {name: "" if value is None else str(value) for name, value in row.items()}
                for row in result.mappings()
            ]
    except (SQLAlchemyError, ValueError) as exc:
        raise CampaignFileError(f"audience.query: {type(exc).__name__}: {exc}") from None
    finally:
        engine.dispose()
    return columns, iter(rows)
