"""Reply keywords as Twilio matches them (the whole message, any case, trailing punctuation
forgiven), and suppression as seed 004 computes it: the latest opt-out or opt-in keyword
per recipient and sending number wins; HELP changes nothing."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from herald.campaign.keywords import (
    ALL,
    HELP,
    OPT_IN,
    OPT_OUT,
    Activity,
    Kind,
    keyword_of,
    kind_of,
    suppressed,
)

ANN, BO = "+14155550101", "+14155550102"
SENDER, OTHER_SENDER, FOREIGN = "+16195551234", "+16195551235", "+16195559999"


@pytest.mark.parametrize(
    ("body", "keyword"),
    [
        ("STOP", "STOP"),
        ("stop", "STOP"),
        ("Stop", "STOP"),
        ("  stop \n", "STOP"),
        ("Stop.", "STOP"),
        ("STOP!!", "STOP"),
        ("stop ?", "STOP"),
        ("unsubscribe", "UNSUBSCRIBE"),
        ("StopAll", "STOPALL"),
        ("start", "START"),
        ("Unstop!", "UNSTOP"),
        ("yes", "YES"),
        ("help?", "HELP"),
        ("info", "INFO"),
        ("STOP PLEASE", None),
        ("please stop", None),
        ("STOPP", None),
        ("S T O P", None),
        ("!STOP", None),
        ("Thanks!", None),
        ("", None),
        (None, None),
    ],
)
def test_keyword_of(body: str | None, keyword: str | None) -> None:
    assert keyword_of(body) == keyword


def test_keyword_classes_are_twilios_defaults() -> None:
    assert {"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT"} <= OPT_OUT
    assert {"START", "YES", "UNSTOP"} == OPT_IN
    assert {"HELP", "INFO"} == HELP
    assert not (OPT_OUT & OPT_IN or OPT_OUT & HELP or OPT_IN & HELP)
    assert [kind_of(w) for w in ("QUIT", "YES", "INFO")] == [Kind.OPT_OUT, Kind.OPT_IN, Kind.HELP]


@given(st.sampled_from(sorted(ALL)), st.text(" \t\n"), st.text(".!?,;:"), st.booleans())
def test_any_keyword_with_case_space_and_punctuation_is_read(
    word: str, space: str, punctuation: str, lower: bool
) -> None:
    body = space + (word.lower() if lower else word) + punctuation + space
    assert keyword_of(body) == word


def _a(phone: str, keyword: str, at_us: int, number: str = SENDER) -> Activity:
    return Activity(phone=phone, number=number, keyword=keyword, at_us=at_us)


def test_an_opt_out_suppresses() -> None:
    assert suppressed([_a(ANN, "STOP", 1)], [SENDER]) == {ANN}


def test_opt_in_after_opt_out_lifts_it_and_order_of_reading_does_not_matter() -> None:
    activities = [_a(ANN, "START", 2), _a(ANN, "STOP", 1), _a(BO, "START", 1), _a(BO, "STOP", 2)]
    assert suppressed(activities, [SENDER]) == {BO}
    assert suppressed(list(reversed(activities)), [SENDER]) == {BO}


def test_help_changes_nothing() -> None:
    assert suppressed([_a(ANN, "STOP", 1), _a(ANN, "HELP", 2)], [SENDER]) == {ANN}
    assert suppressed([_a(BO, "START", 1), _a(BO, "INFO", 2)], [SENDER]) == set()


def test_latest_wins_per_sending_number() -> None:
    activities = [_a(ANN, "STOP", 1, SENDER), _a(ANN, "START", 2, OTHER_SENDER)]
    assert suppressed(activities, [SENDER, OTHER_SENDER]) == {ANN}  # SENDER still opted out
    assert suppressed(activities, [OTHER_SENDER]) == set()


def test_keywords_to_numbers_outside_the_campaign_do_not_count() -> None:
    assert suppressed([_a(ANN, "STOP", 1, FOREIGN)], [SENDER]) == set()


def test_an_account_wide_entry_binds_every_number() -> None:
    assert suppressed([_a(ANN, "STOP", 1, number="")], [SENDER]) == {ANN}
    assert suppressed([_a(ANN, "STOP", 1, number="")], []) == {ANN}
    activities = [_a(ANN, "STOP", 1, number=""), _a(ANN, "START", 2, number="")]
    assert suppressed(activities, [SENDER]) == set()


def test_no_activity_suppresses_nobody() -> None:
    assert suppressed([], [SENDER]) == set()
