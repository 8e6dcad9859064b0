"""Money is integer fen; rates and shares are integer basis points.

Decimal is used only inside calculations, and becomes money at one place: ``to_fen`` (half-up).
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import ROUND_HALF_UP, Decimal

BPS = Decimal(10000)


def to_fen(value: Decimal) -> int:
    """Round a Decimal amount of fen half-up to a whole fen."""
    return int(value.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def bps(rate_bps: int) -> Decimal:
    """A basis-point integer as an exact Decimal fraction (435 -> 0.0435)."""
    return Decimal(rate_bps) / BPS


def apply_bps(amount: int, rate_bps: int) -> int:
    """``amount × rate`` rounded half-up to the fen."""
    return to_fen(Decimal(amount) * bps(rate_bps))


def split_largest_remainder(total: int, weights: Sequence[int]) -> list[int]:
    """Split ``total`` fen in proportion to ``weights`` so the parts sum to ``total`` exactly.

    Each part gets the floor of its exact share; the fen left over go one each to the parts with the
    largest remainders (ties to the earlier part, so the result is deterministic).
    """
    if total < 0:
        raise ValueError("total must not be negative")
    if any(w < 0 for w in weights):
        raise ValueError("weights must not be negative")
    weight_sum = sum(weights)
    if weight_sum == 0:
        if total:
            raise ValueError("cannot split a non-zero total over zero weights")
        return [0 for _ in weights]
    floors = [total * w // weight_sum for w in weights]
    remainders = [total * w % weight_sum for w in weights]
    left = total - sum(floors)
    order = sorted(range(len(weights)), key=lambda i: (-remainders[i], i))
    for i in order[:left]:
        floors[i] += 1
    return floors


def format_yuan(fen: int) -> str:
    sign = "-" if fen < 0 else ""
    fen = abs(fen)
    return f"{sign}¥{fen // 100:,}.{fen % 100:02d}"
