"""Hypothesis: whatever repayments land, when, and however late, paid + outstanding = what was due."""

from datetime import date, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from finance.loans import accrual, payoff, position
from finance.loans.models import Loan

START = date(2026, 1, 31)


def _loan(principal: int, rate: int, term: int, method: str) -> Loan:
    return Loan(id="loan_x", application_id="a", offer_id="o", borrower_org_id="b", bank_org_id="k",
                principal=principal, outstanding_principal=principal, annual_rate_bps=rate,
                penalty_markup_bps=5000, term_months=term, repayment_method=method, disbursed_on=START)


@settings(max_examples=150, deadline=None)
@given(principal=st.integers(1, 10**10), rate=st.integers(1, 2400), term=st.integers(1, 36),
       method=st.sampled_from(["equal_installment", "equal_principal", "interest_only"]),
       steps=st.lists(st.tuples(st.integers(0, 60), st.integers(0, 10**6), st.booleans(),
                                st.sampled_from(["reduce_payment", "reduce_term"])), max_size=12))
def test_paid_plus_outstanding_equals_due(principal, rate, term, method, steps):
    loan = _loan(principal, rate, term, method)
    rows = position.new_rows(loan, START)
    today = START
    paid_total = 0
    for gap, fraction, late, mode in steps:
        # Let days pass, accruing penalty as the day-end would.
        for _ in range(gap):
            for r in rows:
                if r.due_on <= today and position.unpaid_scheduled(r) > 0:
                    r.overdue_fen_days = accrual.accrue_penalty(r.overdue_fen_days, position.unpaid_scheduled(r))
            today += timedelta(days=1)
        total = position.position(loan, rows, today).payoff_amount
        assert total == payoff.payoff(loan, rows, [], today, today).total
        if total == 0:
            break
        amount = total if late else max(1, total * fraction // 10**6)
        landing = payoff.land(loan, rows, [], amount, today, mode)
        rows = [r for r in rows if r.n not in landing.removed]
        assert landing.penalty + landing.interest + landing.principal == amount
        paid_total += amount
        # Invariants after every repayment.
        assert sum(r.principal for r in rows) == principal
        assert all(0 <= r.paid_principal <= r.principal and 0 <= r.paid_interest <= r.interest for r in rows)
        assert all(0 <= r.paid_penalty <= position.penalty_accrued(loan, r) for r in rows)
        due = sum(r.principal + r.interest + position.penalty_accrued(loan, r) for r in rows)
        paid = sum(r.paid_principal + r.paid_interest + r.paid_penalty for r in rows)
        outstanding = sum(position.as_due(loan, r).outstanding for r in rows)
        assert paid == paid_total and paid + outstanding == due
        assert position.outstanding_principal(rows) == principal - sum(r.paid_principal for r in rows)
    if position.outstanding_principal(rows) == 0:
        assert position.position(loan, rows, today).payoff_amount == position.position(loan, rows, today).due_now
