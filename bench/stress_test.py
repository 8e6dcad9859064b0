"""Stress-test throughput: 10,000 covered loans × 10,000 Vasicek scenarios.

Run: ``uv run python -m bench.stress_test [loans] [scenarios]``. Prints the seconds, the
loan-scenarios per second, the peak resident memory and the headline figures of the run.
"""

from __future__ import annotations

import os
import resource
import sys
import time

import numpy as np

from finance.fund.stress import stress_test
from kernel.money import format_yuan


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


def main() -> None:
    loans = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    scenarios = int(sys.argv[2]) if len(sys.argv) > 2 else 10_000
    book = portfolio(loans)
    fund_cash = 300_000_000_000  # ¥3bn
    print(f"loans × scenarios         {loans:,} × {scenarios:,}")
    for workers in (1, None):
        started, cpu_started = time.perf_counter(), time.process_time()
        result = stress_test(**book, fund_cash=fund_cash, scenarios=scenarios, seed=2025, workers=workers)
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu_started
        label = "1 worker" if workers == 1 else f"{min(os.cpu_count() or 1, 4)} workers"
        print(f"{label:<10} seconds        {seconds:.2f} (CPU {cpu:.2f})")
        print(f"{label:<10} loan-scen./s   {loans * scenarios / seconds:,.0f}")
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
