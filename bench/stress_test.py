"""Stress-test throughput: 10,000 covered loans × 10,000 Vasicek scenarios, next to a bare NumPy reference.

Run: ``uv run python -m bench.stress_test [loans] [scenarios]``. Prints, for 1 worker (one thread, BLAS
included) and for the default pool: the seconds, the loan-scenarios per second and the ratio to a bare NumPy
float32 Vasicek simulation over the same book in the same run (one thread too, no chunking, no validation,
no summary); then how well the two loss distributions agree (two-sample Kolmogorov–Smirnov, different
random streams, so they agree only in distribution), the peak resident memory and the headline figures.
"""

from __future__ import annotations

import math
import os
import resource
import statistics
import sys
import time

import numpy as np
from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]  # threadpoolctl ships no stubs

from finance.fund.stress import default_thresholds, simulate_losses, stress_test
from kernel.money import format_yuan

REPEATS = int(os.environ.get("IPM_BENCH_REPEATS", "3"))


def portfolio(loans: int, seed: int = 7) -> dict[str, np.ndarray]:
    """A plausible book of IP-pledge loans: ¥0.5m–¥30m, PD 0.5–8%, LGD 40–80%, fund share 20–54%."""
    rng = np.random.default_rng(seed)
    return {
        "exposures": rng.integers(50_000_000, 3_000_000_000, loans),
        "pd_bps": rng.choice([50, 100, 200, 400, 800], loans),
        "lgd_bps": rng.integers(4_000, 8_001, loans),
        "correlation_bps": np.full(loans, 1_500),
        "fund_share_bps": rng.choice([2_000, 3_000, 4_000, 5_000, 5_400], loans),
    }


def numpy_reference(book: dict[str, np.ndarray], scenarios: int, seed: int, rows: int = 400) -> np.ndarray:
    """The textbook one-factor simulation in float32: default ⇔ √ρ·Z + √(1−ρ)·ε < Φ⁻¹(PD); loss = defaults · EAD·LGD.

    Blocks of ``rows`` scenarios keep its memory near the project's (a whole 10⁴ × 10⁴ float32 draw is 400 MB).
    """
    rho = book["correlation_bps"] / 10_000
    root_rho, root_rest = np.sqrt(rho).astype(np.float32), np.sqrt(1 - rho).astype(np.float32)
    threshold = default_thresholds(book["pd_bps"]).astype(np.float32)
    weight = book["exposures"] * (book["lgd_bps"] / 10_000)
    rng = np.random.default_rng(seed)
    losses = np.empty(scenarios)
    for start in range(0, scenarios, rows):
        size = min(rows, scenarios - start)
        z = rng.standard_normal((size, 1), dtype=np.float32)
        eps = rng.standard_normal((size, weight.shape[0]), dtype=np.float32)
        losses[start:start + size] = (root_rho * z + root_rest * eps < threshold).astype(np.float64) @ weight
    return losses


def ks_two_sample(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """The two-sample KS statistic and its asymptotic p-value (Kolmogorov's series; SciPy is not a dependency)."""
    a, b = np.sort(a), np.sort(b)
    grid = np.concatenate([a, b])
    d = float(np.abs(np.searchsorted(a, grid, side="right") / a.size
                     - np.searchsorted(b, grid, side="right") / b.size).max())
    n = a.size * b.size / (a.size + b.size)
    lam = (math.sqrt(n) + 0.12 + 0.11 / math.sqrt(n)) * d
    p = 2 * sum((-1) ** (k - 1) * math.exp(-2 * k * k * lam * lam) for k in range(1, 101))
    return d, min(1.0, max(0.0, p))


def timed(run: object) -> float:
    started = time.perf_counter()
    run()  # type: ignore[operator]  # a zero-argument callable
    return time.perf_counter() - started


def main() -> None:
    loans = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    scenarios = int(sys.argv[2]) if len(sys.argv) > 2 else 10_000
    book = portfolio(loans)
    fund_cash = 300_000_000_000  # ¥3bn
    print(f"loans × scenarios         {loans:,} × {scenarios:,}  (medians of {REPEATS}, machine load "
          f"{os.getloadavg()[0]:.1f})")
    with threadpool_limits(1):
        reference_s = statistics.median(timed(lambda: numpy_reference(book, scenarios, 11)) for _ in range(REPEATS))
    print(f"NumPy float32 reference   {reference_s:.2f} s (one thread)")
    for workers in (1, None):
        cpu_started = time.process_time()
        seconds = statistics.median(
            timed(lambda w=workers: stress_test(**book, fund_cash=fund_cash, scenarios=scenarios, seed=2025,
                                                workers=w))
            for _ in range(REPEATS))
        cpu = (time.process_time() - cpu_started) / REPEATS
        label = "1 worker" if workers == 1 else f"{min(os.cpu_count() or 1, 4)} workers"
        print(f"{label:<10} seconds        {seconds:.2f} (CPU {cpu:.2f}), {seconds / reference_s:.2f}× the reference")
        print(f"{label:<10} loan-scen./s   {loans * scenarios / seconds:,.0f}")
    ours, _ = simulate_losses(**book, scenarios=scenarios, seed=2025)
    d, p = ks_two_sample(ours, numpy_reference(book, scenarios, 11))
    print(f"loss distribution vs reference: KS D {d:.4f}, p {p:.2f} (agree unless p < 0.01)")
    result = stress_test(**book, fund_cash=fund_cash, scenarios=scenarios, seed=2025)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS                  {peak_mb:,.0f} MB")
    print(f"expected loss             {format_yuan(result.expected_loss)} "
          f"(analytic {format_yuan(result.analytic_expected_loss)})")
    print(f"99% VaR                   {format_yuan(result.var_99)}")
    print(f"fund expected loss        {format_yuan(result.fund_expected_loss)}")
    print(f"fund 99% VaR              {format_yuan(result.fund_var_99)}")
    print(f"P(fund cash {format_yuan(fund_cash)} depleted) {result.probability_fund_depleted:.4f}")


if __name__ == "__main__":
    main()
