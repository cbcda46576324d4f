"""The send's pure parts: one `Idempotency-Key` per campaign and contact, the same on every
attempt and every run, short and header-safe; and API statuses as fulfillment states."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from herald.campaign.send import FINAL, fulfillment_state, idempotency_key

NAMES = st.text(min_size=1, max_size=100)
KEYS = st.text(max_size=2000)


@given(NAMES, KEYS)
def test_the_key_is_stable_short_and_header_safe(campaign: str, contact: str) -> None:
    key = idempotency_key(campaign, contact)
    assert key == idempotency_key(campaign, contact)
    assert len(key) <= 255
    assert key.isascii() and key.isprintable() and " " not in key


@given(NAMES, KEYS, KEYS)
def test_contacts_of_one_campaign_get_distinct_keys(campaign: str, a: str, b: str) -> None:
    if a != b:
        assert idempotency_key(campaign, a) != idempotency_key(campaign, b)


@given(NAMES, NAMES, KEYS)
def test_one_contact_of_two_campaigns_gets_distinct_keys(a: str, b: str, contact: str) -> None:
    if a != b:
        assert idempotency_key(a, contact) != idempotency_key(b, contact)


def test_the_name_and_key_cannot_run_into_each_other() -> None:
    assert idempotency_key("spring", "-sale:1") != idempotency_key("spring-sale", ":1")
    assert idempotency_key("a", "seed:+14155550101") != idempotency_key("a", "+14155550101")


@pytest.mark.parametrize(
    ("status", "state"),
    [
        ("accepted", "queued"), ("scheduled", "queued"), ("queued", "queued"),
        ("sending", "sending"), ("sent", "sent"), ("delivered", "delivered"),
        ("read", "delivered"), ("undelivered", "undelivered"), ("failed", "failed"),
        ("canceled", "failed"), ("receiving", "receiving"),
    ],
)  # fmt: skip
def test_fulfillment_state(status: str, state: str) -> None:
    assert fulfillment_state(status) == state


def test_final_statuses_are_not_read_again() -> None:
    assert {"delivered", "undelivered", "failed", "canceled"} <= FINAL
    assert not {"accepted", "queued", "sending", "sent"} & FINAL
