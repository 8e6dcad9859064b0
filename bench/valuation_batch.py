"""How long valuing 100,000 assets takes through the NumPy batch path and through the per-asset path.

Each asset gets an indicator score (with cohort percentiles) and an income-approach value. The
per-asset path is the pure Python code a single request uses (``valuation.scoring`` and
``valuation.approaches.relief_from_royalty`` in Decimal). Run: ``uv run python -m bench.valuation_batch``.
"""

from __future__ import annotations

import random
import sys
import time
from datetime import date, timedelta

import numpy as np

from valuation import batch
from valuation.approaches import relief_from_royalty
from valuation.scoring import Facts, Population, score

N = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
PER_ASSET_BUDGET_SECONDS = 120
TODAY = date(2026, 3, 2)
KINDS = ["invention_patent"] * 5 + ["utility_model"] * 3 + ["design_patent", "trademark", "software_copyright"]
IPC = [f"{s}{n:02d}{c}" for s in "ABCGH" for n in (1, 4, 6) for c in "FKMN"]


def synthetic(n: int, seed: int = 1) -> tuple[list[Facts], dict[str, list[int]]]:
    rng = random.Random(seed)
    facts, income = [], {k: [] for k in ("annual_revenue", "royalty_rate_bps", "tax_rate_bps", "growth_bps",
                                          "discount_rate_bps", "remaining_life_years")}
    for _ in range(n):
        kind = rng.choice(KINDS)
        filing = TODAY - timedelta(days=rng.randrange(200, 7000))
        patent = kind in ("invention_patent", "utility_model", "design_patent")
        facts.append(Facts(
            kind=kind, status=rng.choice(["valid"] * 8 + ["pending", "lapsed"]),
            ipc_subclass=rng.choice(IPC) if patent else None, filing_date=filing,
            expiry_date=filing + timedelta(days=365 * 20), claims_count=rng.randrange(1, 40),
            forward_citations=int(rng.expovariate(0.2)), family_size=rng.choice([0, 0, 0, 1, 2, 5]),
            awards=("provincial_patent_award",) if rng.random() < 0.05 else (),
            industry=rng.choice([None, "new_energy", "software"]), strategic_emerging=rng.random() < 0.3,
            last_transaction_on=TODAY - timedelta(days=rng.randrange(0, 3000)) if rng.random() < 0.4 else None,
            transfers=rng.choice([0, 0, 0, 1, 2])))
        income["annual_revenue"].append(rng.randrange(10**6, 10**11))
        income["royalty_rate_bps"].append(rng.randrange(100, 1000))
        income["tax_rate_bps"].append(rng.choice([1500, 2500]))
        income["growth_bps"].append(rng.randrange(-1000, 800))  # some revenues decline
        income["discount_rate_bps"].append(rng.randrange(900, 2000))
        income["remaining_life_years"].append(rng.randrange(1, 16))
    return facts, income


def run_batch(facts: list[Facts], income: dict[str, list[int]]
              ) -> tuple[float, float, dict[str, np.ndarray], np.ndarray]:
    start = time.perf_counter()
    arrays = batch.facts_to_arrays(facts, TODAY)
    cols = {k: np.asarray(v, dtype=np.int64) for k, v in income.items()}
    t_arrays = time.perf_counter()
    scores = batch.scores(arrays, "financing")
    values = batch.income(**cols)
    end = time.perf_counter()
    print(f"  (of which building arrays from Python objects: {t_arrays - start:.2f} s; "
          f"vectorised scoring + income: {end - t_arrays:.2f} s)")
    return end - start, end - t_arrays, scores, values


def run_per_asset(facts: list[Facts], income: dict[str, list[int]], indices: list[int],
                  population: Population) -> tuple[float, list[tuple[int, int]]]:
    start = time.perf_counter()
    out = []
    for i in indices:
        s = score(facts[i], population, TODAY, "financing")
        v = relief_from_royalty(*(income[k][i] for k in ("annual_revenue", "royalty_rate_bps", "tax_rate_bps",
                                                          "growth_bps", "discount_rate_bps",
                                                          "remaining_life_years")))
        out.append((s.total, v))
    return time.perf_counter() - start, out


def main() -> None:
    print(f"valuation batch bench: {N:,} synthetic assets (score with cohort percentiles + income approach)")
    facts, income = synthetic(N)
    batch_s, vector_s, scores, values = run_batch(facts, income)
    print(f"batch path (NumPy):      {batch_s:8.2f} s  ({N / batch_s:,.0f} assets/s)")

    start = time.perf_counter()
    population = Population.build(facts)  # the per-asset path's cohort tables, built once
    build_s = time.perf_counter() - start
    # Time a sample first; run everything only if that fits the budget, else extrapolate and say so.
    sample = list(range(0, N, max(1, N // 2000)))
    sample_s, sample_results = run_per_asset(facts, income, sample, population)
    projected = build_s + sample_s * N / len(sample)
    if projected <= PER_ASSET_BUDGET_SECONDS:
        per_s, results = run_per_asset(facts, income, list(range(N)), population)
        per_s += build_s
        measured = "measured on all assets"
        checked = list(range(N))
    else:
        per_s, results, checked = projected, sample_results, sample
        measured = f"extrapolated from {len(sample):,} assets (full run would exceed {PER_ASSET_BUDGET_SECONDS} s)"
    print(f"per-asset path (Python): {per_s:8.2f} s  ({N / per_s:,.0f} assets/s), {measured}; "
          f"cohort tables {build_s:.2f} s")
    print(f"ratio per-asset / batch: {per_s / batch_s:8.1f}x  "
          f"(per-asset / vectorised part alone: {per_s / vector_s:.1f}x)")
    mismatches = sum(1 for j, i in enumerate(checked)
                     if (int(scores["total"][i]), int(values[i])) != results[j])
    print(f"batch vs per-asset on {len(checked):,} assets: {mismatches} mismatches (score total, income fen)")


if __name__ == "__main__":
    main()
