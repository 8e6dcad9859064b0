"""The batch path: indicator scores and the income approach for many assets at once, with NumPy.

Used by statistics and stress tests. It gives the same results as the per-asset path
(``valuation.scoring`` and ``valuation.approaches``), to the point and to the fen:

- scores use the same integer arithmetic with half-up division, so they are exact;
- the income approach is summed in float64 and rounded half-up; a result whose fraction lies so
  close to half a fen that float error (bounded well below 1e-13 relative for ≤ 30 positive terms)
  could flip the rounding is recomputed in Decimal by the per-asset function.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

import numpy as np
import sqlalchemy as sa
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from market.assets.models import ASSET_STATUSES, Asset, OwnershipRecord
from market.numbers import ASSET_KINDS
from valuation import config
from valuation.approaches import relief_from_royalty
from valuation.scoring import COHORT_INDICATORS, Facts

KIND_CODE = {k: i for i, k in enumerate(ASSET_KINDS)}
STATUS_CODE = {s: i for i, s in enumerate(ASSET_STATUSES)}
_REL_TOL = 1e-13  # bound on float64 relative error of the income sum, with ~8x margin
_ABS_TOL = 1e-6


@dataclass
class FactsArrays:
    """One row per asset. Dates are given as day counts relative to the valuation date."""

    kind: np.ndarray  # int, index into ASSET_KINDS
    status: np.ndarray  # int, index into ASSET_STATUSES
    cohort: np.ndarray  # int, id of (IPC subclass, filing year); -1 unknown
    claims: np.ndarray
    forward_citations: np.ndarray
    family_size: np.ndarray
    award_score: np.ndarray  # best award's score (0 none), from the data file
    strategic_emerging: np.ndarray  # bool
    has_industry: np.ndarray  # bool
    days_to_expiry: np.ndarray  # -1: no expiry date
    days_since_transaction: np.ndarray  # -1: never
    transfers: np.ndarray

    def __len__(self) -> int:
        return len(self.kind)


def award_score(awards: Sequence[str]) -> int:
    spec = config.data()["score"]["indicators"]["awards"]
    return max((spec["scores"].get(a, 0) for a in awards), default=spec["none"])


def facts_to_arrays(facts: Sequence[Facts], today: date) -> FactsArrays:
    cohort_ids: dict[tuple[str, int], int] = {}
    cohorts = [-1 if f.cohort is None else cohort_ids.setdefault(f.cohort, len(cohort_ids)) for f in facts]

    def arr(values: Sequence[int | bool], dtype: type = np.int64) -> np.ndarray:
        return np.asarray(values, dtype=dtype)

    return FactsArrays(
        kind=arr([KIND_CODE[f.kind] for f in facts]),
        status=arr([STATUS_CODE[f.status] for f in facts]),
        cohort=arr(cohorts),
        claims=arr([f.count("claims") for f in facts]),
        forward_citations=arr([f.count("forward_citations") for f in facts]),
        family_size=arr([f.count("family_size") for f in facts]),
        award_score=arr([award_score(f.awards) for f in facts]),
        strategic_emerging=arr([f.strategic_emerging for f in facts], bool),
        has_industry=arr([bool(f.industry) for f in facts], bool),
        days_to_expiry=arr([-1 if f.expiry_date is None else max(0, (f.expiry_date - today).days) for f in facts]),
        days_since_transaction=arr([-1 if f.last_transaction_on is None
                                    else max(0, (today - f.last_transaction_on).days) for f in facts]),
        transfers=arr([f.transfers for f in facts]),
    )


def _half_up_div(num: np.ndarray, den: np.ndarray | np.int64) -> np.ndarray:
    return (2 * num + den) // (2 * den)


def _group_percentile(groups: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mid-rank percentile of each value within its group, and the group's size (integers, exact)."""
    span = int(values.max(initial=0)) + 1
    keys = groups * span + values
    ordered = np.sort(keys)
    left = np.searchsorted(ordered, keys, "left")
    right = np.searchsorted(ordered, keys, "right")
    start = np.searchsorted(ordered, groups * span, "left")
    sizes = np.bincount(groups)[groups]
    less, equal = left - start, right - left
    return _half_up_div(100 * (2 * less + equal), 2 * sizes), sizes


def scores(fa: FactsArrays, scenario: str) -> dict[str, np.ndarray]:
    """Legal, technical, economic and total scores (int64 arrays), as ``scoring.score`` gives them."""
    d = config.data()
    specs = d["score"]["indicators"]
    weights = d["scenarios"][scenario]["indicators"]
    n = len(fa)
    kind = fa.kind.astype(np.int64)

    status_table = np.array([specs["legal_status"]["scores"][s] for s in ASSET_STATUSES], dtype=np.int64)
    years = np.array([config.kind_data(k)["legal_term_years"] or 0 for k in ASSET_KINDS], dtype=np.int64)
    term_days = years[kind] * 365
    no_expiry = (fa.days_to_expiry < 0) | (term_days == 0)
    remaining = np.where(no_expiry, specs["remaining_term"]["no_expiry_score"],
                         np.minimum(100, _half_up_div(100 * np.maximum(fa.days_to_expiry, 0),
                                                      np.where(term_days == 0, 1, term_days))))

    # Cohort = (kind, IPC subclass × filing year); fallback population = the kind.
    has_cohort = fa.cohort >= 0
    _, cohort_group = np.unique(np.where(has_cohort, kind * (int(fa.cohort.max(initial=0)) + 2) + fa.cohort + 1,
                                         -1 - kind), return_inverse=True)
    min_size = d["score"]["min_cohort_size"]
    ranked: dict[str, np.ndarray] = {}
    for ind, values in zip(COHORT_INDICATORS, (fa.claims, fa.forward_citations, fa.family_size), strict=True):
        values = values.astype(np.int64)
        in_cohort, cohort_n = _group_percentile(cohort_group.astype(np.int64), values)
        in_kind, _ = _group_percentile(kind, values)
        ranked[ind] = np.where(has_cohort & (cohort_n >= min_size), in_cohort, in_kind)

    ind_spec = specs["industry"]
    industry = np.where(fa.strategic_emerging, ind_spec["strategic_emerging"],
                        np.where(fa.has_industry, ind_spec["known_industry"], ind_spec["unknown"]))
    tx = specs["transactions"]
    age = fa.days_since_transaction
    base = np.full(n, tx["older"], dtype=np.int64)
    for limit, s in reversed(tx["recency_days"]):
        base = np.where((age >= 0) & (age <= limit), s, base)
    base = np.where(age < 0, tx["never"], base)
    transactions = np.minimum(100, base + tx["per_transfer"] * fa.transfers)

    values_by_name = {"legal_status": status_table[fa.status], "remaining_term": remaining, **ranked,
                      "awards": fa.award_score.astype(np.int64), "industry": industry,
                      "transactions": transactions}
    dims: dict[str, np.ndarray] = {}
    for dim in config.DIMENSIONS:
        num = np.zeros(n, dtype=np.int64)
        den = np.zeros(n, dtype=np.int64)
        for name, spec in specs.items():
            if spec["dimension"] != dim:
                continue
            applies = np.ones(n, dtype=bool)
            if spec.get("kinds") is not None:
                applies = np.isin(kind, [KIND_CODE[k] for k in spec["kinds"]])
            w = np.where(applies, weights[name], 0)
            num += w * values_by_name[name]
            den += w
        dims[dim] = np.where(den > 0, _half_up_div(num, np.where(den == 0, 1, den)), 0)
    dim_w = d["scenarios"][scenario]["dimensions"]
    total = _half_up_div(sum(dim_w[k] * dims[k] for k in config.DIMENSIONS), np.int64(10000))
    return {**dims, "total": total}


def income(annual_revenue: np.ndarray, royalty_rate_bps: np.ndarray, tax_rate_bps: np.ndarray,
           growth_bps: np.ndarray, discount_rate_bps: np.ndarray, remaining_life_years: np.ndarray) -> np.ndarray:
    """Relief-from-royalty values in fen (int64), equal to ``approaches.relief_from_royalty`` row by row."""
    rev = np.asarray(annual_revenue, dtype=np.int64)
    roy, tax = np.asarray(royalty_rate_bps, np.int64), np.asarray(tax_rate_bps, np.int64)
    gro, dis = np.asarray(growth_bps, np.int64), np.asarray(discount_rate_bps, np.int64)
    life = np.asarray(remaining_life_years, np.int64)
    if len(rev) == 0:
        return np.zeros(0, dtype=np.int64)
    cash = rev.astype(np.float64) * (roy / 10000.0) * ((10000 - tax) / 10000.0)
    t = np.arange(1, int(life.max()) + 1, dtype=np.float64)
    q = np.power(1.0 + gro[:, None] / 10000.0, t - 1) / np.power(1.0 + dis[:, None] / 10000.0, t)
    factor = np.where(t[None, :] <= life[:, None], q, 0.0).sum(axis=1)
    exact = cash * factor
    out = np.floor(exact + 0.5).astype(np.int64)
    frac = exact - np.floor(exact)
    doubtful = np.flatnonzero(np.abs(frac - 0.5) < _ABS_TOL + np.abs(exact) * _REL_TOL)
    for i in doubtful:  # too close to half a fen for float: decide in Decimal
        out[i] = relief_from_royalty(int(rev[i]), int(roy[i]), int(tax[i]), int(gro[i]), int(dis[i]), int(life[i]))
    return out


async def load_registry(session: AsyncSession, today: date) -> tuple[list[str], FactsArrays]:
    """Every registered asset as arrays (ids in id order), for statistics and stress tests."""
    transfers = dict((await session.exec(
        select(OwnershipRecord.asset_id, sa.func.count()).where(OwnershipRecord.via != "registration")
        .group_by(OwnershipRecord.asset_id))).all())
    assets = list((await session.exec(select(Asset).order_by(col(Asset.id)))).all())
    facts = [Facts(kind=a.kind, status=a.status, ipc_subclass=a.ipc_subclass, filing_date=a.filing_date,
                   expiry_date=a.expiry_date, claims_count=a.claims_count, forward_citations=a.forward_citations,
                   family_size=len(a.family_countries or []), awards=tuple(a.awards or ()), industry=a.industry,
                   strategic_emerging=a.strategic_emerging, last_transaction_on=a.last_transaction_on,
                   transfers=int(transfers.get(a.id, 0))) for a in assets]
    return [a.id for a in assets], facts_to_arrays(facts, today)
