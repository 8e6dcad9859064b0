from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np
import pytest

from finance.fund.stress import analytic_expected_loss, default_thresholds, simulate_losses, stress_test


def book(n: int = 300, seed: int = 1) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {"exposures": rng.integers(10**7, 10**9, n), "pd_bps": rng.choice([100, 300, 800], n),
            "lgd_bps": rng.integers(3_000, 9_000, n)}


@pytest.mark.parametrize("correlation", [0, 3000])
def test_expected_loss_converges_to_ead_pd_lgd(correlation: int) -> None:
    result = stress_test(**book(), correlation_bps=correlation, scenarios=20_000, seed=11)
    assert result.analytic_expected_loss > 0
    assert abs(result.expected_loss / result.analytic_expected_loss - 1) < 0.03


def test_analytic_expected_loss_is_exact() -> None:
    # ¥1m × 2% × 50% = ¥10,000; ¥0.01 × 0.01% × 50% = 0.00005 fen rounds away.
    assert analytic_expected_loss([100_000_000, 1], [200, 1], [5000, 5000]) == 1_000_000


def test_same_seed_same_result_whatever_the_worker_count() -> None:
    args = {**book(), "correlation_bps": 2000, "fund_share_bps": 4000, "fund_cash": 10**9,
            "scenarios": 5_000, "chunk_elements": 100_000}
    one = stress_test(**args, seed=5, workers=1)
    assert stress_test(**args, seed=5, workers=3) == one
    assert stress_test(**args, seed=5) == one
    assert stress_test(**args, seed=6) != one


def test_correlation_fattens_the_tail_but_not_the_mean() -> None:
    independent = stress_test(**book(), correlation_bps=0, scenarios=20_000, seed=3)
    correlated = stress_test(**book(), correlation_bps=5000, scenarios=20_000, seed=3)
    assert correlated.var_99 > 3 * independent.var_99
    assert correlated.expected_shortfall_99 > correlated.var_99
    assert abs(correlated.expected_loss / independent.expected_loss - 1) < 0.03


def test_tail_matches_the_vasicek_formula_for_a_large_uniform_pool() -> None:
    n, pd, rho = 2000, 0.01, 0.2
    result = stress_test(np.full(n, 10**8), int(pd * 10000), 10_000, int(rho * 10000),
                         scenarios=20_000, seed=9)
    normal = NormalDist()
    conditional_pd = normal.cdf((normal.inv_cdf(pd) + math.sqrt(rho) * normal.inv_cdf(0.99))
                                / math.sqrt(1 - rho))
    assert result.var_99 == pytest.approx(n * 10**8 * conditional_pd, rel=0.08)


def test_percentiles_are_ordered_and_var_is_the_99th() -> None:
    result = stress_test(**book(), correlation_bps=1500, scenarios=10_000, seed=2)
    values = list(result.percentiles.values())
    assert values == sorted(values) and result.percentiles[99.0] == result.var_99
    assert result.scenarios == 10_000 and result.loans == 300


def test_certain_and_impossible_defaults() -> None:
    exposures = [100_000_00, 333_33]
    total, fund = simulate_losses(exposures, 10_000, 5_000, 0, 5_000, scenarios=50, seed=1)
    assert (total == 5_016_666.5).all() and (fund == 2_508_333.25).all()
    sure = stress_test(exposures, 10_000, 5_000, 0, 5_000, fund_cash=2_508_333, scenarios=50, seed=1)
    assert sure.depleted_scenarios == 50 and sure.probability_fund_depleted == 1.0
    assert sure.fund_expected_loss == 2_508_333  # .25 rounds down
    assert sure.expected_loss == 5_016_667  # .5 rounds half-up
    never = stress_test(exposures, 0, 5_000, 9_000, 5_000, scenarios=50, seed=1)
    assert never.expected_loss == never.var_99 == never.depleted_scenarios == 0


def test_depletion_probability_rises_as_cash_falls() -> None:
    args = {**book(), "correlation_bps": 2000, "fund_share_bps": 5000, "scenarios": 5_000, "seed": 4}
    rich = stress_test(**args, fund_cash=10**12)
    poor = stress_test(**args, fund_cash=rich.fund_var_99 // 4)
    assert rich.depleted_scenarios == 0
    assert 0.01 < poor.probability_fund_depleted < 1.0


def test_thresholds_are_the_inverse_normal_per_pd() -> None:
    values = default_thresholds(np.array([0, 100, 10_000, 100]))
    assert values[0] == -math.inf and values[2] == math.inf
    assert values[1] == values[3] == pytest.approx(-2.3263478740)


@pytest.mark.parametrize("bad", [
    {"exposures": [-1]}, {"pd_bps": 10_001}, {"lgd_bps": -1}, {"correlation_bps": 10_000},
    {"fund_share_bps": 20_000}, {"scenarios": 0}, {"fund_cash": -1}, {"exposures": [[1, 2]]},
])
def test_bad_inputs_are_refused(bad: dict) -> None:
    args = {"exposures": [100, 200], "pd_bps": 100, "lgd_bps": 5000, "correlation_bps": 1000,
            "fund_share_bps": 0, "scenarios": 10, "fund_cash": 0, **bad}
    with pytest.raises(ValueError):
        stress_test(**args)


@pytest.mark.parametrize("workers", [1, 3])
def test_each_worker_is_one_thread_blas_included(workers: int, monkeypatch: pytest.MonkeyPatch) -> None:
    # OpenBLAS starts a thread per core for each product unless limited: "1 worker" would use every core.
    import contextlib

    from threadpoolctl import threadpool_info, threadpool_limits  # type: ignore[import-untyped]  # no stubs

    import finance.fund.stress as stress

    seen: list[list[int]] = []

    @contextlib.contextmanager
    def recording_limits(limit: int):  # type: ignore[no-untyped-def]  # wraps an untyped library call
        with threadpool_limits(limit):
            seen.append([pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"])
            yield

    monkeypatch.setattr(stress, "threadpool_limits", recording_limits)
    simulate_losses(**book(50), correlation_bps=1000, scenarios=200, seed=1, chunk_elements=1_000, workers=workers)
    assert seen and all(pools and set(pools) == {1} for pools in seen)  # a BLAS was found, limited to one
