from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

import pytest

from finance.loans.accrual import (
    Category,
    accrue_penalty,
    charge_penalty,
    classify,
    days_past_due,
    exact_penalty,
    is_non_performing,
    penalty_due,
    penalty_interest,
)
from tests.vectors import fen, load

PENALTY = load("penalty.json")


def bps(fraction: str) -> int:
    return int(Decimal(fraction) * 10000)


@pytest.mark.parametrize("name", sorted(PENALTY))
def test_penalty_vectors_reproduce_to_the_fen(name: str) -> None:
    case = PENALTY[name]
    args = (bps(case["annual_rate"]), bps(case["penalty_markup"]))
    assert penalty_interest(fen(case["overdue_amount"]), *args, case["days"]) == fen(case["penalty"])
    # Accrued day by day at day-end, it is the same amount: rounding happens once, at the charge.
    accrued = 0
    for _ in range(case["days"]):
        accrued = accrue_penalty(accrued, fen(case["overdue_amount"]))
    assert charge_penalty(accrued, *args) == fen(case["penalty"])


def test_accrual_is_exact_and_rounded_once() -> None:
    fen_days = accrue_penalty(0, 8_530_990, 10)
    assert fen_days == 85_309_900
    assert exact_penalty(fen_days, 435, 5000) == Decimal("15462.419375")
    # Rounding every day would lose 2 fen over ten days (1,546.24 → 1,546 a day).
    daily = sum(charge_penalty(8_530_990, 435, 5000) for _ in range(10))
    assert daily == 15_460 != charge_penalty(fen_days, 435, 5000) == 15_462


def test_incremental_charges_add_up_to_the_rounded_total() -> None:
    charged = 0
    fen_days = 0
    for day in range(1, 31):
        fen_days = accrue_penalty(fen_days, 8_530_990)
        if day % 7 == 0 or day == 30:
            charged += penalty_due(fen_days, 435, 5000, charged)
    assert charged == charge_penalty(fen_days, 435, 5000) == 46_387  # 46,387.258…
    assert penalty_due(fen_days, 435, 5000, charged) == 0


def test_half_fen_ties_round_up() -> None:
    # 1,200 fen-days at 15% with no markup = 1200 × 0.15 / 360 = 0.5 fen exactly.
    assert exact_penalty(1200, 1500, 0) == Decimal("0.5")
    assert charge_penalty(1200, 1500, 0) == 1
    assert charge_penalty(1199, 1500, 0) == 0


def test_negative_accrual_inputs_are_refused() -> None:
    with pytest.raises(ValueError):
        accrue_penalty(0, -1)
    with pytest.raises(ValueError):
        exact_penalty(10, -1, 0)


@dataclass
class Row:
    due_on: date
    outstanding: int


def test_days_past_due_counts_from_the_oldest_unpaid_due_date() -> None:
    rows = [Row(date(2024, 1, 15), 0), Row(date(2024, 2, 15), 500), Row(date(2024, 3, 15), 900)]
    assert days_past_due(rows, date(2024, 3, 20)) == 34
    assert days_past_due(rows, date(2024, 2, 15)) == 0  # due today is not late yet
    assert days_past_due(rows, date(2024, 2, 16)) == 1
    assert days_past_due([Row(date(2024, 1, 15), 0)], date(2025, 1, 1)) == 0
    assert days_past_due([], date(2025, 1, 1)) == 0


@pytest.mark.parametrize(("dpd", "category"), [
    (0, Category.NORMAL), (1, Category.SPECIAL_MENTION), (90, Category.SPECIAL_MENTION),
    (91, Category.SUBSTANDARD), (270, Category.SUBSTANDARD), (271, Category.DOUBTFUL),
    (360, Category.DOUBTFUL), (361, Category.LOSS), (5000, Category.LOSS),
])
def test_five_category_classification_boundaries(dpd: int, category: Category) -> None:
    assert classify(dpd) is category
    assert is_non_performing(category) == (dpd > 90)


def test_classification_floor_from_judgment() -> None:
    assert classify(0, at_least="substandard") is Category.SUBSTANDARD
    assert classify(300, at_least=Category.SPECIAL_MENTION) is Category.DOUBTFUL
    with pytest.raises(ValueError):
        classify(-1)
