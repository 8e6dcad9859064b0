"""The money approaches as pure functions: income (relief from royalty), market, cost, reconciliation.

Inputs are integer fen and basis points; the arithmetic is Decimal (50 significant digits) and becomes
money once, half-up, at the end of each approach (``kernel.money.to_fen``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, localcontext
from fractions import Fraction

from kernel.money import bps, split_largest_remainder, to_fen

PRECISION = 50


def relief_from_royalty(annual_revenue: int, royalty_rate_bps: int, tax_rate_bps: int, growth_bps: int,
                        discount_rate_bps: int, remaining_life_years: int) -> int:
    """Σ_{t=1..n} R·(1+g)^(t-1)·royalty·(1−tax) / (1+d)^t, cash at each year end, half-up to the fen once."""
    with localcontext() as ctx:
        ctx.prec = PRECISION
        after_tax_royalty = Decimal(annual_revenue) * bps(royalty_rate_bps) * (1 - bps(tax_rate_bps))
        grow = 1 + bps(growth_bps)
        disc = 1 + bps(discount_rate_bps)
        total = sum((after_tax_royalty * grow ** (t - 1) / disc ** t
                     for t in range(1, remaining_life_years + 1)), Decimal(0))
        return to_fen(total)


def life_used(filing_days_ago: int | None, term_days: int | None) -> Fraction:
    """Share of the legal life used up, straight line, clamped to [0, 1] (0 when the dates are unknown)."""
    if filing_days_ago is None or not term_days:
        return Fraction(0)
    return min(Fraction(1), max(Fraction(0), Fraction(filing_days_ago, term_days)))


def cost_value(rd_cost: int, used: Fraction, functional_obsolescence_bps: int) -> int:
    """R&D cost less straight-line obsolescence over the legal life used up, less functional obsolescence."""
    with localcontext() as ctx:
        ctx.prec = PRECISION
        remaining = Decimal(used.denominator - used.numerator) / Decimal(used.denominator)
        return to_fen(Decimal(rd_cost) * remaining * (1 - bps(functional_obsolescence_bps)))


@dataclass(frozen=True)
class Comparable:
    amount: int  # fen, this asset's share of the deal
    remaining_life_days: int | None
    score_total: int


def _clamped_ratio(subject: int | None, other: int | None, floor_bps: int, cap_bps: int) -> Decimal:
    lo, hi = bps(floor_bps), bps(cap_bps)
    if subject is None or other is None:
        return Decimal(1)  # nothing to adjust for
    if other <= 0:
        return hi if subject > 0 else Decimal(1)
    return min(hi, max(lo, Decimal(subject) / Decimal(other)))


def adjusted_prices(subject_life_days: int | None, subject_score: int, comparables: Sequence[Comparable],
                    floor_bps: int, cap_bps: int) -> list[Decimal]:
    """Each comparable's price adjusted to the subject for remaining life and indicator score."""
    with localcontext() as ctx:
        ctx.prec = PRECISION
        return [Decimal(c.amount)
                * _clamped_ratio(subject_life_days, c.remaining_life_days, floor_bps, cap_bps)
                * _clamped_ratio(subject_score, c.score_total, floor_bps, cap_bps)
                for c in comparables]


def median(values: Sequence[Decimal]) -> Decimal:
    ordered = sorted(values)
    n = len(ordered)
    if n == 0:
        raise ValueError("median of nothing")
    mid = n // 2
    with localcontext() as ctx:
        ctx.prec = PRECISION
        return ordered[mid] if n % 2 else (ordered[mid - 1] + ordered[mid]) / 2


def market_value(subject_life_days: int | None, subject_score: int, comparables: Sequence[Comparable],
                 floor_bps: int, cap_bps: int) -> int:
    return to_fen(median(adjusted_prices(subject_life_days, subject_score, comparables, floor_bps, cap_bps)))


def reconcile(values: Mapping[str, int | None], weights: Mapping[str, int]) -> tuple[int, dict[str, int]]:
    """Weighted value over the approaches present; their weights renormalised to 10000 for display."""
    present = {k: v for k, v in values.items() if v is not None and weights.get(k, 0) > 0}
    if not present:
        raise ValueError("no approach produced a value")
    total_w = sum(weights[k] for k in present)
    with localcontext() as ctx:
        ctx.prec = PRECISION
        value = to_fen(sum((Decimal(weights[k]) * v for k, v in present.items()), Decimal(0)) / total_w)
    shares = split_largest_remainder(10000, [weights[k] for k in present])
    return value, dict(zip(present, shares, strict=True))
