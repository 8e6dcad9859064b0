"""Where a repayment goes, and what closes the loan on a date: penalty → charges → interest → principal.

1. penalty interest charged on instalments due (oldest first);
2. charges due (oldest due date first);
3. interest, then principal, of each instalment due, oldest first;
4. charges not yet due (only money beyond everything due reaches them);
5. the current instalment, paid early as scheduled or closed today by daily accrual, and beyond it a
   prepayment of principal that re-spreads (``reduce_payment``) or shortens (``reduce_term``) the rest
   (``finance.loans.early``).

The payoff on a date is the same walk with unlimited money: penalty (projected to that date) + charges +
instalments due + the current instalment's interest accrued to the date + all principal not yet due. A
payoff on the disbursement day is therefore the principal plus any charge the contract names.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date

from finance.loans import accrual, early, position
from finance.loans.models import Loan, LoanInstallment
from finance.servicing.models import LoanCharge


def penalty_charged(loan: Loan, row: LoanInstallment, extra_days: int = 0) -> int:
    """Penalty charged on ``row`` (``extra_days`` more day-ends projected, for a future payoff date)."""
    unpaid = row.principal - row.paid_principal + row.interest - row.paid_interest
    fen_days = row.overdue_fen_days + unpaid * max(0, extra_days)
    return accrual.charge_penalty(fen_days, loan.annual_rate_bps, loan.penalty_markup_bps)


@dataclass(frozen=True, slots=True)
class Payoff:
    on: date
    principal: int
    interest: int
    penalty: int
    charges: int

    @property
    def total(self) -> int:
        return self.principal + self.interest + self.penalty + self.charges


def payoff(loan: Loan, rows: Sequence[LoanInstallment], charges: Sequence[LoanCharge], today: date,
           on: date) -> Payoff:
    """What repays the loan in full on ``on`` (today or later), by daily accrual."""
    if on < today:
        raise ValueError("a payoff is quoted for today or a later date")
    penalty = sum(penalty_charged(loan, r, (on - max(today, r.due_on)).days) - r.paid_penalty for r in rows)
    interest = sum(r.interest - r.paid_interest for r in rows if r.due_on <= on)
    current = early.current_row(rows, on)
    if current is not None:
        interest += max(0, early.accrued_to(rows, current, on, loan.annual_rate_bps, position.accrual_start(loan, rows))
                        - current.paid_interest)
    principal = sum(r.principal - r.paid_principal for r in rows)
    owed_charges = sum(c.amount - c.paid for c in charges if c.status == "due")
    return Payoff(on, principal, interest, max(0, penalty), owed_charges)


@dataclass
class Landing:
    penalty: int = 0
    charges: int = 0
    interest: int = 0
    principal: int = 0
    prepaid_principal: int = 0
    closed_early: bool = False
    removed: tuple[int, ...] = ()
    charge_parts: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return self.penalty + self.charges + self.interest + self.principal


def _pay_charges(charges: Sequence[LoanCharge], left: int, out: Landing, *, due_by: date | None) -> int:
    for charge in sorted(charges, key=lambda c: (c.due_on, c.id)):
        if left == 0:
            break
        if charge.status != "due" or (due_by is not None and charge.due_on > due_by):
            continue
        take = min(left, charge.amount - charge.paid)
        if take:
            charge.paid += take
            out.charges += take
            out.charge_parts[charge.id] = out.charge_parts.get(charge.id, 0) + take
            left -= take
    return left


def land(loan: Loan, rows: Sequence[LoanInstallment], charges: Sequence[LoanCharge], amount: int, today: date,
         mode: early.Prepayment | str = early.Prepayment.REDUCE_PAYMENT) -> Landing:
    """Apply ``amount`` to the rows and charges in place (the caller capped it at today's payoff).
    Charges that reach their amount are left for the caller to move to ``paid`` (a workflow step)."""
    out = Landing()
    left = amount
    due = sorted((r for r in rows if r.due_on <= today), key=lambda r: (r.due_on, r.n))
    for row in due:
        take = min(left, penalty_charged(loan, row) - row.paid_penalty)
        if take > 0:
            row.paid_penalty += take
            out.penalty += take
            left -= take
    left = _pay_charges(charges, left, out, due_by=today)
    for row in due:
        for part in ("interest", "principal"):
            take = min(left, getattr(row, part) - getattr(row, f"paid_{part}"))
            if take > 0:
                setattr(row, f"paid_{part}", getattr(row, f"paid_{part}") + take)
                setattr(out, part, getattr(out, part) + take)
                left -= take
    left = _pay_charges(charges, left, out, due_by=None)
    current = early.current_row(rows, today)
    if left and current is not None:
        done = early.land_early(rows, current, today, left, annual_rate_bps=loan.annual_rate_bps,
                                method=loan.repayment_method, start=position.accrual_start(loan, rows), mode=mode)
        out.interest += done.interest
        out.principal += done.principal
        out.prepaid_principal, out.closed_early, out.removed = done.prepaid_principal, done.closed_early, done.removed
        left = 0
    if left:
        raise ValueError("the repayment exceeds what the loan owes")
    return out
