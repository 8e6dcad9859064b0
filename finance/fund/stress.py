"""Credit-loss stress test: a one-factor Gaussian (Vasicek) Monte Carlo over the covered loans.

Loan *i* defaults in a scenario when ``√ρᵢ·Z + √(1−ρᵢ)·εᵢ < Φ⁻¹(PDᵢ)``, with ``Z`` the systematic factor
shared by every loan in the scenario and ``εᵢ`` its own shock (both standard normal). A default loses
``EADᵢ × LGDᵢ``; the fund bears ``fund_shareᵢ`` of it. Over many scenarios this gives the loss
distribution: expected loss (which converges to Σ EAD·PD·LGD whatever the correlation), the 99% VaR
and expected shortfall (which grow with correlation), percentiles, and how often the fund's losses
exceed its cash.

Money stays integer fen at the edges: inputs are fen and bps, and every monetary output is a float
statistic rounded half-up to the fen at the end (``to_fen``). Inside, NumPy float64 sums the losses
(exact for integers up to 2⁵³ fen); the shocks are float32, which is ample for a 1-in-10⁷ threshold.

Scenarios run in chunks of at most ``chunk_elements`` loan-scenarios, so memory stays bounded (17 bytes
per element per worker: float32 shocks and cut-offs, the default flags and their float64 copy for the
BLAS product — about 70 MB per worker at the default 4M elements), and chunks run on a small thread pool (NumPy's generators, comparisons
and BLAS release the GIL). Each chunk draws from its own stream spawned from ``SeedSequence(seed)``,
so the result depends only on the inputs, the seed and ``chunk_elements`` — not on the worker count.
"""

from __future__ import annotations

import math
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from decimal import Decimal
from statistics import NormalDist

import numpy as np
from numpy.typing import ArrayLike, NDArray
from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]  # threadpoolctl ships no stubs

from kernel.money import BPS, to_fen

PERCENTILES = (50.0, 90.0, 95.0, 99.0, 99.9)
DEFAULT_CHUNK_ELEMENTS = 4_000_000
_FULL = 10_000


@dataclass(frozen=True)
class StressResult:
    scenarios: int
    loans: int
    expected_loss: int  # fen, mean portfolio loss
    analytic_expected_loss: int  # fen, Σ EAD·PD·LGD (what expected_loss converges to)
    var_99: int  # fen, 99th percentile of the portfolio loss
    expected_shortfall_99: int  # fen, mean loss in the worst 1% of scenarios
    percentiles: dict[float, int]  # percentile -> portfolio loss in fen
    fund_expected_loss: int
    fund_var_99: int
    fund_cash: int
    depleted_scenarios: int  # scenarios in which the fund's loss exceeds its cash
    seed: int

    @property
    def probability_fund_depleted(self) -> float:
        return self.depleted_scenarios / self.scenarios


def _fen(value: float) -> int:
    return to_fen(Decimal(float(value)))


def _bps_array(name: str, values: ArrayLike, n: int, *, upper_inclusive: bool = True) -> NDArray[np.int64]:
    array = np.broadcast_to(np.asarray(values, dtype=np.int64), (n,))
    too_high = array > _FULL if upper_inclusive else array >= _FULL
    if (array < 0).any() or too_high.any():
        bound = "10000]" if upper_inclusive else "10000)"
        raise ValueError(f"{name} must be in [0, {bound} bps")
    return array


def default_thresholds(pd_bps: NDArray[np.int64]) -> NDArray[np.float64]:
    """Φ⁻¹(PD) per loan, computed once per distinct PD (a scalar each, no SciPy needed)."""
    distinct, index = np.unique(pd_bps, return_inverse=True)
    normal = NormalDist()
    values = [-math.inf if p == 0 else math.inf if p == _FULL else normal.inv_cdf(p / _FULL)
              for p in distinct.tolist()]
    return np.asarray(values, dtype=np.float64)[index]


def simulate_losses(exposures: ArrayLike, pd_bps: ArrayLike, lgd_bps: ArrayLike, correlation_bps: ArrayLike,
                    fund_share_bps: ArrayLike = 0, *, scenarios: int, seed: int,
                    chunk_elements: int = DEFAULT_CHUNK_ELEMENTS,
                    workers: int | None = None) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Portfolio and fund loss (fen, float64) in each scenario."""
    ead = np.asarray(exposures, dtype=np.int64)
    if ead.ndim != 1 or (ead < 0).any():
        raise ValueError("exposures must be a 1-d array of non-negative fen")
    n = ead.shape[0]
    if scenarios < 1 or chunk_elements < 1:
        raise ValueError("scenarios and chunk size must be positive")
    pd = _bps_array("PD", pd_bps, n)
    lgd = _bps_array("LGD", lgd_bps, n)
    rho = _bps_array("correlation", correlation_bps, n, upper_inclusive=False)
    share = _bps_array("fund share", fund_share_bps, n)

    threshold = default_thresholds(pd).astype(np.float32)
    loading = np.sqrt(rho / _FULL).astype(np.float32)  # √ρ
    scale = (1.0 / np.sqrt(1.0 - rho / _FULL)).astype(np.float32)  # 1 / √(1−ρ)
    loss_given_default = ead.astype(np.float64) * lgd / _FULL
    weights = np.column_stack([loss_given_default, loss_given_default * share / _FULL])  # (n, 2)

    rows = max(1, chunk_elements // max(n, 1))
    starts = list(range(0, scenarios, rows))
    streams = np.random.SeedSequence(seed).spawn(len(starts))
    losses = np.empty((scenarios, 2), dtype=np.float64)

    def run(k: int) -> None:
        start = starts[k]
        size = min(rows, scenarios - start)
        rng = np.random.default_rng(streams[k])
        z = rng.standard_normal(size, dtype=np.float32)
        shocks = rng.standard_normal((size, n), dtype=np.float32)
        # Default ⇔ ε < (Φ⁻¹(PD) − √ρ·Z) / √(1−ρ); built in place to keep one extra (size, n) array.
        cutoff = np.multiply.outer(-z, loading)
        cutoff += threshold
        cutoff *= scale
        defaults = np.less(shocks, cutoff)
        del shocks, cutoff
        losses[start:start + size] = defaults.astype(np.float64) @ weights

    pool_size = workers or min(len(starts), os.cpu_count() or 1, 4)
    # Each worker is one thread, BLAS included: OpenBLAS would otherwise start its own threads for every
    # product, so "1 worker" would use every core and a pool would oversubscribe them.
    with threadpool_limits(1):
        if pool_size <= 1:
            for k in range(len(starts)):
                run(k)
        else:
            with ThreadPoolExecutor(max_workers=pool_size) as pool:
                list(pool.map(run, range(len(starts))))
    return losses[:, 0], losses[:, 1]


def analytic_expected_loss(exposures: ArrayLike, pd_bps: ArrayLike, lgd_bps: ArrayLike) -> int:
    """Σ EAD·PD·LGD in fen, exact then half-up."""
    ead = [int(x) for x in np.asarray(exposures, dtype=np.int64).tolist()]
    n = len(ead)
    pd = np.broadcast_to(np.asarray(pd_bps, dtype=np.int64), (n,)).tolist()
    lgd = np.broadcast_to(np.asarray(lgd_bps, dtype=np.int64), (n,)).tolist()
    return to_fen(Decimal(sum(e * p * g for e, p, g in zip(ead, pd, lgd, strict=True))) / (BPS * BPS))


def _tail_mean(losses: NDArray[np.float64], var: float) -> float:
    tail = losses[losses >= var]
    return float(tail.mean()) if tail.size else var


def stress_test(exposures: ArrayLike, pd_bps: ArrayLike, lgd_bps: ArrayLike, correlation_bps: ArrayLike,
                fund_share_bps: ArrayLike = 0, *, fund_cash: int = 0, scenarios: int = 10_000, seed: int = 0,
                chunk_elements: int = DEFAULT_CHUNK_ELEMENTS, workers: int | None = None) -> StressResult:
    """Run the simulation and summarise it (see the module docstring)."""
    if fund_cash < 0:
        raise ValueError("fund cash must not be negative")
    total, fund = simulate_losses(exposures, pd_bps, lgd_bps, correlation_bps, fund_share_bps,
                                  scenarios=scenarios, seed=seed, chunk_elements=chunk_elements,
                                  workers=workers)
    # "inverted_cdf" is the plain empirical quantile: a loss that actually occurred in a scenario.
    qs = np.percentile(total, PERCENTILES, method="inverted_cdf")
    var_99 = float(np.percentile(total, 99.0, method="inverted_cdf"))
    return StressResult(
        scenarios=scenarios,
        loans=int(np.asarray(exposures).shape[0]),
        expected_loss=_fen(total.mean()),
        analytic_expected_loss=analytic_expected_loss(exposures, pd_bps, lgd_bps),
        var_99=_fen(var_99),
        expected_shortfall_99=_fen(_tail_mean(total, var_99)),
        percentiles={p: _fen(q) for p, q in zip(PERCENTILES, qs, strict=True)},
        fund_expected_loss=_fen(fund.mean()),
        fund_var_99=_fen(np.percentile(fund, 99.0, method="inverted_cdf")),
        fund_cash=fund_cash,
        depleted_scenarios=int((fund > fund_cash).sum()),
        seed=seed,
    )
