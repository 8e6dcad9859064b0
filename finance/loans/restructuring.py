"""The maths of a restructured schedule (展期 extension / 重组 reschedule) from an effective date E.

- Instalments due on or before E stay, with what was paid on them; their unpaid principal moves into
  the new schedule, their unpaid interest and penalty interest stay due (a bank restructures principal;
  arrears of interest are settled, not forgiven).
- The instalment whose period contains E closes at E with what was paid on it; the interest its
  period earned up to E (daily accrual, old rate) and not yet paid is carried into the first new
  instalment, so no day goes uncharged.
- Later instalments are dropped; the principal they carried moves into the new schedule.
- The new schedule spreads the moved principal over ``term_months`` from E at the new rate and method
  (``schedule.build_schedule``): principals always sum to the loan.

Pure: it changes the given rows in place and returns the new rows and the numbers of the dropped ones.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from finance.loans import early, schedule


@dataclass(frozen=True, slots=True)
class Restructured:
    principal: int  # what the new schedule spreads
    carried_interest: int  # added to the first new instalment
    new_rows: tuple[schedule.Installment, ...]  # interest of the first includes the carried interest
    removed: tuple[int, ...]


def restructure(rows: Sequence[early.Row], *, effective_on: date, start: date, old_rate_bps: int,
                new_rate_bps: int, term_months: int, method: str) -> Restructured:
    ordered = sorted(rows, key=lambda r: r.n)
    moved = 0
    for row in ordered:
        if row.due_on <= effective_on:
            moved += row.principal - row.paid_principal
            row.principal = row.paid_principal
            row.payment = row.principal + row.interest
    current = next((r for r in ordered if r.due_on > effective_on), None)
    carried = 0
    removed: list[int] = []
    if current is not None:
        carried = max(0, early.accrued_to(ordered, current, effective_on, old_rate_bps, start)
                      - current.paid_interest)
        moved += sum(r.principal - r.paid_principal for r in early.tail_of(ordered, current))
        moved += current.principal - current.paid_principal
        removed = [r.n for r in early.tail_of(ordered, current)]
        if current.paid_interest or current.paid_principal:
            current.principal, current.interest = current.paid_principal, current.paid_interest
            current.payment = current.principal + current.interest
            current.balance_after = moved
            current.due_on = effective_on
            current.paid_on = effective_on
        else:
            removed.insert(0, current.n)
    first_n = max((r.n for r in ordered if r.n not in removed), default=0) + 1
    fresh = schedule.build_schedule(moved, new_rate_bps, term_months, method, effective_on)
    new_rows = [schedule.Installment(n=first_n + i, due_on=r.due_on, payment=r.payment + (carried if i == 0 else 0),
                                     principal=r.principal, interest=r.interest + (carried if i == 0 else 0),
                                     balance_after=r.balance_after)
                for i, r in enumerate(fresh)]
    return Restructured(moved, carried, tuple(new_rows), tuple(removed))
