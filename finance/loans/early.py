"""Daily accrual to a payoff or prepayment date, closing the current instalment early, and prepayments.

Domain §6 "Servicing": interest to a payoff or prepayment date is principal × annual / 360 × days since
the instalment period began (the last due date, or the disbursement or restructuring date), half-up to
the fen, so a payoff on the disbursement day is the principal.

Each schedule row's interest is ``carried_interest`` (interest carried in from before the row's period,
see below) plus the period's regular interest (balance × annual / 12). For the *current* instalment (the
first one not yet due) on a date D inside its period [accrues_from, due_on):

- ``accrued_to(D)`` = carried + half-up(balance at period start × annual × days / 360);
- a payment smaller than what closes the instalment today (the interest accrued to D less interest
  already paid, plus its unpaid principal) pays the instalment early as scheduled: interest, then
  principal;
- a payment that reaches it **closes the instalment today**: its interest becomes the interest accrued
  to D, its principal is paid, and anything beyond is a prepayment of principal, booked on this
  instalment (principal due and paid both rise). The later instalments are re-spread
  (``reduce_payment``: same dates, smaller payments) or cut short (``reduce_term``: same payment level,
  fewer instalments). The balance left after D still owes interest from D to the closed instalment's
  due date: it is carried into the next instalment (``carried_interest``), less any interest the
  borrower had already paid beyond the accrual, so no day is charged twice or left free.

Rows are anything with the ``Row`` attributes (the ``loan_installments`` table, or a dataclass in tests);
functions change them in place and return the rows that a shortened term removes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, localcontext
from enum import StrEnum
from typing import Protocol

from finance.loans import schedule
from kernel.money import BPS, to_fen

DAY_COUNT = 360


class Prepayment(StrEnum):
    REDUCE_PAYMENT = "reduce_payment"
    REDUCE_TERM = "reduce_term"


class Row(Protocol):
    n: int
    due_on: date
    payment: int
    principal: int
    interest: int
    balance_after: int
    paid_principal: int
    paid_interest: int
    carried_interest: int
    accrues_from: date | None
    paid_on: date | None


def daily_interest(balance: int, annual_rate_bps: int, days: int) -> int:
    """half-up(balance × annual / 360 × days), one division so ties stay ties."""
    if balance < 0 or days < 0 or annual_rate_bps < 0:
        raise ValueError("accrual inputs must not be negative")
    with localcontext() as ctx:
        ctx.prec = 60
        return to_fen(Decimal(balance * annual_rate_bps * days) / (BPS * DAY_COUNT))


def outstanding(row: Row) -> int:
    return row.principal - row.paid_principal + row.interest - row.paid_interest


def current_row(rows: Sequence[Row], on: date) -> Row | None:
    """The instalment whose period contains ``on``: the first one falling due after it that still owes
    something (an instalment closed early is behind the borrower)."""
    return next((r for r in sorted(rows, key=lambda r: r.n) if r.due_on > on and outstanding(r) > 0), None)


def regular_start(rows: Sequence[Row], row: Row, start: date) -> date:
    """Where ``row``'s regular (monthly) interest period begins: the previous due date, or ``start``."""
    before = [r.due_on for r in rows if r.n < row.n]
    return max(before) if before else start


def period_start(rows: Sequence[Row], row: Row, start: date) -> date:
    """When ``row``'s interest began to run: ``accrues_from`` when set (an early close or a
    restructuring), else the start of its regular period."""
    return row.accrues_from or regular_start(rows, row, start)


def opening_balance(row: Row) -> int:
    """The principal outstanding when ``row``'s period began (its own principal plus what follows it)."""
    return row.principal + row.balance_after


def accrued_to(rows: Sequence[Row], row: Row, on: date, annual_rate_bps: int, start: date) -> int:
    """The interest ``row`` has earned by ``on``.

    Two kinds of carried interest: after an early close on D the next row's ``accrues_from`` is D and
    its carried interest covers D up to its regular period (it is earned day by day, less any credit);
    after a restructuring ``accrues_from`` is the effective date and the carried interest was earned
    before it.
    """
    regular = regular_start(rows, row, start)
    balance = opening_balance(row)
    if row.accrues_from is not None and row.accrues_from < regular:
        from_ = row.accrues_from
        if on < regular:
            credit = daily_interest(balance, annual_rate_bps, (regular - from_).days) - row.carried_interest
            return max(0, daily_interest(balance, annual_rate_bps, max(0, (on - from_).days)) - max(0, credit))
        return row.carried_interest + daily_interest(balance, annual_rate_bps, (on - regular).days)
    days = max(0, (on - period_start(rows, row, start)).days)
    return row.carried_interest + daily_interest(balance, annual_rate_bps, days)


def close_cost(rows: Sequence[Row], row: Row, on: date, annual_rate_bps: int, start: date) -> int:
    """What closes ``row`` on ``on``: interest accrued and not yet paid, plus its unpaid principal."""
    interest = max(0, accrued_to(rows, row, on, annual_rate_bps, start) - row.paid_interest)
    return interest + row.principal - row.paid_principal


def tail_of(rows: Sequence[Row], row: Row) -> list[Row]:
    return sorted((r for r in rows if r.n > row.n), key=lambda r: r.n)


def payoff_of_current(rows: Sequence[Row], row: Row, on: date, annual_rate_bps: int, start: date) -> int:
    """What the current instalment and everything after it cost on ``on`` (daily accrual)."""
    return close_cost(rows, row, on, annual_rate_bps, start) + sum(
        r.principal - r.paid_principal for r in tail_of(rows, row))


@dataclass(frozen=True, slots=True)
class Landing:
    interest: int
    principal: int
    prepaid_principal: int
    closed_early: bool
    removed: tuple[int, ...] = ()  # numbers of the rows a shorter term dropped


def land_early(rows: Sequence[Row], row: Row, on: date, amount: int, *, annual_rate_bps: int, method: str,
               start: date, mode: Prepayment | str = Prepayment.REDUCE_PAYMENT) -> Landing:
    """Apply ``amount`` (money left once everything due is paid) to the current instalment ``row``.

    Raises ValueError when ``amount`` is more than the current instalment and the rest of the principal
    cost today (the caller caps repayments at the payoff).
    """
    if amount < 0:
        raise ValueError("amount must not be negative")
    cost = close_cost(rows, row, on, annual_rate_bps, start)
    if amount < cost:
        interest = min(amount, row.interest - row.paid_interest)
        principal = amount - interest
        if principal > row.principal - row.paid_principal:
            raise ValueError("a part-payment cannot exceed the instalment")
        row.paid_interest += interest
        row.paid_principal += principal
        return Landing(interest, principal, 0, False)
    accrued = accrued_to(rows, row, on, annual_rate_bps, start)
    interest = max(0, accrued - row.paid_interest)
    excess_interest = max(0, row.paid_interest - accrued)
    row.interest = row.paid_interest + interest
    row.paid_interest = row.interest
    principal = row.principal - row.paid_principal
    row.paid_principal = row.principal
    tail = tail_of(rows, row)
    tail_principal = sum(r.principal - r.paid_principal for r in tail)
    prepaid = amount - interest - principal
    if prepaid > tail_principal:
        raise ValueError("the repayment exceeds what the loan owes")
    remaining = tail_principal - prepaid
    row.principal += prepaid
    row.paid_principal += prepaid
    row.balance_after = remaining
    row.payment = row.principal + row.interest
    row.paid_on = on
    removed: tuple[int, ...] = ()
    if tail:
        stub = max(0, daily_interest(remaining, annual_rate_bps, (row.due_on - on).days) - excess_interest)
        removed = respread(tail, remaining, annual_rate_bps=annual_rate_bps, method=method, mode=mode,
                           carried=stub, accrues_from=on)
    return Landing(interest, principal + prepaid, prepaid, True, removed)


def _regular_payment(tail: Sequence[Row]) -> int:
    return tail[0].payment - tail[0].carried_interest


def _term_rows(balance: int, annual_rate_bps: int, method: str, dates: Sequence[date], payment: int,
               principal_each: int) -> list[tuple[int, int, int]] | None:
    """(principal, interest, balance_after) keeping the payment level (equal instalment) or the principal
    per row (equal principal), as few rows as that takes. None when the level cannot amortise."""
    r = schedule.monthly_rate(annual_rate_bps)
    out: list[tuple[int, int, int]] = []
    for i, _ in enumerate(dates):
        if balance == 0:
            break
        with localcontext() as ctx:
            ctx.prec = 60
            interest = to_fen(Decimal(balance) * r)
        last = i == len(dates) - 1
        part = payment - interest if method == schedule.Method.EQUAL_INSTALLMENT else principal_each
        if part <= 0 and not last:
            return None
        part = balance if last else min(part, balance)
        balance -= part
        out.append((part, interest, balance))
    return out


def respread(tail: Sequence[Row], remaining: int, *, annual_rate_bps: int, method: str,
             mode: Prepayment | str, carried: int, accrues_from: date) -> tuple[int, ...]:
    """Give the unpaid ``tail`` a new schedule for ``remaining`` principal; returns dropped row numbers.

    The tail rows carry no payments yet (only due and current instalments take money)."""
    if any(r.paid_principal or r.paid_interest for r in tail):
        raise ValueError("only unpaid instalments are re-spread")
    dates = [r.due_on for r in tail]
    amounts: list[tuple[int, int, int]] | None = None
    if Prepayment(mode) is Prepayment.REDUCE_TERM and method != schedule.Method.INTEREST_ONLY:
        amounts = _term_rows(remaining, annual_rate_bps, method, dates, _regular_payment(tail),
                             tail[0].principal)
    if amounts is None:
        fresh = schedule.reamortise(remaining, annual_rate_bps, len(tail), method, dates, first_n=tail[0].n)
        amounts = [(f.principal, f.interest, f.balance_after) for f in fresh]
    for i, row in enumerate(tail[:len(amounts)]):
        part, interest, balance = amounts[i]
        extra = carried if i == 0 else 0
        row.principal, row.interest, row.balance_after = part, interest + extra, balance
        row.carried_interest = extra
        row.payment = part + interest + extra
        row.accrues_from = accrues_from if i == 0 else None
    if not amounts and tail:
        # Everything prepaid with a shorter term: the carried interest still falls due on the next date.
        first = tail[0]
        first.principal, first.interest, first.balance_after = 0, carried, 0
        first.carried_interest, first.payment, first.accrues_from = carried, carried, accrues_from
        return tuple(r.n for r in tail[1:])
    return tuple(r.n for r in tail[len(amounts):])
