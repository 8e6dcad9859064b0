"""Repayment schedules: equal instalments (等额本息), equal principal (等额本金), interest-only then bullet (先息后本).

Conventions (``../shared/vectors/schedules.json`` reproduces to the fen):

- monthly rate = annual / 12;
- each row's interest = half-up(balance × monthly rate);
- equal instalment payment = half-up(P·r·(1+r)^n / ((1+r)^n − 1)), or half-up(P / n) when r = 0;
- equal principal = half-up(P / n) per row;
- the last row takes the remaining balance, so principals sum to P and the final balance is zero.

Rounding can make a regular row's principal overshoot the balance for tiny loans over long terms
(e.g. 7 fen over 10 months at half-up(0.7) = 1 fen a month); such a row is clamped to the balance and
the rows after it carry nothing, so no amount is ever negative.

Due dates fall on the disbursement day of each following month, clamped to the month's end, and stay
anchored to that day (31 Jan → 28/29 Feb → 31 Mar).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, localcontext
from enum import StrEnum

from kernel.dates import add_months
from kernel.money import BPS, to_fen

# Enough digits that (1+r)^360 and the payment quotient are exact far beyond the fen.
_PRECISION = 60


class Method(StrEnum):
    EQUAL_INSTALLMENT = "equal_installment"
    EQUAL_PRINCIPAL = "equal_principal"
    INTEREST_ONLY = "interest_only"


@dataclass(frozen=True, slots=True)
class Installment:
    n: int
    due_on: date
    payment: int
    principal: int
    interest: int
    balance_after: int


def due_dates(start: date, term_months: int) -> list[date]:
    """Due dates of a loan disbursed on ``start``: always computed from ``start``, never chained."""
    return [add_months(start, k) for k in range(1, term_months + 1)]


def monthly_rate(annual_rate_bps: int | Decimal) -> Decimal:
    """annual / 12 as an exact-enough Decimal. A Decimal argument allows fractional bps (948.22)."""
    with localcontext() as ctx:
        ctx.prec = _PRECISION
        return Decimal(annual_rate_bps) / BPS / 12


def level_payment(principal: int, annual_rate_bps: int | Decimal, term_months: int) -> int:
    """The equal-instalment payment in fen, half-up."""
    with localcontext() as ctx:
        ctx.prec = _PRECISION
        r = monthly_rate(annual_rate_bps)
        if r == 0:
            return to_fen(Decimal(principal) / term_months)
        growth = (1 + r) ** term_months
        return to_fen(Decimal(principal) * r * growth / (growth - 1))


def _amounts(principal: int, annual_rate_bps: int | Decimal, term: int,
             method: Method) -> Iterator[tuple[int, int, int]]:
    """(principal, interest, balance_after) per row."""
    r = monthly_rate(annual_rate_bps)
    payment = level_payment(principal, annual_rate_bps, term) if method is Method.EQUAL_INSTALLMENT else 0
    regular_principal = to_fen(Decimal(principal) / term) if method is Method.EQUAL_PRINCIPAL else 0
    balance = principal
    for n in range(1, term + 1):
        with localcontext() as ctx:
            ctx.prec = _PRECISION
            interest = to_fen(Decimal(balance) * r)
        if n == term:
            part = balance
        elif method is Method.EQUAL_INSTALLMENT:
            part = payment - interest
        elif method is Method.EQUAL_PRINCIPAL:
            part = regular_principal
        else:
            part = 0
        part = max(0, min(part, balance))
        balance -= part
        yield part, interest, balance


def _check(principal: int, annual_rate_bps: int | Decimal, term: int, method: str) -> Method:
    if principal < 0:
        raise ValueError("principal must not be negative")
    if annual_rate_bps < 0:
        raise ValueError("rate must not be negative")
    if term < 1:
        raise ValueError("term must be at least one month")
    return Method(method)


def _rows(principal: int, annual_rate_bps: int | Decimal, method: Method, dates: Sequence[date],
          first_n: int) -> list[Installment]:
    return [
        Installment(n=first_n + i, due_on=due_on, payment=part + interest, principal=part,
                    interest=interest, balance_after=balance)
        for i, (due_on, (part, interest, balance)) in enumerate(
            zip(dates, _amounts(principal, annual_rate_bps, len(dates), method), strict=True))
    ]


def build_schedule(principal: int, annual_rate_bps: int | Decimal, term_months: int, method: str,
                   start: date) -> list[Installment]:
    """The schedule of a loan of ``principal`` fen disbursed on ``start``.

    ``annual_rate_bps`` is an integer in the API; a Decimal is accepted for fractional basis points
    (Fineract's 9.4822% is ``Decimal("948.22")``).
    """
    kind = _check(principal, annual_rate_bps, term_months, method)
    return _rows(principal, annual_rate_bps, kind, due_dates(start, term_months), 1)


def reamortise(remaining_balance: int, annual_rate_bps: int | Decimal, remaining_installments: int,
               method: str, due_dates: Sequence[date], *, first_n: int = 1) -> list[Installment]:
    """Re-spread ``remaining_balance`` over the same remaining due dates after an early repayment.

    The term is kept and the remaining instalments shrink (a lower level payment, a lower equal
    principal, or a smaller bullet). Rows are numbered from ``first_n`` so they can replace the
    unpaid tail of the original schedule. Interest is on the balance from the start of the next
    period: the caller settles the current period's interest before prepaying.
    """
    kind = _check(remaining_balance, annual_rate_bps, remaining_installments, method)
    if len(due_dates) != remaining_installments:
        raise ValueError("one due date per remaining instalment is needed")
    if list(due_dates) != sorted(due_dates):
        raise ValueError("due dates must be in order")
    return _rows(remaining_balance, annual_rate_bps, kind, due_dates, first_n)
