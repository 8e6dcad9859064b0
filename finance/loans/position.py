"""A loan's position: its schedule rows, what is owed on them today, and how a repayment is applied.

Pure maths comes from ``schedule`` (rows), ``accrual`` (penalty, days past due, classification) and
``allocation`` (penalty → interest → principal, oldest first); this module maps them onto the
``loan_installments`` rows.

Early repayment: once everything due is paid, the rest of a repayment first pays the current
period's instalment (the one not yet due: its interest, which runs on the balance the period began
with, then its principal) — so a borrower who pays an instalment a few days before its due date has
simply paid it — and only then prepays principal. The prepaid principal is booked on that current
instalment (its principal due and paid both rise), and the remaining balance is re-spread over the
same remaining due dates after it (``schedule.reamortise``), so the term is kept and the later
instalments shrink. Thus for every instalment and component paid + outstanding = due, and the
principals always sum to the loan.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from finance.loans import accrual, allocation, schedule
from finance.loans.models import Loan, LoanInstallment


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


def current_period(rows: Sequence[LoanInstallment], today: date) -> LoanInstallment | None:
    return next((r for r in rows if r.due_on > today), None)


def position(loan: Loan, rows: Sequence[LoanInstallment], today: date) -> Position:
    dues = [as_due(loan, r) for r in rows]
    overdue = sum(unpaid_scheduled(r) for r in rows if r.due_on < today)
    penalty = sum(d.outstanding_of("penalty") for d in dues)
    due_now = sum(d.outstanding for d in dues if d.due_on <= today)
    current = current_period(rows, today)
    payoff = due_now + sum(d.outstanding_of("principal") for d in dues if d.due_on > today)
    if current is not None:
        payoff += current.interest - current.paid_interest
    nxt = next((r for r, d in zip(rows, dues, strict=True) if d.outstanding > 0), None)
    nxt_amount = 0
    if nxt is not None:
        nxt_amount = as_due(loan, nxt).outstanding
    return Position(overdue_amount=overdue, penalty_outstanding=penalty, due_now=due_now, payoff_amount=payoff,
                    days_past_due=accrual.days_past_due(dues, today), next_due=nxt, next_due_amount=nxt_amount)


@dataclass
class Landing:
    penalty: int
    interest: int
    principal: int
    prepaid_principal: int


def allocate_repayment(loan: Loan, rows: list[LoanInstallment], amount: int, today: date) -> Landing:
    """Apply ``amount`` to the figures of ``rows`` in place (the caller checked it is ≤ the payoff amount)."""
    dues = [as_due(loan, r) for r in rows]
    result = allocation.allocate(amount, dues, as_of=today)
    by_n = {r.n: r for r in rows}
    pen = intr = prin = 0
    for a in result.allocations:
        row = by_n[a.n]
        row.paid_penalty += a.penalty
        row.paid_interest += a.interest
        row.paid_principal += a.principal
        pen, intr, prin = pen + a.penalty, intr + a.interest, prin + a.principal
    left = result.unapplied
    prepaid = 0
    current = current_period(rows, today)
    if left and current is not None:
        take = min(left, current.interest - current.paid_interest)
        current.paid_interest += take
        intr += take
        left -= take
    if left and current is not None:
        take = min(left, current.principal - current.paid_principal)
        current.paid_principal += take
        prin += take
        left -= take
    if left and current is not None:
        prepaid = left
        _prepay(loan, rows, current, prepaid)
        prin += prepaid
        left = 0
    if left:
        raise ValueError("repayment exceeds what is owed")
    # The rows' statuses follow from these figures (``row_status``); the caller moves them.
    return Landing(pen, intr, prin, prepaid)


def _prepay(loan: Loan, rows: list[LoanInstallment], current: LoanInstallment, amount: int) -> None:
    """Prepay ``amount`` of principal once the current instalment is paid in full: it is booked on the
    current instalment and the rest of the balance is re-spread over the later due dates."""
    tail = [r for r in rows if r.n > current.n]
    remaining = sum(r.principal - r.paid_principal for r in tail) - amount
    if not tail or remaining < 0:
        raise ValueError("prepayment exceeds the outstanding principal")
    fresh = schedule.reamortise(remaining, loan.annual_rate_bps, len(tail), loan.repayment_method,
                                [r.due_on for r in tail], first_n=tail[0].n)
    # The current period keeps the interest it began with (already settled); its principal gains the
    # prepaid amount, due and paid.
    current.paid_principal += amount
    current.principal += amount
    current.payment = current.principal + current.interest
    current.balance_after = remaining
    for row, new in zip(tail, fresh, strict=True):
        row.principal, row.interest, row.payment, row.balance_after = (new.principal, new.interest, new.payment,
                                                                       new.balance_after)
        row.paid_principal = row.paid_interest = 0


def outstanding_principal(rows: Sequence[LoanInstallment]) -> int:
    return sum(r.principal - r.paid_principal for r in rows)


def settled(loan: Loan, rows: Sequence[LoanInstallment]) -> bool:
    return all(as_due(loan, r).outstanding == 0 for r in rows)
