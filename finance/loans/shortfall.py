"""Collateral (loan-to-value) shortfall, as Frappe Lending computes it (``vectors/shortfall.json``).

When outstanding / security value exceeds the allowed LTV, the shortfall is
``outstanding − value × ltv``: what the borrower must repay (or cover with new security) to bring the
loan back within the ratio. A security worth nothing (a lapsed or invalidated patent) leaves the whole
outstanding as the shortfall.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from kernel.money import BPS, apply_bps, to_fen


@dataclass(frozen=True, slots=True)
class Shortfall:
    amount: int  # fen to repay to restore the LTV (0 when within it)
    ltv_bps: int | None  # current outstanding / value in bps, half-up; None when the value is 0
    security_needed: int  # extra security value (fen) that would cure the shortfall instead

    @property
    def in_shortfall(self) -> bool:
        return self.amount > 0


def ltv_shortfall(outstanding: int, security_value: int, max_ltv_bps: int) -> Shortfall:
    if outstanding < 0 or security_value < 0:
        raise ValueError("amounts must not be negative")
    if not 0 < max_ltv_bps <= 100 * int(BPS):
        raise ValueError("the allowed LTV must be positive")
    ratio = to_fen(Decimal(outstanding) * BPS / security_value) if security_value else None
    # Exact comparison in integers: outstanding / value > ltv  ⇔  outstanding·10⁴ > value·ltv_bps.
    if outstanding * int(BPS) <= security_value * max_ltv_bps:
        return Shortfall(0, ratio, 0)
    amount = outstanding - apply_bps(security_value, max_ltv_bps)
    # Value v' with outstanding = v'·ltv, rounded up so the added security really cures it.
    needed = -(-outstanding * int(BPS) // max_ltv_bps) - security_value
    return Shortfall(max(amount, 0), ratio, max(needed, 0))


def shortfall_amount(outstanding: int, security_value: int, max_ltv_bps: int) -> int:
    return ltv_shortfall(outstanding, security_value, max_ltv_bps).amount


def bundle_shortfall(outstanding: int, securities: Iterable[tuple[int, int]]) -> int:
    """The shortfall of a loan secured by a bundle of ``(value, ltv_bps)``: the outstanding less the sum of
    each security's value × its LTV (half-up per security, as each asset's borrowing base is)."""
    if outstanding < 0:
        raise ValueError("amounts must not be negative")
    allowed = 0
    for value, ltv_bps in securities:
        if value < 0 or not 0 <= ltv_bps <= 100 * int(BPS):
            raise ValueError("a security's value and LTV must not be negative")
        allowed += apply_bps(value, ltv_bps)
    return max(0, outstanding - allowed)
