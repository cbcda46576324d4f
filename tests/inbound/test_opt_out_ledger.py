"""The opt-out ledger (Herald's `/herald/v1/Accounts/{AC}/OptOuts`): what keywords recorded
and where they came from, its filters, deleting an entry, and a ledger exported from one
account suppressing the same recipients in a fresh one."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from twilio.base.exceptions import TwilioRestException

from tests.conftest import Herald
from tests.inbound.tenant import Tenant, handset

CSV = {"Content-Type": "text/csv"}
JSON = {"Content-Type": "application/json"}


class Stopped:
    """A tenant whose handsets opted out: one to a number of the service, one to another
    number of it, one to a number outside it."""

    def __init__(self, herald: Herald) -> None:
        t = self.t = Tenant(herald)
        self.first, self.second, self.outside = t.pooled(), t.pooled(), t.own()
        self.to_service, self.to_second, self.to_outside = handset(), handset(), handset()
        self.inbound = {
            self.to_service: t.text(self.to_service, self.first, "STOP"),
            self.to_second: t.text(self.to_second, self.second, "unsubscribe."),
            self.to_outside: t.text(self.to_outside, self.outside, "Quit"),
        }

    def entries(self, **filters: str) -> list[dict[str, Any]]:
        answer = self.t.get(f"{self.t.ledger}.json", **filters)
        assert answer.status_code == 200, answer.text
        found: list[dict[str, Any]] = answer.json()["opt_outs"]
        return found

    def by_phone(self, **filters: str) -> dict[str, dict[str, Any]]:
        return {e["phone_number"]: e for e in self.entries(**filters)}


def _refused(t: Tenant, to: str, **params: str) -> int | None:
    """The error code a send is refused with, or None when it is accepted."""
    try:
        t.send(to, **params)
    except TwilioRestException as exc:
        return int(exc.code)
    return None


def test_keywords_are_listed_with_their_provenance(herald: Herald) -> None:
    s = Stopped(herald)
    listed = s.entries()
    assert len(listed) == 3
    found = {e["phone_number"]: e for e in listed}
    service = found[s.to_service]
    assert service["sid"].startswith("OO") and service["account_sid"] == s.t.account.sid
    assert (service["source"], service["scope"]) == ("keyword", "service")
    assert service["keyword"] == "STOP"
    assert (service["sender"], service["messaging_service_sid"]) == (s.first, s.t.service.sid)
    assert service["message_sid"] == s.inbound[s.to_service]["sid"]
    second = found[s.to_second]
    assert (second["keyword"], second["sender"]) == ("UNSUBSCRIBE", s.second)
    assert second["messaging_service_sid"] == s.t.service.sid
    outside = found[s.to_outside]
    assert (outside["keyword"], outside["scope"]) == ("QUIT", "sender")
    assert outside["sender"] == s.outside
    assert outside["messaging_service_sid"] is None
    assert outside["message_sid"] == s.inbound[s.to_outside]["sid"]

    fetched = s.t.get(f"{s.t.ledger}/{service['sid']}.json")
    assert fetched.status_code == 200 and fetched.json() == service
    missing = s.t.get(f"{s.t.ledger}/OO{'0' * 32}.json")
    assert missing.status_code == 404


def test_filters(herald: Herald) -> None:
    s = Stopped(herald)
    assert list(s.by_phone(PhoneNumber=s.to_second)) == [s.to_second]
    assert list(s.by_phone(Sender=s.outside)) == [s.to_outside]
    assert sorted(s.by_phone(MessagingServiceSid=s.t.service.sid)) == sorted(
        [s.to_service, s.to_second]
    )
    today = datetime.now(UTC)
    yesterday = (today - timedelta(days=1)).strftime("%Y-%m-%d")
    tomorrow = (today + timedelta(days=1)).strftime("%Y-%m-%d")
    assert len(s.entries(**{"DateCreated>": yesterday})) == 3
    assert s.entries(**{"DateCreated>": tomorrow}) == []
    assert s.entries(**{"DateCreated<": yesterday}) == []
    created = s.by_phone()[s.to_outside]["date_created"]
    assert s.to_outside in s.by_phone(**{"DateCreated>": created, "Sender": s.outside})
    bad = s.t.get(f"{s.t.ledger}.json", **{"DateCreated>": "last week"})
    assert bad.status_code == 400


def test_pages(herald: Herald) -> None:
    s = Stopped(herald)
    first = s.t.get(f"{s.t.ledger}.json", PageSize=2).json()
    assert len(first["opt_outs"]) == 2 and first["page_size"] == 2
    assert first["opt_outs"] == s.entries()[:2]  # newest first, as the whole list
    rest = s.t.get(first["next_page_uri"]).json()
    assert rest["next_page_uri"] is None
    phones = [e["phone_number"] for e in first["opt_outs"] + rest["opt_outs"]]
    assert sorted(phones) == sorted(s.inbound)


def test_deleting_an_entry_lets_the_sends_through(herald: Herald) -> None:
    s = Stopped(herald)
    t = s.t
    assert _refused(t, s.to_outside, from_=s.outside) == 21610
    entry = s.by_phone()[s.to_outside]
    assert t.delete(f"{t.ledger}/{entry['sid']}.json").status_code == 204
    assert t.get(f"{t.ledger}/{entry['sid']}.json").status_code == 404
    assert t.delete(f"{t.ledger}/{entry['sid']}.json").status_code == 404
    assert sorted(s.by_phone()) == sorted([s.to_service, s.to_second])
    assert t.settled(t.send(s.to_outside, from_=s.outside).sid).status == "delivered"
    assert _refused(t, s.to_service, from_=s.second) == 21610  # the others stay


def test_exports_carry_the_provenance(herald: Herald) -> None:
    s = Stopped(herald)
    exported = s.t.get(f"{s.t.ledger}/Export.csv")
    assert exported.status_code == 200
    assert exported.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    by_phone = {r["phone_number"]: r for r in rows}
    assert sorted(by_phone) == sorted(s.inbound)
    row = by_phone[s.to_service]
    assert (row["keyword"], row["sender"], row["source"]) == ("STOP", s.first, "keyword")
    assert row["messaging_service_sid"] == s.t.service.sid
    assert row["message_sid"] == s.inbound[s.to_service]["sid"]
    assert by_phone[s.to_outside]["messaging_service_sid"] == ""

    as_json = s.t.get(f"{s.t.ledger}/Export.json")
    assert as_json.status_code == 200
    assert sorted(as_json.json()["opt_outs"], key=lambda e: e["sid"]) == sorted(
        s.entries(), key=lambda e: e["sid"]
    )


@pytest.mark.parametrize("kind", ["csv", "json"])
def test_an_export_imported_into_a_fresh_account_suppresses_there(
    herald: Herald, kind: str
) -> None:
    s = Stopped(herald)
    exported = s.t.get(f"{s.t.ledger}/Export.{kind}").content
    fresh = Tenant(herald)
    theirs = fresh.own()
    pooled = fresh.pooled()
    stranger = handset()
    before = {phone: _refused(fresh, phone, from_=theirs) for phone in s.inbound}
    assert before == dict.fromkeys(s.inbound)

    headers = CSV if kind == "csv" else JSON
    imported = fresh.post(f"{fresh.ledger}/Import", content=exported, headers=headers)
    assert imported.status_code == 201, imported.text
    assert imported.json() == {"imported": 3, "by_scope": {"account": 3}}
    for phone in s.inbound:
        assert _refused(fresh, phone, from_=theirs) == 21610
        assert _refused(fresh, phone, from_=pooled) == 21610
        assert _refused(fresh, phone) == 21610
    assert _refused(fresh, stranger, from_=theirs) is None
    listed = fresh.get(f"{fresh.ledger}.json").json()["opt_outs"]
    assert {(e["source"], e["scope"], e["account_sid"]) for e in listed} == {
        ("import", "account", fresh.account.sid)
    }
    assert {e["phone_number"]: e["keyword"] for e in listed}[s.to_outside] == "QUIT"

    again = fresh.post(f"{fresh.ledger}/Import", content=exported, headers=headers)
    assert again.status_code == 201
    assert len(fresh.get(f"{fresh.ledger}.json").json()["opt_outs"]) == 3


def test_an_import_scoped_to_this_accounts_service(herald: Herald) -> None:
    t = Tenant(herald)
    ours, outside = t.pooled(), t.own()
    phone = handset()
    body = f"phone_number,messaging_service_sid\n{phone},{t.service.sid}\n"
    answer = t.post(f"{t.ledger}/Import", content=body.encode(), headers=CSV)
    assert answer.status_code == 201, answer.text
    assert answer.json()["by_scope"] == {"service": 1}
    assert _refused(t, phone, from_=ours) == 21610
    assert _refused(t, phone, from_=outside) is None


@pytest.mark.parametrize(
    ("body", "headers"),
    [
        (b"phone_number\n+16465550100\nnot-a-number\n", CSV),
        (b"number\n+16465550100\n", CSV),  # no phone_number column
        (b"+16465550100\n", CSV),  # no header row at all
        (b'[{"phone_number": "+16465550100"}, {"phone_number": "12"}]', JSON),
        (b'[{"phone_number": "+16465550100"}, {"sender": "+14155550100"}]', JSON),
        (b'{"opt_outs": "+16465550100"}', JSON),
        (b'[{"phone_number": "+16465550100"', JSON),
    ],
)
def test_a_bad_import_stores_nothing(herald: Herald, body: bytes, headers: dict[str, str]) -> None:
    t = Tenant(herald)
    answer = t.post(f"{t.ledger}/Import", content=body, headers=headers)
    assert answer.status_code == 400, answer.text
    assert answer.json()["code"] == 20001
    assert t.get(f"{t.ledger}.json").json()["opt_outs"] == []


def test_one_account_cannot_see_or_delete_anothers_entries(herald: Herald) -> None:
    s = Stopped(herald)
    other = Tenant(herald)
    entry = s.entries()[0]
    assert other.get(f"{other.ledger}.json").json()["opt_outs"] == []
    assert other.get(f"{other.ledger}/{entry['sid']}.json").status_code == 404
    assert other.delete(f"{other.ledger}/{entry['sid']}.json").status_code == 404
    assert other.get(f"{other.ledger}/Export.json").json()["opt_outs"] == []
    foreign = other.get(f"{s.t.ledger}.json")  # the owner's path, the other's credentials
    assert (foreign.status_code, foreign.json()["code"]) == (404, 20404)
    deleting = httpx.delete(f"{herald.base_url}{s.t.ledger}/{entry['sid']}.json", auth=other.auth)
    assert deleting.status_code == 404
    assert s.t.get(f"{s.t.ledger}/{entry['sid']}.json").status_code == 200


def test_a_second_stop_in_the_service_keeps_one_entry_with_the_newer_provenance(
    herald: Herald,
) -> None:
    s = Stopped(herald)
    first = s.by_phone()[s.to_service]
    again = s.t.text(s.to_service, s.second, "end")
    entries = s.entries(PhoneNumber=s.to_service)
    assert len(entries) == 1
    entry = entries[0]
    assert (entry["sid"], entry["date_created"]) == (first["sid"], first["date_created"])
    assert (entry["keyword"], entry["sender"]) == ("END", s.second)
    assert entry["message_sid"] == again["sid"]


def test_start_clears_an_imported_account_wide_entry(herald: Herald) -> None:
    t = Tenant(herald)
    ours = t.own()
    phone = handset()
    body = f"phone_number,keyword\n{phone},stop\n"
    answer = t.post(f"{t.ledger}/Import", content=body.encode(), headers=CSV)
    assert answer.json()["by_scope"] == {"account": 1}
    assert _refused(t, phone, from_=ours) == 21610
    t.text(phone, ours, "START")
    assert t.get(f"{t.ledger}.json").json()["opt_outs"] == []
    assert t.settled(t.send(phone, from_=ours).sid).status == "delivered"
