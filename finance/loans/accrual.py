"""Penalty interest, days past due and the five-category classification.

Penalty interest (``../shared/vectors/penalty.json``): an overdue amount accrues, per day,
``amount × annual × (1 + markup) / 360``; the accrual is kept exact and rounded half-up once, when
charged.

Storage of the exact accrual: the contract fixes the rate and the markup, so the penalty is
``fen_days × annual × (1 + markup) / 360`` where ``fen_days`` = Σ (overdue fen × days overdue). The
day-end only adds an integer to ``fen_days`` (a BIGINT column: 10^12 fen × 10^4 days still fits), so
the database persists the accrual exactly with no Decimal column at all, and the rounding happens once
in ``charge_penalty``. If a rate ever changes mid-accrual, charge at the old rate first and restart
``fen_days`` at 0 — ``penalty_due`` subtracts what was already charged so nothing is charged twice.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from decimal import Decimal, localcontext
from enum import StrEnum
from typing import Protocol

from kernel.money import BPS, to_fen

DAY_COUNT = 360


def accrue_penalty(fen_days: int, overdue_fen: int, days: int = 1) -> int:
    """The accrual after ``days`` more days with ``overdue_fen`` overdue (a day-end step)."""
    if overdue_fen < 0 or days < 0 or fen_days < 0:
        raise ValueError("accrual inputs must not be negative")
    return fen_days + overdue_fen * days


def exact_penalty(fen_days: int, annual_rate_bps: int, markup_bps: int) -> Decimal:
    """The accrued penalty in fen, unrounded (for display; money comes from ``charge_penalty``)."""
    if annual_rate_bps < 0 or markup_bps < 0:
        raise ValueError("rates must not be negative")
    with localcontext() as ctx:
        ctx.prec = 60
        # One division at the end keeps the quotient exact wherever it terminates (ties stay ties).
        return Decimal(fen_days * annual_rate_bps * (int(BPS) + markup_bps)) / (BPS * BPS * DAY_COUNT)


def charge_penalty(fen_days: int, annual_rate_bps: int, markup_bps: int) -> int:
    """The penalty accrued so far, rounded half-up to the fen once."""
    if fen_days == 0 and annual_rate_bps >= 0 and markup_bps >= 0:
        return 0  # nothing accrued (most rows on most days): no Decimal arithmetic
    return to_fen(exact_penalty(fen_days, annual_rate_bps, markup_bps))


def penalty_due(fen_days: int, annual_rate_bps: int, markup_bps: int, already_charged: int) -> int:
    """What to charge now so the charges so far equal the rounded total (never negative)."""
    return max(0, charge_penalty(fen_days, annual_rate_bps, markup_bps) - already_charged)


def penalty_interest(overdue_fen: int, annual_rate_bps: int, markup_bps: int, days: int) -> int:
    """Penalty on one amount overdue for ``days`` days (the vector's case), rounded once."""
    return charge_penalty(accrue_penalty(0, overdue_fen, days), annual_rate_bps, markup_bps)


class DueItem(Protocol):
    @property
    def due_on(self) -> date: ...

    @property
    def outstanding(self) -> int: ...


def oldest_unpaid_due(installments: Iterable[DueItem], today: date) -> date | None:
    """The earliest due date before ``today`` with something still outstanding."""
    dates = [i.due_on for i in installments if i.outstanding > 0 and i.due_on < today]
    return min(dates, default=None)


def days_past_due(installments: Iterable[DueItem], today: date) -> int:
    """Days since the oldest unpaid due date; 0 when nothing is overdue (due today is not late yet)."""
    oldest = oldest_unpaid_due(installments, today)
    return 0 if oldest is None else (today - oldest).days


class Category(StrEnum):
    """Five-category loan classification (2023 rules), mildest first."""

    NORMAL = "normal"
    SPECIAL_MENTION = "special_mention"
    SUBSTANDARD = "substandard"
    DOUBTFUL = "doubtful"
    LOSS = "loss"


_ORDER = list(Category)
NON_PERFORMING = frozenset({Category.SUBSTANDARD, Category.DOUBTFUL, Category.LOSS})


def classify(days_past_due: int, at_least: Category | str | None = None) -> Category:
    """Category by days past due; ``at_least`` lets a bank's judgment (e.g. a restructuring) floor it."""
    if days_past_due < 0:
        raise ValueError("days past due must not be negative")
    if days_past_due > 360:
        category = Category.LOSS
    elif days_past_due > 270:
        category = Category.DOUBTFUL
    elif days_past_due > 90:
        category = Category.SUBSTANDARD
    elif days_past_due > 0:
        category = Category.SPECIAL_MENTION
    else:
        category = Category.NORMAL
    if at_least is not None:
        category = max(category, Category(at_least), key=_ORDER.index)
    return category


def is_non_performing(category: Category | str) -> bool:
    return Category(category) in NON_PERFORMING
