"""Daily accrual, early close and prepayment, restructured schedules: golden vectors and Hypothesis."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from finance.loans import early, restructuring, schedule
from tests.vectors import fen

VECTORS = json.loads((Path(__file__).parent / "servicing_vectors.json").read_text(encoding="utf-8"))
START = date(2026, 3, 2)
RATE = 435


@dataclass
class R:
    n: int
    due_on: date
    payment: int
    principal: int
    interest: int
    balance_after: int
    paid_principal: int = 0
    paid_interest: int = 0
    carried_interest: int = 0
    accrues_from: date | None = None
    paid_on: date | None = None


def rows_for(principal: int = 100_000_000, rate: int = RATE, term: int = 12,
             method: str = "equal_installment", start: date = START) -> list[R]:
    return [R(i.n, i.due_on, i.payment, i.principal, i.interest, i.balance_after)
            for i in schedule.build_schedule(principal, rate, term, method, start)]


def pay_in_full(row: R) -> None:
    row.paid_principal, row.paid_interest, row.paid_on = row.principal, row.interest, row.due_on


def payoff(rows: list[R], on: date) -> int:
    due = sum(r.principal - r.paid_principal + r.interest - r.paid_interest for r in rows if r.due_on <= on)
    current = early.current_row(rows, on)
    return due + (early.payoff_of_current(rows, current, on, RATE, START) if current else 0)


@pytest.mark.parametrize("case", VECTORS["payoff_daily_accrual"]["cases"], ids=lambda c: c["on"])
def test_payoff_vectors(case: dict) -> None:
    rows = rows_for()
    for row in rows[:case["instalments_paid"]]:
        pay_in_full(row)
    on = date.fromisoformat(case["on"])
    current = early.current_row(rows, on)
    assert current is not None
    interest = early.accrued_to(rows, current, on, RATE, START) - current.paid_interest
    assert interest == fen(case["interest"])
    assert payoff(rows, on) == fen(case["total"])


@pytest.mark.parametrize("mode", ["reduce_payment", "reduce_term"])
def test_prepayment_vectors(mode: str) -> None:
    v = VECTORS[f"prepayment_{mode}"]
    rows = rows_for()
    on = date.fromisoformat(v["paid_on"])
    landing = early.land_early(rows, rows[0], on, fen(v["amount"]), annual_rate_bps=RATE,
                               method="equal_installment", start=START, mode=mode)
    assert (landing.interest, landing.principal, landing.prepaid_principal) == (
        fen(v["interest"]), fen(v["principal"]), fen(v["prepaid_principal"]))
    kept = [r for r in rows if r.n not in landing.removed]
    got = [{"n": r.n, "payment": r.payment, "principal": r.principal, "interest": r.interest,
            "balance_after": r.balance_after} for r in kept]
    want = [{k: (x if k == "n" else fen(x)) for k, x in row.items()} for row in v["rows"]]
    assert got == want
    assert kept[1].carried_interest == fen(v["carried_interest"]) and kept[1].accrues_from == on
    assert sum(r.principal for r in kept) == 100_000_000


def test_restructure_vector() -> None:
    v = VECTORS["restructure_reschedule"]
    rows = rows_for()
    for row in rows[:v["instalments_paid_on_time"]]:
        pay_in_full(row)
    out = restructuring.restructure(rows, effective_on=date.fromisoformat(v["effective_on"]), start=START,
                                    old_rate_bps=RATE, new_rate_bps=400, term_months=v["term_months"],
                                    method=v["method"])
    assert out.principal == fen(v["moved_principal"]) and out.carried_interest == fen(v["carried_interest"])
    assert out.removed == tuple(range(4, 13))
    assert out.new_rows[0].due_on == date.fromisoformat(v["first_due_on"])
    got = [{"n": r.n, "payment": r.payment, "principal": r.principal, "interest": r.interest,
            "balance_after": r.balance_after} for r in out.new_rows]
    assert got == [{k: (x if k == "n" else fen(x)) for k, x in row.items()} for row in v["rows"]]
    kept = [r for r in rows if r.n not in out.removed]
    assert sum(r.principal for r in kept) + out.principal == 100_000_000


def test_a_scheduled_instalment_paid_early_pays_that_instalment() -> None:
    rows = rows_for()
    on = START + timedelta(days=20)
    cost = early.close_cost(rows, rows[0], on, RATE, START)
    part = early.land_early(rows, rows[0], on, cost - 1, annual_rate_bps=RATE, method="equal_installment",
                            start=START)
    assert not part.closed_early and part.prepaid_principal == 0 and rows[0].paid_interest == rows[0].interest
    # The scheduled interest paid exceeds the 20 days accrued: closing now costs only the principal left,
    # and the interest paid beyond the accrual is taken off what is carried into instalment 2.
    accrued = early.accrued_to(rows, rows[0], on, RATE, START)
    left = rows[0].principal - rows[0].paid_principal
    assert early.close_cost(rows, rows[0], on, RATE, START) == left
    rest = early.land_early(rows, rows[0], on, left + 5, annual_rate_bps=RATE, method="equal_installment",
                            start=START)
    assert rest.closed_early and rest.prepaid_principal == 5 and rows[0].paid_on == on
    assert rows[0].paid_principal == rows[0].principal and rows[0].paid_interest == rows[0].interest
    full_stub = early.daily_interest(rows[0].balance_after, RATE, (rows[0].due_on - on).days)
    assert rows[1].carried_interest == full_stub - (rows[0].interest - accrued)


def test_overpaying_the_loan_is_refused() -> None:
    rows = rows_for(term=2)
    with pytest.raises(ValueError):
        early.land_early(rows, rows[0], START, 100_000_001, annual_rate_bps=RATE, method="equal_installment",
                         start=START)


@settings(max_examples=120, deadline=None)
@given(principal=st.integers(100, 10**10), rate=st.integers(0, 2400), term=st.integers(1, 36),
       method=st.sampled_from(["equal_installment", "equal_principal", "interest_only"]),
       steps=st.lists(st.tuples(st.integers(0, 45), st.integers(0, 10**6),
                                st.sampled_from(["reduce_payment", "reduce_term"])), max_size=10))
def test_prepayments_keep_every_fen(principal, rate, term, method, steps) -> None:
    """Whatever is prepaid, when and how: principals sum to the loan, nothing is negative, every fen paid
    is on a row, and the payoff after a full prepayment is zero."""
    rows = rows_for(principal, rate, term, method)
    today, paid = START, 0
    for gap, fraction, mode in steps:
        today += timedelta(days=gap)
        for row in rows:  # what fell due is paid on time
            if row.due_on <= today and row.paid_on is None:
                paid += row.principal - row.paid_principal + row.interest - row.paid_interest
                pay_in_full(row)
        current = early.current_row(rows, today)
        if current is None:
            break
        most = early.payoff_of_current(rows, current, today, rate, START)
        amount = most * fraction // 10**6
        landing = early.land_early(rows, current, today, amount, annual_rate_bps=rate, method=method,
                                   start=START, mode=mode)
        assert landing.interest + landing.principal == amount
        rows = [r for r in rows if r.n not in landing.removed]
        paid += amount
        assert sum(r.principal for r in rows) == principal
        assert all(r.principal >= 0 and r.interest >= 0 and r.payment == r.principal + r.interest for r in rows)
        assert all(0 <= r.paid_principal <= r.principal and 0 <= r.paid_interest <= r.interest for r in rows)
        assert sum(r.paid_principal + r.paid_interest for r in rows) == paid
        assert [r.due_on for r in rows] == sorted(r.due_on for r in rows)
        if amount == most:
            assert sum(r.principal - r.paid_principal for r in rows) == 0
