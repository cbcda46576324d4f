"""The audience and seeds from real CSV files and a real SQLite database: numbers to E.164,
invalid rows counted (an empty key too), dedupe on the key then the phone, seeds counted
apart, and every template or file problem raised before a recipient is returned."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from herald.campaign.audience import Recipient, Tally, normalise, read
from herald.campaign.settings import Campaign, CampaignFileError
from herald.campaign.template import TemplateError, parse
from tests.campaign import campaign_file

CONTACTS = """\
contact_id,phone,first_name
c1,(415) 555-0101,Ann
c2,+1 415 555 0102,Bo
c1,+14155550103,Ann again
c3,415.555.0101,Cy
c4,12345,Di
c5,,Ed
,+14155550104,Fay
,+14155550105,Gus
c6,not a number,Hal
c7,+44 20 7946 0018,Ivy
c8, 415 555 0106 ,Jo
"""


def _campaign(tmp_path: Path, contacts: str = CONTACTS, **changes: object) -> Campaign:
    (tmp_path / "contacts.csv").write_text(contacts, encoding="utf-8")
    return campaign_file.campaign(tmp_path, {k.replace("__", "."): v for k, v in changes.items()})


def _read(campaign: Campaign) -> tuple[list[Recipient], Tally, Tally]:
    audience = read(campaign, parse(str(campaign["message.body"])))
    return audience.recipients, audience.contacts, audience.seeds


def test_contacts_normalised_deduplicated_and_counted(tmp_path: Path) -> None:
    recipients, contacts, seeds = _read(_campaign(tmp_path))
    assert recipients == [
        Recipient(key="c1", phone="+14155550101", body="Hi Ann"),
        Recipient(key="c2", phone="+14155550102", body="Hi Bo"),
        Recipient(key="c7", phone="+442079460018", body="Hi Ivy"),
        Recipient(key="c8", phone="+14155550106", body="Hi Jo"),
    ]
    assert (contacts.total, contacts.invalid, contacts.duplicates) == (11, 5, 2)
    assert contacts.invalid_rows == [
        ("c4", "12345"), ("c5", ""), ("", "+14155550104"), ("", "+14155550105"),
        ("c6", "not a number"),
    ]  # fmt: skip
    assert seeds == Tally()


def test_every_row_without_a_key_is_invalid_not_a_duplicate(tmp_path: Path) -> None:
    rows = "".join(f",+1415555010{i},X\n" for i in range(4))
    _recipients, contacts, _seeds = _read(
        _campaign(tmp_path, "contact_id,phone,first_name\n" + rows)
    )
    assert (contacts.total, contacts.invalid, contacts.duplicates) == (4, 4, 0)


def test_national_numbers_take_the_default_country(tmp_path: Path) -> None:
    contacts = "contact_id,phone,first_name\nuk,020 7946 0018,A\nus,(415) 555-0101,B\n"
    recipients, tally, _seeds = _read(_campaign(tmp_path, contacts, audience__default_country="gb"))
    assert [(r.key, r.phone) for r in recipients] == [("uk", "+442079460018")]
    assert tally.invalid_rows == [("us", "(415) 555-0101")]


@pytest.mark.parametrize(
    ("raw", "e164"),
    [
        ("(415) 555-0101", "+14155550101"),
        ("+1 (415) 555-0101", "+14155550101"),
        ("1-415-555-0101", "+14155550101"),
        ("+442079460018", "+442079460018"),
        ("12345", None),
        ("", None),
        ("+1" + "4" * 40, None),
        ("call me", None),
    ],
)
def test_normalise(raw: str, e164: str | None) -> None:
    assert normalise(raw, "US") == e164


def test_an_unknown_default_country_is_refused(tmp_path: Path) -> None:
    with pytest.raises(CampaignFileError, match=r"audience\.default_country: 'XX'"):
        _read(_campaign(tmp_path, audience__default_country="XX"))


def test_columns_are_named_in_the_campaign(tmp_path: Path) -> None:
    contacts = "id,mobile,first_name\n7,+14155550101,Ann\n"
    campaign = _campaign(
        tmp_path, contacts, audience__key_column="id", audience__phone_column="mobile"
    )
    assert _read(campaign)[0] == [Recipient(key="7", phone="+14155550101", body="Hi Ann")]


def test_a_missing_key_or_phone_column_is_refused(tmp_path: Path) -> None:
    with pytest.raises(CampaignFileError) as refused:
        _read(_campaign(tmp_path, "id,phone,first_name\n1,+14155550101,A\n"))
    assert str(refused.value) == (
        "the audience has no column contact_id (columns: id, phone, first_name)"
    )


def test_a_template_field_that_is_no_column_is_refused_first(tmp_path: Path) -> None:
    campaign = _campaign(tmp_path, message__body="Hi {first_name} from {city}")
    with pytest.raises(TemplateError, match=r"\{city\} not a column of the audience"):
        _read(campaign)


def test_a_quoted_field_keeps_its_line_breaks(tmp_path: Path) -> None:
    contacts = (
        'contact_id,phone,first_name\nc1,+14155550101,"Ann\nMarie"\nc2,+14155550102,"B\u2028o"\n'
    )
    recipients, _contacts, _seeds = _read(_campaign(tmp_path, contacts))
    assert [r.body for r in recipients] == ["Hi Ann\nMarie", "Hi B\u2028o"]


def test_a_byte_order_mark_is_not_part_of_the_first_column(tmp_path: Path) -> None:
    campaign = _campaign(tmp_path)
    (tmp_path / "contacts.csv").write_text(CONTACTS, encoding="utf-8-sig")
    assert len(_read(campaign)[0]) == 4


def test_a_file_that_is_not_utf8_is_refused(tmp_path: Path) -> None:
    campaign = _campaign(tmp_path)
    (tmp_path / "contacts.csv").write_bytes(
        "contact_id,phone,first_name\nc1,+14155550101,Zoë\n".encode("latin-1")
    )
    with pytest.raises(CampaignFileError, match=r"^audience.csv: .*contacts.csv is not UTF-8 text"):
        _read(campaign)


def test_a_missing_file_is_refused(tmp_path: Path) -> None:
    campaign = _campaign(tmp_path, audience__csv="absent.csv")
    with pytest.raises(CampaignFileError, match=r"^audience.csv: .*absent.csv: No such file"):
        _read(campaign)


SEEDS = """\
phone,first_name
+14155550199,Seed
(415) 555-0101,Copy of c1
+14155550199,Again
nonsense,X
+14155550198,Other
"""


def test_seeds_are_counted_apart_after_the_contacts(tmp_path: Path) -> None:
    (tmp_path / "seeds.csv").write_text(SEEDS, encoding="utf-8")
    recipients, contacts, seeds = _read(_campaign(tmp_path, seeds__csv="seeds.csv"))
    assert (contacts.total, contacts.invalid, contacts.duplicates) == (11, 5, 2)
    assert (seeds.total, seeds.invalid, seeds.duplicates) == (5, 1, 2)
    assert seeds.invalid_rows == [("nonsense", "nonsense")]
    assert [r.key for r in recipients] == [
        "c1", "c2", "c7", "c8", "seed:+14155550199", "seed:+14155550198"
    ]  # fmt: skip
    assert recipients[4] == Recipient(
        key="seed:+14155550199", phone="+14155550199", body="Hi Seed", is_seed=True
    )
    assert [r.is_seed for r in recipients] == [False] * 4 + [True] * 2


def test_seeds_with_a_key_column_are_keyed_by_it(tmp_path: Path) -> None:
    seeds = "contact_id,phone,first_name\ns1,+14155550199,A\ns1,+14155550198,B\nc1,+14155550197,C\n"
    (tmp_path / "seeds.csv").write_text(seeds, encoding="utf-8")
    recipients, _contacts, tally = _read(_campaign(tmp_path, seeds__csv="seeds.csv"))
    assert [r.key for r in recipients if r.is_seed] == ["seed:s1", "seed:c1"]
    assert (tally.total, tally.invalid, tally.duplicates) == (3, 0, 1)


def test_a_seed_list_needs_the_template_fields_and_a_phone(tmp_path: Path) -> None:
    (tmp_path / "seeds.csv").write_text("phone\n+14155550199\n", encoding="utf-8")
    with pytest.raises(TemplateError, match=r"\{first_name\} not a column of the seed list"):
        _read(_campaign(tmp_path, seeds__csv="seeds.csv"))
    (tmp_path / "seeds.csv").write_text("number,first_name\n+14155550199,A\n", encoding="utf-8")
    with pytest.raises(CampaignFileError, match="the seed list has no column phone"):
        _read(_campaign(tmp_path, seeds__csv="seeds.csv"))


def test_a_seed_list_that_is_not_utf8_is_refused(tmp_path: Path) -> None:
    (tmp_path / "seeds.csv").write_bytes(b"phone,first_name\n+14155550199,Zo\xeb\n")
    with pytest.raises(CampaignFileError, match=r"^seeds.csv: .*seeds.csv is not UTF-8 text"):
        _read(_campaign(tmp_path, seeds__csv="seeds.csv"))


def _database(path: Path) -> Path:
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE contacts (id INTEGER, mobile TEXT, first_name TEXT, opted INT)")
        db.executemany(
            "INSERT INTO contacts VALUES (?, ?, ?, ?)",
            [
                (1, "(415) 555-0101", "Ann", 1),
                (2, "+14155550102", None, 1),
                (2, "+14155550109", "Dup", 1),
                (3, "4155550101", "Same phone", 1),
                (4, "555", "Bad", 1),
                (5, "+14155550105", "Not opted in", 0),
            ],
        )
    db.close()
    return path


def test_an_sql_audience_is_read_like_a_csv(tmp_path: Path) -> None:
    database = _database(tmp_path / "crm.db")
    campaign = campaign_file.campaign(tmp_path, {
        "audience.csv": None, "audience.sql_url": f"sqlite:///{database}",
        "audience.query": "SELECT id, mobile, first_name FROM contacts WHERE opted ORDER BY rowid",
        "audience.key_column": "id", "audience.phone_column": "mobile",
    })  # fmt: skip
    recipients, contacts, _seeds = _read(campaign)
    assert recipients == [
        Recipient(key="1", phone="+14155550101", body="Hi Ann"),
        Recipient(key="2", phone="+14155550102", body="Hi "),  # NULL: empty
    ]
    assert (contacts.total, contacts.invalid, contacts.duplicates) == (5, 1, 2)
    assert contacts.invalid_rows == [("4", "555")]


@pytest.mark.parametrize(
    ("query", "error"),
    [
        ("SELECT id, mobile FROM nowhere", CampaignFileError),
        ("SELECT id, mobile FROM contacts", TemplateError),
    ],
)
def test_a_bad_query_is_refused(tmp_path: Path, query: str, error: type[Exception]) -> None:
    database = _database(tmp_path / "crm.db")
    campaign = campaign_file.campaign(tmp_path, {
        "audience.csv": None, "audience.sql_url": f"sqlite:///{database}",
        "audience.query": query, "audience.key_column": "id", "audience.phone_column": "mobile",
    })  # fmt: skip
    with pytest.raises(error, match=r"^(audience.query: OperationalError|message.body: )"):
        _read(campaign)
