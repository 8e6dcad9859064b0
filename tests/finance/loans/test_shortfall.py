from __future__ import annotations

from decimal import Decimal

import pytest

from finance.loans.shortfall import ltv_shortfall, shortfall_amount
from tests.vectors import fen, load

SHORTFALL = load("shortfall.json")


@pytest.mark.parametrize("name", sorted(SHORTFALL))
def test_shortfall_vectors_reproduce_to_the_fen(name: str) -> None:
    case = SHORTFALL[name]
    ltv = int(Decimal(case["ltv"]) * 10000)
    assert shortfall_amount(fen(case["outstanding"]), fen(case["security_value"]), ltv) == fen(case["shortfall"])


def test_shortfall_details() -> None:
    result = ltv_shortfall(100_000_000, 80_000_000, 5000)
    assert result.in_shortfall and result.ltv_bps == 12_500
    # Pledging ¥1.2m more security (¥2m in all at 50%) would cure it instead of repaying.
    assert result.security_needed == 120_000_000


def test_within_or_at_the_ratio_there_is_no_shortfall() -> None:
    assert ltv_shortfall(40_000_000, 80_000_000, 5000).amount == 0
    at_limit = ltv_shortfall(40_000_000, 80_000_000, 5000)
    assert not at_limit.in_shortfall and at_limit.ltv_bps == 5000
    assert shortfall_amount(40_000_001, 80_000_000, 5000) == 1


def test_worthless_security_makes_the_whole_loan_short() -> None:
    result = ltv_shortfall(100_000_000, 0, 5000)
    assert result.amount == 100_000_000 and result.ltv_bps is None
    assert ltv_shortfall(0, 0, 5000).amount == 0


def test_bad_inputs_are_refused() -> None:
    with pytest.raises(ValueError):
        ltv_shortfall(-1, 10, 5000)
    with pytest.raises(ValueError):
        ltv_shortfall(1, 10, 0)
