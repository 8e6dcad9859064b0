from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from finance.loans.accrual import days_past_due
from finance.loans.allocation import Allocation, InstalmentDue, allocate, apply, outstanding_principal
from finance.loans.schedule import build_schedule


def dues(principal: int = 100_000_000, term: int = 12, method: str = "equal_installment") -> list[InstalmentDue]:
    return [InstalmentDue(r.n, r.due_on, r.principal, r.interest)
            for r in build_schedule(principal, 435, term, method, date(2024, 1, 15))]


def test_penalty_then_interest_then_principal_oldest_first() -> None:
    book = dues()
    book[0] = book[0].with_penalty(15_462)
    book[1] = book[1].with_penalty(3_000)
    result = allocate(15_462 + 362_500 + 100_000, book)
    assert result.allocations == (Allocation(1, penalty=15_462, interest=362_500, principal=100_000),)
    assert result.unapplied == 0
    # The next payment finishes instalment 1 before touching instalment 2's penalty.
    book = apply(book, result)
    rest_of_1 = book[0].outstanding
    result = allocate(rest_of_1 + 3_000 + 10, book)
    assert result.allocations == (Allocation(1, principal=rest_of_1), Allocation(2, penalty=3_000, interest=10))
    book = apply(book, result)
    assert book[0].settled and book[1].interest_paid == 10


def test_allocation_follows_due_dates_not_list_order() -> None:
    book = dues()[:3]
    result = allocate(100, list(reversed(book)))
    assert [a.n for a in result.allocations] == [1]


def test_on_time_repayments_settle_the_loan_exactly() -> None:
    book = dues()
    for r in build_schedule(100_000_000, 435, 12, "equal_installment", date(2024, 1, 15)):
        result = allocate(r.payment, book, as_of=r.due_on)
        assert result.unapplied == 0 and result.for_instalment(r.n).total == r.payment
        book = apply(book, result)
    assert all(i.settled for i in book) and outstanding_principal(book) == 0


def test_money_beyond_what_is_due_is_unapplied_for_early_repayment() -> None:
    book = dues()
    result = allocate(9_000_000, book, as_of=date(2024, 2, 15))
    assert [a.n for a in result.allocations] == [1]
    assert result.unapplied == 9_000_000 - 8_530_990
    assert result.applied + result.unapplied == 9_000_000
    assert result.for_instalment(5) == Allocation(5)


def test_paying_everything_leaves_a_remainder() -> None:
    book = dues(10_000, 3)
    total = sum(i.due for i in book)
    result = allocate(total + 7, book)
    assert result.unapplied == 7
    assert all(i.settled for i in apply(book, result))


def test_late_instalments_show_days_past_due_until_paid() -> None:
    book = dues()
    assert days_past_due(book, date(2024, 3, 1)) == 15  # instalment 1 was due 15 Feb
    book = apply(book, allocate(book[0].due, book))
    assert days_past_due(book, date(2024, 3, 1)) == 0


def test_impossible_states_are_refused() -> None:
    with pytest.raises(ValueError):
        InstalmentDue(1, date(2024, 1, 1), 100, 10, principal_paid=101)
    with pytest.raises(ValueError):
        allocate(-1, dues())
    with pytest.raises(ValueError):
        dues()[0].with_penalty(100).with_penalty(50)


operation = st.one_of(
    st.tuples(st.just("repay"), st.integers(0, 30_000_000), st.one_of(st.none(), st.integers(0, 400))),
    st.tuples(st.just("penalty"), st.integers(0, 11), st.integers(0, 500_000)),
)


@settings(max_examples=300, deadline=None)
@given(principal=st.integers(1, 10**9), term=st.integers(1, 12),
       method=st.sampled_from(["equal_installment", "equal_principal", "interest_only"]),
       operations=st.lists(operation, max_size=25))
def test_paid_plus_outstanding_equals_due_after_any_repayments(principal: int, term: int, method: str,
                                                               operations: list[tuple]) -> None:
    book = dues(principal, term, method)
    money_in = applied = 0
    for kind, a, b in operations:
        if kind == "penalty":
            i = a % term
            book[i] = book[i].with_penalty(book[i].penalty_due + b)
            continue
        as_of = None if b is None else date(2024, 1, 15) + timedelta(days=b)  # None: every instalment
        result = allocate(a, book, as_of=as_of)
        assert result.applied + result.unapplied == a
        assert all(x.penalty >= 0 and x.interest >= 0 and x.principal >= 0 for x in result.allocations)
        book = apply(book, result)
        money_in += a
        applied += result.applied
    assert sum(i.paid for i in book) == applied <= money_in
    for item in book:
        for c in ("penalty", "interest", "principal"):
            paid, due = getattr(item, f"{c}_paid"), getattr(item, f"{c}_due")
            assert paid + item.outstanding_of(c) == due and 0 <= paid <= due
    assert outstanding_principal(book) + sum(i.principal_paid for i in book) == principal
