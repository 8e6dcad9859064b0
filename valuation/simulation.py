"""The value range: P10 and P90 of a seeded Monte Carlo over the uncertain inputs.

The seed is derived from the request (sorted asset ids, scenario, the inputs used), so the same request
gives the same range. Floats are fine here: the range is an estimate, and it becomes money once, half-up.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from typing import Any

import numpy as np

from kernel.money import to_fen
from valuation import config


def seed_for(asset_ids: Sequence[str], scenario: str, inputs: Mapping[str, Any]) -> int:
    canonical = json.dumps({"asset_ids": sorted(asset_ids), "scenario": scenario, "inputs": dict(inputs)},
                           sort_keys=True, separators=(",", ":"), default=str)
    return int.from_bytes(hashlib.sha256(canonical.encode()).digest()[:8], "big")


@dataclass(frozen=True)
class IncomeInputs:
    annual_revenue: int
    royalty_rate_bps: int
    tax_rate_bps: int
    growth_bps: int
    discount_rate_bps: int
    remaining_life_years: int


@dataclass(frozen=True)
class CostInputs:
    rd_cost: int
    used: Fraction
    functional_obsolescence_bps: int


def _income_runs(rng: np.random.Generator, i: IncomeInputs, runs: int, sim: Mapping[str, Any]) -> np.ndarray:
    revenue = i.annual_revenue * np.exp(rng.standard_normal(runs) * sim["revenue_sigma_bps"] / 10000)
    spread = sim["royalty_rel_spread_bps"] / 10000
    royalty = np.clip(i.royalty_rate_bps / 10000 * (1 + rng.uniform(-spread, spread, runs)), 0, 1)
    growth = i.growth_bps / 10000 + rng.standard_normal(runs) * sim["growth_sd_bps"] / 10000
    growth = np.maximum(growth, -0.9)  # a declining revenue still declines to something, never below zero
    discount = i.discount_rate_bps / 10000 + rng.standard_normal(runs) * sim["discount_sd_bps"] / 10000
    # Keep every run a finite, falling discount curve; a negative discount rate is no rate of return.
    discount = np.maximum(np.maximum(discount, 0.0), growth + 0.01)
    lo, hi = sim["life_shift_years"]
    life = np.clip(i.remaining_life_years + rng.integers(lo, hi + 1, runs), 1,
                   config.data()["income"]["max_life_years"])
    t = np.arange(1, int(life.max()) + 1)
    factor = np.where(t[None, :] <= life[:, None],
                      (1 + growth[:, None]) ** (t - 1) / (1 + discount[:, None]) ** t, 0.0).sum(axis=1)
    return revenue * royalty * (1 - i.tax_rate_bps / 10000) * factor


def _market_runs(rng: np.random.Generator, prices: Sequence[Sequence[Decimal]], runs: int) -> np.ndarray:
    """Bootstrap: each run re-draws each asset's comparables with replacement and takes the median."""
    total = np.zeros(runs)
    for asset_prices in prices:
        arr = np.array([float(p) for p in asset_prices])
        draws = arr[rng.integers(0, len(arr), (runs, len(arr)))]
        total += np.median(draws, axis=1)
    return total


def _cost_runs(rng: np.random.Generator, c: CostInputs, runs: int, sim: Mapping[str, Any]) -> np.ndarray:
    spread = sim["functional_obsolescence_spread_bps"]
    func = np.clip(c.functional_obsolescence_bps + rng.uniform(-spread, spread, runs), 0, 10000) / 10000
    return c.rd_cost * (1 - float(c.used)) * (1 - func)


def value_range(seed: int, value: int, weights: Mapping[str, int], income: IncomeInputs | None,
                market_prices: Sequence[Sequence[Decimal]] | None, cost: CostInputs | None) -> tuple[int, int]:
    """(low, high): P10 and P90 of the reconciled value over ``runs`` simulated input sets."""
    sim = config.data()["simulation"]
    runs = int(sim["runs"])
    rng = np.random.default_rng(seed)
    parts: list[tuple[int, np.ndarray]] = []
    if income is not None and weights.get("income"):
        parts.append((weights["income"], _income_runs(rng, income, runs, sim)))
    if market_prices is not None and weights.get("market"):
        parts.append((weights["market"], _market_runs(rng, market_prices, runs)))
    if cost is not None and weights.get("cost"):
        parts.append((weights["cost"], _cost_runs(rng, cost, runs, sim)))
    if not parts:
        return value, value
    reconciled = sum(w * r for w, r in parts) / sum(w for w, _ in parts)
    p10, p90 = np.percentile(reconciled, [10, 90])
    low, high = max(0, to_fen(Decimal(float(p10)))), to_fen(Decimal(float(p90)))
    # The point value comes from the central inputs while the runs come from skewed distributions
    # (lognormal revenue, a life shift that leans short), so with a narrow spread the point can fall
    # outside [P10, P90]. A range that does not hold the figure it brackets would mislead a lender,
    # so the range is widened to include it.
    return min(low, value), max(high, value)
