"""Which opt-out ledger entries refuse a send (§11.2)."""

from __future__ import annotations

from herald.domain.ledger import ACCOUNT_SCOPE, Block, Scope, ScopeKind, blocks, scope_of

SERVICE = "MG" + "1" * 32
OTHER_SERVICE = "MG" + "2" * 32
NUMBER = "+14155550100"


def test_a_keyword_counts_for_the_service_of_a_number_in_one_else_the_number() -> None:
    assert scope_of(NUMBER, SERVICE) == Scope(kind=ScopeKind.SERVICE, value=SERVICE)
    assert scope_of(NUMBER, None) == Scope(kind=ScopeKind.SENDER, value=NUMBER)
    assert scope_of(NUMBER, "") == Scope(kind=ScopeKind.SENDER, value=NUMBER)


def check(entry: Block, *, sender: str | None, services: tuple[str | None, ...]) -> bool:
    return blocks([entry], message_sid="SM1", sender=sender, service_sids=services)


def test_a_service_entry_refuses_every_send_through_or_from_that_service() -> None:
    entry = Block(scope_of(NUMBER, SERVICE), None)
    assert check(entry, sender=None, services=(SERVICE,))  # the service has not chosen yet
    assert check(entry, sender="+14155550199", services=(None, SERVICE))  # a pool number
    assert not check(entry, sender=NUMBER, services=(OTHER_SERVICE, None))
    assert not check(entry, sender=None, services=(None, None))


def test_a_sender_entry_refuses_that_sender_only() -> None:
    entry = Block(scope_of(NUMBER, None), None)
    assert check(entry, sender=NUMBER, services=(None,))
    assert not check(entry, sender="+14155550199", services=(None,))
    assert not check(entry, sender=None, services=(SERVICE,))


def test_an_account_entry_refuses_everything() -> None:
    assert check(Block(ACCOUNT_SCOPE, None), sender=None, services=())


def test_the_confirmation_of_the_opt_out_itself_still_goes() -> None:
    entry = Block(scope_of(NUMBER, None), "SM1")
    assert not check(entry, sender=NUMBER, services=())
    assert blocks(
        [entry, Block(ACCOUNT_SCOPE, None)], message_sid="SM1", sender=NUMBER, service_sids=()
    )


def test_no_entries_no_refusal() -> None:
    assert not blocks([], message_sid="SM1", sender=NUMBER, service_sids=(SERVICE,))
