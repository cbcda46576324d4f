"""`herald campaign` pointed at a plain Twilio-shaped stub (not Herald, sharing none of its
code) works end to end: the connector speaks Twilio's public REST API only (issue 14).

One audience of a few hundred rows, with duplicates by key and by phone, invalid and
national-format numbers, a recipient who texted STOP to the sending number, one who
texted STOP then START, and seeds. Against the stub's 429s, 503s and dropped answers
every recipient gets exactly one message; sync copies the outcomes the stub decided and
the replies, once; report writes a row per recipient.
"""

from __future__ import annotations

import contextlib
import csv
import json
import sqlite3
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from herald.campaign.cli import main
from tests.campaign.twilio_stub import Answer, StubError, TwilioStub
from tests.conftest import eventually

ACCOUNT = "AC" + "0123456789abcdef" * 2
TOKEN = "stub-auth-token"
SENDER = "+16195551234"  # a US long code: 1 MPS
OTHER_NUMBER = "+16195551299"  # also the account's, not the campaign's
BODY = "Hi {first_name}, 20% off everything today at the spring sale. Reply STOP to opt out."
PRICE = 0.0079
UCS2_NAME = "Zoë"  # ë is in neither GSM-7 table
LONG_NAME = " ".join(["Bartholomew"] * 9)  # pushes the GSM-7 body past 160 septets
FINAL = ("delivered", "undelivered", "failed")

PEOPLE = 200
SAME_KEY, SAME_PHONE = 8, 7
INVALID_PHONES = ("12345", "not a phone", "", "+1415200", "555-0100", "+999123456789")


@dataclass(frozen=True, slots=True)
class Person:
    key: str
    phone: str  # E.164, what the stub must be sent
    first_name: str

    @property
    def body(self) -> str:
        return BODY.format(first_name=self.first_name)


def _first_name(i: int) -> str:
    return {5: UCS2_NAME, 6: LONG_NAME}.get(i % 30, f"Ann{i}")


PEOPLE_LIST = [Person(f"c{i:04d}", f"+1415200{i:04d}", _first_name(i)) for i in range(PEOPLE)]
SEEDS = [Person(f"seed-{i}", f"+1212200000{i}", "Seed") for i in range(1, 4)]
STOPPED = PEOPLE_LIST[20]  # texted STOP to the sending number: not sent
CAME_BACK = PEOPLE_LIST[21]  # texted STOP, then START: sent
ELSEWHERE = PEOPLE_LIST[22]  # texted STOP to another number: sent
UNDELIVERED = {PEOPLE_LIST[30].phone, PEOPLE_LIST[31].phone}
FAILED = {PEOPLE_LIST[32].phone}
SENT_TO = [p for p in PEOPLE_LIST if p is not STOPPED] + SEEDS
ROWS = PEOPLE + SAME_KEY + SAME_PHONE + len(INVALID_PHONES) + 1  # and one row with no key


def _written(person: Person, i: int) -> str:
    """Every tenth number in national format, as a CRM export has them."""
    if i % 10:
        return person.phone
    return f"({person.phone[2:5]}) {person.phone[5:8]}-{person.phone[8:]}"


def _write_audience(path: Path) -> None:
    rows = [(p.key, _written(p, i), p.first_name) for i, p in enumerate(PEOPLE_LIST)]
    rows += [(p.key, "+14159999999", "Again") for p in PEOPLE_LIST[:SAME_KEY]]  # a key twice
    rows += [  # another key, a number already there, written otherwise
        (f"d{i:03d}", f"+1 {p.phone[2:5]}-{p.phone[5:8]}-{p.phone[8:]}", "Twin")
        for i, p in enumerate(PEOPLE_LIST[10 : 10 + SAME_PHONE])
    ]
    rows += [(f"x{i:03d}", phone, "Bad") for i, phone in enumerate(INVALID_PHONES)]
    rows.append(("", "+14152009999", "Nokey"))  # no key: a rerun could not recognise it
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(["contact_id", "phone", "first_name"])
        writer.writerows(rows)
    assert len(rows) == ROWS


def _write_seeds(path: Path) -> None:
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(["contact_id", "phone", "first_name"])
        writer.writerows((s.key, s.phone, s.first_name) for s in SEEDS)


def _write_campaign(directory: Path, base_url: str) -> Path:
    _write_audience(directory / "contacts.csv")
    _write_seeds(directory / "seeds.csv")
    file = directory / "campaign.toml"
    file.write_text(
        f"""
name = "spring-sale"
[api]
base_url = "{base_url}"
account_sid = "{ACCOUNT}"
auth_token = "{TOKEN}"
[message]
from = "{SENDER}"
body = "{BODY}"
[audience]
csv = "contacts.csv"
key_column = "contact_id"
phone_column = "phone"
default_country = "US"
[seeds]
csv = "seeds.csv"
[send]
concurrency = 8
retry_min_s = 0.01
retry_max_s = 0.1
[sync]
database_url = "sqlite:///campaign.db"
[estimate]
price_per_segment = {PRICE}
""",
        encoding="utf-8",
    )
    return file


def _plant_opt_outs(stub: TwilioStub) -> None:
    """Keywords texted before the campaign, hours apart (the API dates to the second)."""
    hours_ago = datetime.now(UTC) - timedelta(hours=3)
    stub.receive(STOPPED.phone, SENDER, "STOP", at=hours_ago)
    stub.receive(CAME_BACK.phone, SENDER, "Stop", at=hours_ago)
    stub.receive(CAME_BACK.phone, SENDER, "START", at=hours_ago + timedelta(hours=1))
    stub.receive(ELSEWHERE.phone, OTHER_NUMBER, "STOP", at=hours_ago)


def _stub(**faults: Any) -> TwilioStub:
    return TwilioStub(
        ACCOUNT, TOKEN, (SENDER, OTHER_NUMBER), step_delay=0.01, retry_after=0.01,
        undelivered_to=UNDELIVERED, failed_to=FAILED, **faults,
    )  # fmt: skip


def run(capsys: pytest.CaptureFixture[str], command: str, file: Path, *flags: str) -> Any:
    """`herald campaign COMMAND FILE --json`: its JSON line, after a zero exit."""
    code = main([command, str(file), "--json", "--no-progress", *flags])
    out, err = capsys.readouterr()
    assert code == 0, err
    return json.loads(out.splitlines()[-1])


def _rows(database: Path, query: str) -> list[tuple[Any, ...]]:
    with contextlib.closing(sqlite3.connect(database)) as conn:
        return conn.execute(query).fetchall()


def _expected_segments(person: Person) -> tuple[str, int]:
    body = person.body
    if person.first_name == UCS2_NAME:
        assert 70 < len(body) <= 2 * 67
        return "UCS-2", 2
    if person.first_name == LONG_NAME:
        assert 160 < len(body) <= 2 * 153
        return "GSM-7", 2
    assert len(body) <= 160
    return "GSM-7", 1


@pytest.fixture
def stub() -> Iterator[TwilioStub]:
    with _stub(rate_limit_every=7, unavailable_every=11) as running:
        _plant_opt_outs(running)
        yield running


@pytest.fixture
def file(tmp_path: Path, stub: TwilioStub) -> Path:
    return _write_campaign(tmp_path, stub.base_url)


COUNTS = {"total": ROWS, "invalid": len(INVALID_PHONES) + 1,
          "duplicates": SAME_KEY + SAME_PHONE, "suppressed": 1, "seeds": len(SEEDS)}  # fmt: skip


def test_dry_run_counts_estimates_locally_and_sends_nothing(
    capsys: pytest.CaptureFixture[str], stub: TwilioStub, file: Path
) -> None:
    totals = run(capsys, "dry-run", file)

    assert {key: totals[key] for key in COUNTS} == COUNTS
    assert totals["recipients"] == len(SENT_TO)
    expected = [_expected_segments(p) for p in SENT_TO]
    segments = sum(n for _, n in expected)
    assert segments > len(SENT_TO)  # the UCS-2 and the long bodies take two each
    assert totals["encodings"] == dict(Counter(encoding for encoding, _ in expected))
    assert totals["segments"] == segments
    assert totals["estimated_cost"] == pytest.approx(segments * PRICE)
    assert (totals["mps"], totals["estimated_seconds"]) == (1.0, segments)
    assert totals["previewed"] is False
    assert (stub.posts, stub.created) == (0, [])


def test_send_through_429s_and_503s_sends_each_recipient_once_and_a_rerun_nothing(
    capsys: pytest.CaptureFixture[str], stub: TwilioStub, file: Path
) -> None:
    totals = run(capsys, "send", file)

    assert {key: totals[key] for key in COUNTS} == COUNTS
    assert (totals["sent"], totals["seeds_sent"], totals["failed"]) == (len(SENT_TO), 3, 0)
    assert stub.rate_limited > 0 and stub.unavailable > 0
    assert totals["retries"] == stub.rate_limited + stub.unavailable
    sent = Counter(message.to for message in stub.created)
    assert sent == Counter(p.phone for p in SENT_TO)
    assert STOPPED.phone not in sent  # STOP to the sending number holds
    assert sent[CAME_BACK.phone] == sent[ELSEWHERE.phone] == 1  # START undid it; another number's
    bodies = {message.to: message.body for message in stub.created}
    assert all(bodies[p.phone] == p.body for p in SENT_TO)
    assert {message.from_ for message in stub.created} == {SENDER}
    # the sending number's replies, read once; no lookups where no answer was lost
    assert stub.request_counts[("GET", "Messages")] == 1

    posts = stub.posts
    again = run(capsys, "send", file)

    assert (again["sent"], again["failed"], again["already_sent"]) == (0, 0, len(SENT_TO))
    assert (stub.posts, len(stub.created)) == (posts, len(SENT_TO))


def test_lost_answers_are_found_at_the_target_not_sent_again(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    with _stub(drop_every=5) as stub:
        _plant_opt_outs(stub)
        file = _write_campaign(tmp_path, stub.base_url)
        # one try each: every lost answer is settled by looking, the last one's too
        totals = run(capsys, "send", file, "--send-max-attempts", "1")

        # every fifth create's answer is lost; none is made again
        assert (stub.posts, stub.dropped) == (len(SENT_TO), len(SENT_TO) // 5)
        assert (totals["sent"], totals["failed"]) == (len(SENT_TO), 0)
        assert Counter(message.to for message in stub.created) == Counter(p.phone for p in SENT_TO)
        # one look at the recipient's messages per lost answer, besides the replies' read
        assert stub.request_counts[("GET", "Messages")] == 1 + stub.dropped
        stored = dict(
            _rows(tmp_path / "campaign.db", "SELECT phone, message_sid FROM campaign_contacts")
        )
        assert {m.to: m.sid for m in stub.created} == {
            phone: sid for phone, sid in stored.items() if sid
        }


def _send_and_settle(capsys: pytest.CaptureFixture[str], stub: TwilioStub, file: Path) -> None:
    """A send, then the stub's statuses final and two replies: a STOP and a thank-you."""
    assert run(capsys, "send", file)["sent"] == len(SENT_TO)
    eventually(lambda: all(stub.message(m.sid)["status"] in FINAL for m in stub.created), 5)
    stub.receive(PEOPLE_LIST[40].phone, SENDER, "stop")
    stub.receive(PEOPLE_LIST[41].phone, SENDER, "Thanks!")


def _outcomes() -> Counter[str]:
    return Counter(
        "failed" if p.phone in FAILED else "undelivered" if p.phone in UNDELIVERED else "delivered"
        for p in SENT_TO
    )


def test_sync_loads_the_stubs_outcomes_and_the_replies_and_a_second_adds_nothing(
    capsys: pytest.CaptureFixture[str], stub: TwilioStub, file: Path
) -> None:
    _send_and_settle(capsys, stub, file)
    database = file.parent / "campaign.db"
    states_after_send = _rows(database, "SELECT count(*) FROM campaign_states")[0][0]

    totals = run(capsys, "sync", file)

    outcomes = _outcomes()
    assert outcomes == {"delivered": len(SENT_TO) - 3, "undelivered": 2, "failed": 1}
    assert {key: totals[key] for key in ("sent", "queued", "sending", *FINAL)} == {
        "sent": len(SENT_TO), "queued": 0, "sending": 0, **outcomes,
    }  # fmt: skip
    assert (totals["replies"], totals["opt_outs"], totals["new_replies"]) == (2, 1, 2)
    assert totals["new_states"] == len(SENT_TO) + 2  # a final state each, and the replies
    contacts = _rows(
        database, "SELECT phone, state, status, error_code, message_sid FROM campaign_contacts"
    )
    by_phone = {phone: rest for phone, *rest in contacts}
    codes = {"delivered": None, "undelivered": 30003, "failed": 30008}
    for message in stub.created:
        outcome = stub.outcome_for(message.to)
        assert by_phone[message.to] == ["sent", outcome, codes[outcome], message.sid]
    assert by_phone[STOPPED.phone] == ["suppressed", None, None, None]
    replies = _rows(database, "SELECT phone, keyword FROM campaign_replies")
    assert sorted(replies) == [(PEOPLE_LIST[40].phone, "STOP"), (PEOPLE_LIST[41].phone, None)]
    opted_out = _rows(database, "SELECT phone, number, activity FROM campaign_suppression")
    assert (PEOPLE_LIST[40].phone, SENDER, "STOP") in opted_out
    states = _rows(database, "SELECT count(*) FROM campaign_states")[0][0]
    assert states == states_after_send + totals["new_states"]

    again = run(capsys, "sync", file)

    assert (again["new_states"], again["new_replies"], again["messages_read"]) == (0, 0, 0)
    same = ("sent", *FINAL, "replies", "opt_outs")
    assert {key: again[key] for key in same} == {key: totals[key] for key in same}
    assert _rows(database, "SELECT count(*) FROM campaign_states")[0][0] == states


def test_report_writes_a_row_per_recipient_and_the_counts(
    capsys: pytest.CaptureFixture[str], stub: TwilioStub, file: Path, tmp_path: Path
) -> None:
    _send_and_settle(capsys, stub, file)
    synced = run(capsys, "sync", file)

    totals = run(capsys, "report", file, "--out-dir", str(tmp_path / "out"))

    counts = {key: synced[key] for key in ("sent", "queued", "sending", *FINAL, "replies",
                                           "opt_outs")}  # fmt: skip
    assert {key: totals[key] for key in counts} == counts
    with Path(totals["csv"]).open(encoding="utf-8") as written:
        rows = {row["contact_key"]: row for row in csv.DictReader(written)}
    recipients = [*PEOPLE_LIST, *SEEDS]
    invalid = [row for row in rows.values() if row["state"] == "invalid"]
    assert len(invalid) == COUNTS["invalid"]  # kept with what the file said, for fixing
    assert {row["phone"] for row in invalid} == {*INVALID_PHONES, "+14152009999"}
    assert len(rows) - len(invalid) == len(recipients)
    for person in recipients:
        row = rows[f"seed:{person.key}" if person in SEEDS else person.key]
        assert row["phone"] == person.phone
        if person is STOPPED:
            assert (row["state"], row["status"]) == ("suppressed", "")
        else:
            outcome = stub.outcome_for(person.phone)
            assert (row["state"], row["status"], row["fulfillment_state"]) == (
                "sent", outcome, outcome,
            )  # fmt: skip
    assert (rows[PEOPLE_LIST[40].key]["opted_out"], rows[PEOPLE_LIST[40].key]["reply"]) == (
        "True", "stop",
    )  # fmt: skip
    assert rows[PEOPLE_LIST[41].key]["reply"] == "Thanks!"
    document = json.loads(Path(totals["json"]).read_text(encoding="utf-8"))
    assert document["counts"] == counts
    assert len(document["recipients"]) == len(rows)


def test_wrong_credentials_fail_with_exit_1_and_say_so(
    capsys: pytest.CaptureFixture[str], stub: TwilioStub, file: Path
) -> None:
    for command in ("dry-run", "send", "sync"):
        code = main([command, str(file), "--json", "--no-progress", "--api-auth-token", "wrong"])

        out, err = capsys.readouterr()
        assert (code, out) == (1, "")
        assert "refused the credentials" in err and "401 20003 Authenticate" in err
    assert stub.posts == 0


@pytest.mark.parametrize(
    ("right", "wrong", "said"),
    [
        ("[send]", "[sends]", "[sends] is not a section"),
        ("concurrency = 8", "concurrency = 0", "send.concurrency: must be 1 to 1000"),
        ("{first_name}", "{last_name}", "{last_name} not a column of the audience"),
    ],
)
def test_a_campaign_file_error_exits_2_before_any_request(
    capsys: pytest.CaptureFixture[str], stub: TwilioStub, file: Path,
    right: str, wrong: str, said: str,
) -> None:  # fmt: skip
    file.write_text(file.read_text(encoding="utf-8").replace(right, wrong), encoding="utf-8")

    code = main(["send", str(file), "--json", "--no-progress"])

    out, err = capsys.readouterr()
    assert (code, out) == (2, "")
    assert err.startswith("herald campaign: ") and said in err and err.count("\n") == 1, err
    assert not stub.request_counts


class LookupsDown(TwilioStub):
    """The stub with one more fault: while `lookups_down`, listing a recipient's messages
    answers 503 (the sending number's replies still list)."""

    lookups_down = True

    def handle(
        self, method: str, target: str, authorization: str | None, body: bytes
    ) -> Answer | None:
        query = parse_qs(urlsplit(target).query)
        if self.lookups_down and method == "GET" and query.get("To", [SENDER]) != [SENDER]:
            return StubError(503, 20503, "Service Unavailable").answer()
        return super().handle(method, target, authorization, body)


def test_a_rerun_looks_for_the_messages_a_run_gave_up_on_before_sending_again(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    few = [Person(f"f{i}", f"+1415300000{i}", "Ann") for i in range(6)]
    with (tmp_path / "few.csv").open("w", encoding="utf-8") as out:
        out.write("contact_id,phone,first_name\n")
        out.writelines(f"{p.key},{p.phone},{p.first_name}\n" for p in few)
    with LookupsDown(ACCOUNT, TOKEN, (SENDER,), step_delay=0.01, drop_every=1) as stub:
        file = _write_campaign(tmp_path, stub.base_url)
        flags = ("--audience-csv", "few.csv", "--seeds-csv", "", "--send-max-attempts", "1")
        gave_up = run(capsys, "send", file, *flags)

        assert (gave_up["sent"], gave_up["failed"]) == (0, len(few))
        assert Counter(m.to for m in stub.created) == Counter(p.phone for p in few)

        stub.lookups_down = False
        posts = stub.posts
        again = run(capsys, "send", file, *flags)

        assert (again["sent"], again["failed"]) == (len(few), 0)
        assert stub.posts == posts  # each found where it was, before any create
        assert Counter(m.to for m in stub.created) == Counter(p.phone for p in few)
