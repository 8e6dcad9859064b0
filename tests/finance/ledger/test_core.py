"""The pure rules: line validation, balance maths, limits and the hash."""

import pytest

from finance.ledger.core import (
    GENESIS_HASH,
    Chart,
    Line,
    Recipes,
    entry_hash,
    mirror,
    signed_balance,
    validate_lines,
    violates_limit,
)
from kernel.errors import ValidationFailed


def test_a_balanced_entry_passes():
    lines = validate_lines([("a", "debit", 70), ("b", "debit", 30), ("c", "credit", 100)])
    assert [x.amount for x in lines] == [70, 30, 100]


@pytest.mark.parametrize("lines, loc", [
    ([("a", "debit", 100)], ["lines"]),
    ([("a", "debit", 100), ("b", "credit", 99)], ["lines"]),
    ([("a", "debit", 0), ("b", "credit", 0)], ["lines", 0, "amount"]),
    ([("a", "debit", -5), ("b", "credit", -5)], ["lines", 0, "amount"]),
    ([("a", "debit", 1.5), ("b", "credit", 1.5)], ["lines", 0, "amount"]),
    ([("a", "debit", True), ("b", "credit", True)], ["lines", 0, "amount"]),
    ([("a", "left", 5), ("b", "credit", 5)], ["lines", 0, "side"]),
    ([("", "debit", 5), ("b", "credit", 5)], ["lines", 0, "account"]),
    ([("a", "debit", 5), ("a", "credit", 5)], ["lines"]),
    ([("a", "debit", 10**15 + 1), ("b", "credit", 10**15 + 1)], ["lines", 0, "amount"]),
])
def test_bad_lines_are_refused(lines, loc):
    with pytest.raises(ValidationFailed) as err:
        validate_lines(lines)
    assert err.value.errors[0]["loc"] == loc


def test_signed_balance_follows_the_normal_side():
    assert signed_balance("debit", 100, 30) == 70
    assert signed_balance("credit", 100, 30) == -70
    assert violates_limit("no_negative", "debit", 10, 11)
    assert not violates_limit("no_negative", "debit", 11, 11)
    assert violates_limit("no_negative", "credit", 11, 10)
    assert not violates_limit("none", "debit", 0, 10**9)


def test_mirror_swaps_sides_and_keeps_amounts():
    lines = Recipes.compensation("p1", 500)
    back = mirror(lines)
    assert [(x.account, x.side, x.amount) for x in back] == [
        (Chart.compensation_expense("p1"), "credit", 500), (Chart.cash("p1"), "debit", 500)]
    assert mirror(back) == lines


def test_every_recipe_balances():
    recipes = [Recipes.capital_in("p", 9), Recipes.deposit_to_bank("p", "b", 9), Recipes.deposit_returned("p", "b", 9),
               Recipes.compensation("p", 9), Recipes.compensation("p", 9, "b"), Recipes.recovery("p", 9),
               Recipes.subsidy_funding("p", 9), Recipes.subsidy_payout("p", 9), Recipes.fee_received("p", 9),
               Recipes.fee_paid("p", 9)]
    for lines in recipes:
        assert len(validate_lines(lines)) == 2
    assert Recipes.compensation("p", 9, "b")[1] == Line(Chart.bank_deposit("p", "b"), "credit", 9)


def test_hash_covers_entry_postings_and_the_previous_hash():
    entry = {"id": "e1", "seq": 1, "description": "x"}
    postings = [{"line_no": 2, "account_id": "b", "side": "credit", "amount": 5},
                {"line_no": 1, "account_id": "a", "side": "debit", "amount": 5}]
    h = entry_hash(entry, postings, GENESIS_HASH)
    assert len(h) == 64
    assert h == entry_hash(dict(entry), list(reversed(postings)), GENESIS_HASH)  # order-free by line_no
    assert h != entry_hash({**entry, "description": "y"}, postings, GENESIS_HASH)
    assert h != entry_hash(entry, [{**postings[0], "amount": 6}, postings[1]], GENESIS_HASH)
    assert h != entry_hash(entry, postings, "1" * 64)
