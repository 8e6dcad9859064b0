"""A loan's position: its schedule rows, what is owed on them today, and how a repayment is applied.

Pure maths comes from ``schedule`` (rows), ``accrual`` (penalty, days past due, classification) and
``allocation`` (penalty → interest → principal, oldest first); this module maps them onto the
``loan_installments`` rows.

The payoff is by daily accrual (``early``): what is due, plus all principal not yet due, plus the
current instalment's interest accrued to today. How a repayment is applied (charges, early close,
prepayment) is ``payoff.land``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from finance.loans import accrual, allocation, early, schedule
from finance.loans.models import Loan, LoanInstallment
from kernel.dates import add_months


def penalty_accrued(loan: Loan, row: LoanInstallment) -> int:
    """The penalty charged on ``row`` so far: its exact accrual rounded half-up once."""
    return accrual.charge_penalty(row.overdue_fen_days, loan.annual_rate_bps, loan.penalty_markup_bps)


def unpaid_scheduled(row: LoanInstallment) -> int:
    """Principal + interest of ``row`` still unpaid (what penalty accrues on when overdue)."""
    return row.principal - row.paid_principal + row.interest - row.paid_interest


def as_due(loan: Loan, row: LoanInstallment) -> allocation.InstalmentDue:
    return allocation.InstalmentDue(
        n=row.n, due_on=row.due_on, principal_due=row.principal, interest_due=row.interest,
        penalty_due=penalty_accrued(loan, row), principal_paid=row.paid_principal,
        interest_paid=row.paid_interest, penalty_paid=row.paid_penalty)


def new_rows(loan: Loan, start: date) -> list[LoanInstallment]:
    rows = schedule.build_schedule(loan.principal, loan.annual_rate_bps, loan.term_months,
                                   loan.repayment_method, start)
    return [LoanInstallment(loan_id=loan.id, n=r.n, due_on=r.due_on, payment=r.payment, principal=r.principal,
                            interest=r.interest, balance_after=r.balance_after) for r in rows]


def row_status(row: LoanInstallment, today: date, loan: Loan) -> str:
    owed = unpaid_scheduled(row) + penalty_accrued(loan, row) - row.paid_penalty
    if owed == 0:
        return "paid"
    if row.due_on < today:
        return "overdue"
    paid = row.paid_principal + row.paid_interest + row.paid_penalty
    return "partial" if paid else "pending"


@dataclass
class Position:
    """What a loan owes on a business date."""

    overdue_amount: int  # principal + interest of instalments past due
    penalty_outstanding: int
    due_now: int  # everything due on or before today (incl. penalty)
    payoff_amount: int  # what closes the loan today
    days_past_due: int
    next_due: LoanInstallment | None
    next_due_amount: int


def accrual_start(loan: Loan, rows: Sequence[LoanInstallment]) -> date:
    """Where the first period's interest begins: the disbursement date."""
    if loan.disbursed_on is not None:
        return loan.disbursed_on
    return add_months(rows[0].due_on, -1) if rows else date.min


def position(loan: Loan, rows: Sequence[LoanInstallment], today: date) -> Position:
    dues = [as_due(loan, r) for r in rows]
    overdue = sum(unpaid_scheduled(r) for r in rows if r.due_on < today)
    penalty = sum(d.outstanding_of("penalty") for d in dues)
    due_now = sum(d.outstanding for d in dues if d.due_on <= today)
    current = early.current_row(rows, today)
    payoff = due_now + sum(d.outstanding_of("principal") for d in dues if d.due_on > today)
    if current is not None:
        payoff += max(0, early.accrued_to(rows, current, today, loan.annual_rate_bps, accrual_start(loan, rows))
                      - current.paid_interest)
    nxt = next((r for r, d in zip(rows, dues, strict=True) if d.outstanding > 0), None)
    nxt_amount = 0
    if nxt is not None:
        nxt_amount = as_due(loan, nxt).outstanding
    return Position(overdue_amount=overdue, penalty_outstanding=penalty, due_now=due_now, payoff_amount=payoff,
                    days_past_due=accrual.days_past_due(dues, today), next_due=nxt, next_due_amount=nxt_amount)


def outstanding_principal(rows: Sequence[LoanInstallment]) -> int:
    return sum(r.principal - r.paid_principal for r in rows)


def settled(loan: Loan, rows: Sequence[LoanInstallment]) -> bool:
    return all(as_due(loan, r).outstanding == 0 for r in rows)
