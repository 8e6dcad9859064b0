"""How long valuing 100,000 assets takes through the NumPy batch path, next to a bare NumPy
relief-from-royalty over the same inputs and to the per-asset path.

Each asset gets an indicator score (with cohort percentiles) and an income-approach value. The inputs
are the registry query's columns as ``batch.load_registry`` gets them from the database (integer codes,
day numbers, cohort ranks) plus the income columns; every time counts from when those are in arrays.
The reference is the textbook closed-form growing annuity in float64, no exact rounding, no scores.
The per-asset path is the pure Python code a single request uses (``valuation.scoring`` and
``valuation.approaches.relief_from_royalty`` in Decimal). Run: ``uv run python -m bench.valuation_batch``.
"""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable
from datetime import date, timedelta

import numpy as np

from market.assets.models import ASSET_STATUSES
from market.numbers import ASSET_KINDS
from valuation import batch
from valuation.approaches import relief_from_royalty
from valuation.scoring import Facts, Population, score

N = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
REPEATS = 7  # median of alternating runs: the machine is shared
PER_ASSET_BUDGET_SECONDS = 120
TODAY = date(2026, 3, 2)
KINDS = ["invention_patent"] * 5 + ["utility_model"] * 3 + ["design_patent", "trademark", "software_copyright"]
PATENTS = ("invention_patent", "utility_model", "design_patent")
IPC = [f"{s}{n:02d}{c}" for s in "ABCGH" for n in (1, 4, 6) for c in "FKMN"]
INCOME = ("annual_revenue", "royalty_rate_bps", "tax_rate_bps", "growth_bps", "discount_rate_bps",
          "remaining_life_years")
Columns = dict[str, np.ndarray]


def synthetic(n: int, seed: int = 1) -> tuple[Columns, Columns]:
    """The registry query's columns (as ``load_registry`` selects them) and the income inputs."""
    rng = np.random.default_rng(seed)
    kind = np.array([batch.KIND_CODE[k] for k in KINDS])[rng.integers(0, len(KINDS), n)]
    patent = np.isin(kind, [batch.KIND_CODE[k] for k in PATENTS])
    status = np.array([batch.STATUS_CODE[s] for s in ["valid"] * 8 + ["pending", "lapsed"]])[rng.integers(0, 10, n)]
    filing = batch.day_number(TODAY) - rng.integers(200, 7000, n)
    year = (filing.astype("datetime64[D]").astype("datetime64[Y]").astype(np.int64) + 1970)
    ipc = rng.integers(0, len(IPC), n)
    _, rank = np.unique(ipc * 10000 + year, return_inverse=True)
    transacted = rng.random(n) < 0.4
    facts = {
        "kind": kind, "status": status, "cohort": np.where(patent, rank, -1),
        "claims": rng.integers(1, 40, n), "forward_citations": np.floor(rng.exponential(5.0, n)).astype(np.int64),
        "family_size": np.array([0, 0, 0, 1, 2, 5])[rng.integers(0, 6, n)],
        "award_score": np.where(rng.random(n) < 0.05, batch.award_score(("provincial_patent_award",)),
                                batch.award_score(())),
        "strategic_emerging": rng.random(n) < 0.3, "has_industry": rng.integers(0, 3, n) > 0,
        "expiry_day": filing + 365 * 20,
        "last_transaction_day": np.where(transacted, batch.day_number(TODAY) - rng.integers(0, 3000, n), batch.NO_DATE),
        "transfers": np.array([0, 0, 0, 1, 2])[rng.integers(0, 5, n)],
        "_ipc": np.where(patent, ipc, -1), "_filing": filing}  # for the per-asset Facts only
    income = {"annual_revenue": rng.integers(10**6, 10**11, n), "royalty_rate_bps": rng.integers(100, 1000, n),
              "tax_rate_bps": np.array([1500, 2500])[rng.integers(0, 2, n)],
              "growth_bps": rng.integers(-1000, 800, n),  # some revenues decline
              "discount_rate_bps": rng.integers(900, 2000, n), "remaining_life_years": rng.integers(1, 16, n)}
    return facts, income


def as_facts(cols: Columns, i: int) -> Facts:
    """One asset's Facts for the per-asset path, decoded from the same columns."""
    def day(v: int) -> date | None:
        return None if v == batch.NO_DATE else date(1970, 1, 1) + timedelta(days=int(v))
    ipc = int(cols["_ipc"][i])
    return Facts(kind=ASSET_KINDS[cols["kind"][i]], status=ASSET_STATUSES[cols["status"][i]],
                 ipc_subclass=IPC[ipc] if ipc >= 0 else None, filing_date=day(cols["_filing"][i]),
                 expiry_date=day(cols["expiry_day"][i]), claims_count=int(cols["claims"][i]),
                 forward_citations=int(cols["forward_citations"][i]), family_size=int(cols["family_size"][i]),
                 awards=("provincial_patent_award",) if cols["award_score"][i] else (),
                 industry="software" if cols["has_industry"][i] else None,
                 strategic_emerging=bool(cols["strategic_emerging"][i]),
                 last_transaction_on=day(cols["last_transaction_day"][i]), transfers=int(cols["transfers"][i]))


def batch_path(cols: Columns, income: Columns) -> tuple[dict[str, np.ndarray], np.ndarray]:
    arrays = batch.from_columns(**{k: v for k, v in cols.items() if not k.startswith("_")}, today=TODAY)
    return batch.scores(arrays, "financing"), batch.income(**income)


def numpy_reference(income: Columns) -> np.ndarray:
    """Bare relief from royalty: after-tax royalty × growing-annuity factor, float64, closed form."""
    cash = income["annual_revenue"] * (income["royalty_rate_bps"] / 1e4) * (1 - income["tax_rate_bps"] / 1e4)
    g, d = income["growth_bps"] / 1e4, income["discount_rate_bps"] / 1e4
    r = (1 + g) / (1 + d)
    n = income["remaining_life_years"]
    return cash / (1 + d) * (1 - r ** n) / (1 - r)  # r ≠ 1 in these inputs (g < d)


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def run_per_asset(facts: list[Facts], income: Columns, indices: list[int],
                  population: Population) -> tuple[float, list[tuple[int, ...]]]:
    start = time.perf_counter()
    out: list[tuple[int, ...]] = []
    for i in indices:
        s = score(facts[i], population, TODAY, "financing")
        v = relief_from_royalty(*(int(income[k][i]) for k in INCOME))
        out.append((s.legal, s.technical, s.economic, s.total, v))
    return time.perf_counter() - start, out


def main() -> None:
    print(f"valuation batch bench: {N:,} synthetic assets (score with cohort percentiles + income approach)")
    cols, income = synthetic(N)
    scores, values = batch_path(cols, income)  # warm up both
    numpy_reference(income)
    batch_runs, ref_runs = [], []
    for _ in range(REPEATS):
        batch_runs.append(timed(lambda: batch_path(cols, income)))
        ref_runs.append(timed(lambda: numpy_reference(income)))
    batch_s, ref_s = statistics.median(batch_runs), statistics.median(ref_runs)
    arrays = batch.from_columns(**{k: v for k, v in cols.items() if not k.startswith("_")}, today=TODAY)
    score_s = statistics.median(timed(lambda: batch.scores(arrays, "financing")) for _ in range(REPEATS))
    income_s = statistics.median(timed(lambda: batch.income(**income)) for _ in range(REPEATS))
    print(f"batch path (NumPy), whole:      {batch_s * 1000:8.2f} ms  ({N / batch_s:,.0f} assets/s; "
          f"scores {score_s * 1000:.2f} ms, income {income_s * 1000:.2f} ms; median of {REPEATS})")
    print(f"bare NumPy relief-from-royalty: {ref_s * 1000:8.2f} ms  (median of {REPEATS}, same run)")
    print(f"ratio batch / NumPy reference:  {batch_s / ref_s:8.1f}x  (income step alone: {income_s / ref_s:.1f}x)")
    drift = np.abs(numpy_reference(income) - values).max()
    print(f"reference vs batch income: max |difference| {drift:.3f} fen (the reference does not round)")

    facts = [as_facts(cols, i) for i in range(N)]
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
    print(f"ratio per-asset / batch: {per_s / batch_s:8.1f}x")
    mismatches = sum(1 for j, i in enumerate(checked)
                     if (*(int(scores[k][i]) for k in ("legal", "technical", "economic", "total")),
                         int(values[i])) != results[j])
    print(f"batch vs per-asset on {len(checked):,} assets: {mismatches} mismatches (4 scores, income fen)")


if __name__ == "__main__":
    main()
