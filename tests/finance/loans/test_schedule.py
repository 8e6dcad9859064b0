from __future__ import annotations

from datetime import date
from decimal import Decimal
from itertools import pairwise

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from finance.loans.schedule import Method, build_schedule, due_dates, level_payment, reamortise
from kernel.dates import add_months
from tests.vectors import fen, load

SCHEDULES = load("schedules.json")


def rate_bps(annual_rate: str) -> int | Decimal:
    value = Decimal(annual_rate) * 10000
    return int(value) if value == value.to_integral_value() else value


@pytest.mark.parametrize("name", sorted(SCHEDULES))
def test_schedule_vectors_reproduce_to_the_fen(name: str) -> None:
    case = SCHEDULES[name]
    rows = build_schedule(fen(case["principal"]), rate_bps(case["annual_rate"]), case["term_months"],
                          case["method"], date(2024, 1, 15))
    assert len(rows) == case["term_months"]
    by_n = {row.n: row for row in rows}
    for expected in case["rows"]:
        row = by_n[expected["n"]]
        got = (row.payment, row.interest, row.principal, row.balance_after)
        want = tuple(fen(expected[k]) for k in ("payment", "interest", "principal", "balance_after"))
        assert got == want, f"{name} row {expected['n']}"
    if "total_interest" in case:
        assert sum(r.interest for r in rows) == fen(case["total_interest"])


def test_level_payment_matches_numpy_financial() -> None:
    # npf.pmt(0.0435/12, 12, 1e6) = -85309.9004
    assert level_payment(100_000_000, 435, 12) == 8_530_990


def test_zero_rate_equal_installment_is_principal_over_term() -> None:
    rows = build_schedule(1_000, 0, 3, "equal_installment", date(2024, 1, 1))
    assert [(r.payment, r.principal, r.interest) for r in rows] == [(333, 333, 0), (333, 333, 0), (334, 334, 0)]


def test_due_dates_stay_anchored_to_the_disbursement_day() -> None:
    assert due_dates(date(2024, 1, 31), 4) == [date(2024, 2, 29), date(2024, 3, 31), date(2024, 4, 30),
                                               date(2024, 5, 31)]
    assert due_dates(date(2023, 1, 31), 2) == [date(2023, 2, 28), date(2023, 3, 31)]
    assert due_dates(date(2024, 11, 15), 3) == [date(2024, 12, 15), date(2025, 1, 15), date(2025, 2, 15)]
    assert add_months(date(2024, 2, 29), 12) == date(2025, 2, 28)
    assert [r.due_on for r in build_schedule(100_00, 435, 2, "interest_only", date(2024, 1, 30))] == [
        date(2024, 2, 29), date(2024, 3, 30)]


def test_tiny_loan_over_long_term_clamps_instead_of_going_negative() -> None:
    # half-up(7 / 10) = 1 fen a month would overshoot after 7 months.
    rows = build_schedule(7, 0, 10, "equal_principal", date(2024, 1, 1))
    assert [r.principal for r in rows] == [1] * 7 + [0, 0, 0]
    assert rows[-1].balance_after == 0


@pytest.mark.parametrize(("principal", "rate", "term", "method"), [
    (-1, 435, 12, "equal_installment"), (100, -1, 12, "equal_installment"), (100, 435, 0, "interest_only"),
])
def test_bad_inputs_are_refused(principal: int, rate: int, term: int, method: str) -> None:
    with pytest.raises(ValueError):
        build_schedule(principal, rate, term, method, date(2024, 1, 1))


def test_unknown_method_is_refused() -> None:
    with pytest.raises(ValueError):
        build_schedule(100, 435, 12, "balloon", date(2024, 1, 1))


def test_early_repayment_shrinks_the_remaining_instalments_over_the_same_term() -> None:
    rows = build_schedule(100_000_000, 435, 12, "equal_installment", date(2024, 1, 15))
    balance = rows[2].balance_after - 20_000_000  # after instalment 3, prepay ¥200,000
    dates = [r.due_on for r in rows[3:]]
    tail = reamortise(balance, 435, 9, "equal_installment", dates, first_n=4)
    assert [r.n for r in tail] == list(range(4, 13))
    assert [r.due_on for r in tail] == dates
    assert sum(r.principal for r in tail) == balance and tail[-1].balance_after == 0
    assert all(r.payment < rows[3].payment for r in tail)
    assert tail[0].payment == level_payment(balance, 435, 9)
    assert tail[0].interest == 200_845  # 554,055.90 × 0.3625% = 2,008.4527…


@pytest.mark.parametrize("method", ["equal_principal", "interest_only"])
def test_early_repayment_for_other_methods(method: str) -> None:
    rows = build_schedule(100_000_000, 435, 12, method, date(2024, 1, 15))
    balance = rows[5].balance_after - 10_000_000
    tail = reamortise(balance, 435, 6, method, [r.due_on for r in rows[6:]], first_n=7)
    assert sum(r.principal for r in tail) == balance
    assert tail[0].payment < rows[6].payment
    assert tail[-1].balance_after == 0


def test_reamortise_needs_one_date_per_instalment() -> None:
    with pytest.raises(ValueError):
        reamortise(1_000, 435, 3, "equal_installment", [date(2024, 2, 1), date(2024, 3, 1)])
    with pytest.raises(ValueError):
        reamortise(1_000, 435, 2, "equal_installment", [date(2024, 3, 1), date(2024, 2, 1)])


@settings(max_examples=300, deadline=None)
@given(principal=st.integers(1, 10**12), rate=st.integers(0, 3600), term=st.integers(1, 360),
       method=st.sampled_from(list(Method)),
       start=st.dates(min_value=date(2000, 1, 1), max_value=date(2080, 12, 31)))
def test_any_schedule_repays_exactly_the_principal(principal: int, rate: int, term: int, method: Method,
                                                   start: date) -> None:
    rows = build_schedule(principal, rate, term, method, start)
    assert len(rows) == term
    assert sum(r.principal for r in rows) == principal
    assert rows[-1].balance_after == 0
    balance = principal
    for row in rows:
        assert min(row.payment, row.principal, row.interest, row.balance_after) >= 0
        assert row.payment == row.principal + row.interest
        balance -= row.principal
        assert row.balance_after == balance
    assert all(a.due_on < b.due_on for a, b in pairwise(rows))
