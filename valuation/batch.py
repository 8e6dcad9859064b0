"""The batch path: indicator scores and the income approach for many assets at once, with NumPy.

Used by statistics and stress tests. It gives the same results as the per-asset path
(``valuation.scoring`` and ``valuation.approaches``), to the point and to the fen:

- scores use the same integer arithmetic with half-up division, so they are exact;
- the income approach is summed in float64, one multiply per year, and rounded half-up; a result whose
  fraction lies so close to half a fen that float error could flip the rounding is recomputed in Decimal
  by the per-asset function. Counting roundings (unit u = eps/2; growth and discount ≥ -50%, else
  Decimal, so every term is positive): 1+g and 1+d carry ≤ 2u each, their ratio 5u, year t's term
  ≤ (6t-3)u, the sum of n terms ≤ (7n-3)u, the after-tax royalty 4u, the value ≤ (7n+2)u =
  (3.5n+1)·eps. The band is (11n+8)·eps, three times that.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np
import sqlalchemy as sa
from sqlmodel.ext.asyncio.session import AsyncSession

from kernel.db import table_of
from market.assets.models import ASSET_STATUSES, Asset, OwnershipRecord
from market.numbers import ASSET_KINDS
from valuation import config
from valuation.approaches import relief_from_royalty
from valuation.scoring import COHORT_INDICATORS, Facts

KIND_CODE = {k: i for i, k in enumerate(ASSET_KINDS)}
STATUS_CODE = {s: i for i, s in enumerate(ASSET_STATUSES)}
_EPS = float(np.finfo(np.float64).eps)
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


NO_DATE = -(10**9)  # a missing date in day-number columns (days since 1970-01-01)
_EPOCH = date(1970, 1, 1)
_DENSE_BINS = 1 << 22  # counting-based ranks while groups × values fit in this many bins, else sort


def day_number(d: date | None) -> int:
    return NO_DATE if d is None else (d - _EPOCH).days


def from_columns(*, kind: np.ndarray, status: np.ndarray, cohort: np.ndarray, claims: np.ndarray,
                 forward_citations: np.ndarray, family_size: np.ndarray, award_score: np.ndarray,
                 strategic_emerging: np.ndarray, has_industry: np.ndarray, expiry_day: np.ndarray,
                 last_transaction_day: np.ndarray, transfers: np.ndarray, today: date) -> FactsArrays:
    """Arrays from integer-coded columns as the registry query gives them (codes, day numbers, NO_DATE)."""
    t = day_number(today)
    expiry, last_tx = np.asarray(expiry_day, np.int64), np.asarray(last_transaction_day, np.int64)
    return FactsArrays(
        kind=np.asarray(kind, np.int64), status=np.asarray(status, np.int64), cohort=np.asarray(cohort, np.int64),
        claims=np.asarray(claims, np.int64), forward_citations=np.asarray(forward_citations, np.int64),
        family_size=np.asarray(family_size, np.int64), award_score=np.asarray(award_score, np.int64),
        strategic_emerging=np.asarray(strategic_emerging, bool), has_industry=np.asarray(has_industry, bool),
        days_to_expiry=np.where(expiry == NO_DATE, -1, np.maximum(0, expiry - t)),
        days_since_transaction=np.where(last_tx == NO_DATE, -1, np.maximum(0, t - last_tx)),
        transfers=np.asarray(transfers, np.int64))


def facts_to_arrays(facts: Sequence[Facts], today: date) -> FactsArrays:
    """Arrays from per-asset ``Facts`` (tests and small callers; the registry path uses ``from_columns``)."""
    cohort_ids: dict[tuple[str, int], int] = {}

    def arr(values: Sequence[int | bool], dtype: type = np.int64) -> np.ndarray:
        return np.asarray(values, dtype=dtype)

    return from_columns(
        kind=arr([KIND_CODE[f.kind] for f in facts]),
        status=arr([STATUS_CODE[f.status] for f in facts]),
        cohort=arr([-1 if f.cohort is None else cohort_ids.setdefault(f.cohort, len(cohort_ids)) for f in facts]),
        claims=arr([f.count("claims") for f in facts]),
        forward_citations=arr([f.count("forward_citations") for f in facts]),
        family_size=arr([f.count("family_size") for f in facts]),
        award_score=arr([award_score(f.awards) for f in facts]),
        strategic_emerging=arr([f.strategic_emerging for f in facts], bool),
        has_industry=arr([bool(f.industry) for f in facts], bool),
        expiry_day=arr([day_number(f.expiry_date) for f in facts]),
        last_transaction_day=arr([day_number(f.last_transaction_on) for f in facts]),
        transfers=arr([f.transfers for f in facts]), today=today)


def _half_up_div(num: np.ndarray, den: np.ndarray | np.int64) -> np.ndarray:
    return (2 * num + den) // (2 * den)


def _dense(keys: np.ndarray) -> np.ndarray:
    """Keys (≥ 0) renumbered 0..k-1 in key order, without sorting."""
    present = np.bincount(keys) > 0
    return (np.cumsum(present) - 1)[keys]


def _group_sizes(groups: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per row: its group's size and how many rows sit in lower-numbered groups."""
    sizes = np.bincount(groups)
    return sizes[groups], (np.cumsum(sizes) - sizes)[groups]


def _group_percentile(groups: np.ndarray, values: np.ndarray, sizes: np.ndarray, start: np.ndarray) -> np.ndarray:
    """Mid-rank percentile of each value within its group (integers, exact); sizes/start from _group_sizes."""
    span = int(values.max(initial=0)) + 1
    keys = groups * span + values
    if (int(groups.max(initial=0)) + 1) * span <= _DENSE_BINS:  # count instead of sort: linear time
        counts = np.bincount(keys)
        left, equal = (np.cumsum(counts) - counts)[keys], counts[keys]
    else:
        ordered = np.sort(keys)
        left = np.searchsorted(ordered, keys, "left")
        equal = np.searchsorted(ordered, keys, "right") - left
    return _half_up_div(100 * (2 * (left - start) + equal), 2 * sizes)


def scores(fa: FactsArrays, scenario: str) -> dict[str, np.ndarray]:
    """Legal, technical, economic and total scores (int64 arrays), as ``scoring.score`` gives them."""
    d = config.data()
    specs = d["score"]["indicators"]
    weights = d["scenarios"][scenario]["indicators"]
    n = len(fa)
    kind = np.asarray(fa.kind, np.int64)

    status_table = np.array([specs["legal_status"]["scores"][s] for s in ASSET_STATUSES], dtype=np.int64)
    years = np.array([config.kind_data(k)["legal_term_years"] or 0 for k in ASSET_KINDS], dtype=np.int64)
    term_days = years[kind] * 365
    no_expiry = (fa.days_to_expiry < 0) | (term_days == 0)
    remaining = np.where(no_expiry, specs["remaining_term"]["no_expiry_score"],
                         np.minimum(100, _half_up_div(100 * np.maximum(fa.days_to_expiry, 0),
                                                      np.where(term_days == 0, 1, term_days))))

    # Cohort = (kind, IPC subclass × filing year); fallback population = the kind.
    has_cohort = fa.cohort >= 0
    n_kinds = len(ASSET_KINDS)
    cohort_group = _dense(np.where(has_cohort, n_kinds + kind * (int(fa.cohort.max(initial=0)) + 1) + fa.cohort,
                                   kind))
    min_size = d["score"]["min_cohort_size"]
    cohort_n, cohort_start = _group_sizes(cohort_group)
    kind_n, kind_start = _group_sizes(kind)
    use_cohort = has_cohort & (cohort_n >= min_size)
    ranked: dict[str, np.ndarray] = {}
    for ind, values in zip(COHORT_INDICATORS, (fa.claims, fa.forward_citations, fa.family_size), strict=True):
        values = np.asarray(values, np.int64)
        ranked[ind] = np.where(use_cohort, _group_percentile(cohort_group, values, cohort_n, cohort_start),
                               _group_percentile(kind, values, kind_n, kind_start))

    ind_spec = specs["industry"]
    industry = np.where(fa.strategic_emerging, ind_spec["strategic_emerging"],
                        np.where(fa.has_industry, ind_spec["known_industry"], ind_spec["unknown"]))
    tx = specs["transactions"]
    age = fa.days_since_transaction
    # Recency band by binary search over the limits; the first slot is "never" (age -1).
    limits = np.array([-1] + [limit for limit, _ in tx["recency_days"]], dtype=np.int64)
    band_scores = np.array([tx["never"]] + [s for _, s in tx["recency_days"]] + [tx["older"]], dtype=np.int64)
    base = band_scores[np.searchsorted(limits, age, "left")]
    transactions = np.minimum(100, base + tx["per_transfer"] * fa.transfers)

    values_by_name = {"legal_status": status_table[fa.status], "remaining_term": remaining, **ranked,
                      "awards": np.asarray(fa.award_score, np.int64), "industry": industry,
                      "transactions": transactions}
    dims: dict[str, np.ndarray] = {}
    for dim in config.DIMENSIONS:
        num = np.zeros(n, dtype=np.int64)
        den = np.zeros(n, dtype=np.int64)
        for name, spec in specs.items():
            if spec["dimension"] != dim:
                continue
            kinds = spec.get("kinds")
            w = np.array([weights[name] if kinds is None or k in kinds else 0 for k in ASSET_KINDS],
                         dtype=np.int64)[kind]
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
    # Σ (1+g)^(t-1)/(1+d)^t term by term: one multiply per year; each asset's term is zeroed after its life.
    ratio = (1.0 + gro / 10000.0) / (1.0 + dis / 10000.0)
    term = 1.0 / (1.0 + dis / 10000.0)
    factor = np.zeros(len(rev))
    by_life = np.argsort(life, kind="stable")
    ends = np.searchsorted(life[by_life], np.arange(1, int(life.max()) + 1), "right")
    done = int(np.searchsorted(life[by_life], 0, "right"))
    term[by_life[:done]] = 0.0  # no life left: worth nothing
    for t, end in enumerate(ends, start=1):
        factor += term
        term[by_life[done:end]] = 0.0
        done = int(end)
        if t < len(ends):
            term *= ratio
    exact = cash * factor
    out = np.floor(exact + 0.5).astype(np.int64)
    frac = exact - np.floor(exact)
    rel_tol = (11 * life + 8) * _EPS  # the sum's error bound grows with the life (see module docstring)
    outside_bound = (gro < -5000) | (dis < -5000)  # the error bound assumes rates above -50%
    doubtful = np.flatnonzero((np.abs(frac - 0.5) < _ABS_TOL + np.abs(exact) * rel_tol) | outside_bound)
    for i in doubtful:  # too close to half a fen for float: decide in Decimal
        out[i] = relief_from_royalty(int(rev[i]), int(roy[i]), int(tax[i]), int(gro[i]), int(dis[i]), int(life[i]))
    return out


def _day_number_sql(column: Any, dialect: str) -> Any:
    """The date column as days since 1970-01-01 (NO_DATE when null), computed by the database."""
    if dialect == "postgresql":
        days = column - sa.cast(sa.literal(_EPOCH.isoformat()), sa.Date)
    else:  # SQLite stores ISO dates; julianday(1970-01-01) = 2440587.5
        days = sa.cast(sa.func.julianday(column) - 2440587.5, sa.Integer)
    return sa.func.coalesce(days, NO_DATE)


def _code_sql(column: Any, codes: dict[str, int]) -> Any:
    return sa.case(codes, value=column, else_=-1)


async def load_registry(session: AsyncSession, today: date) -> tuple[list[str], FactsArrays]:
    """Every registered asset as arrays (ids in id order), for statistics and stress tests.

    One query whose columns are already integers (codes, day numbers, cohort ranks), turned into
    arrays column by column: no per-asset object between the database and the vectorised scoring.
    """
    dialect = session.get_bind().dialect.name
    a = table_of(Asset).c
    transfers = (sa.select(OwnershipRecord.asset_id, sa.func.count().label("n"))  # type: ignore[call-overload]  # sqlmodel types only its own select
                 .where(OwnershipRecord.via != "registration").group_by(OwnershipRecord.asset_id).subquery())
    year = sa.extract("year", a.filing_date)
    cohort = sa.case((sa.and_(a.ipc_subclass.is_not(None), a.filing_date.is_not(None)),
                      sa.func.dense_rank().over(order_by=(a.ipc_subclass, year)) - 1), else_=-1)
    query = (sa.select(a.id, _code_sql(a.kind, KIND_CODE), _code_sql(a.status, STATUS_CODE), cohort,
                       sa.func.coalesce(a.claims_count, 0), sa.func.coalesce(a.forward_citations, 0),
                       sa.case((a.strategic_emerging, 1), else_=0),
                       sa.case((sa.func.coalesce(sa.func.length(a.industry), 0) > 0, 1), else_=0),
                       _day_number_sql(a.expiry_date, dialect), _day_number_sql(a.last_transaction_on, dialect),
                       sa.func.coalesce(transfers.c.n, 0), a.family_countries, a.awards)
             .outerjoin(transfers, transfers.c.asset_id == a.id).order_by(a.id))
    rows = (await session.exec(query)).all()  # type: ignore[call-overload]  # 13 columns: past the overloads
    (ids, kind, status, cohorts, claims, citations, strategic, industry, expiry, last_tx, n_transfers,
     family, awards) = zip(*rows, strict=True) if rows else ((),) * 13
    scores_by_awards: dict[tuple[str, ...], int] = {}  # few distinct award lists: score each once
    return list(ids), from_columns(
        kind=np.asarray(kind, np.int64), status=np.asarray(status, np.int64), cohort=np.asarray(cohorts, np.int64),
        claims=np.asarray(claims, np.int64), forward_citations=np.asarray(citations, np.int64),
        family_size=np.fromiter((len(f or ()) for f in family), np.int64, len(family)),
        award_score=np.fromiter((scores_by_awards.setdefault(t, award_score(t))
                                 for t in (tuple(x or ()) for x in awards)), np.int64, len(awards)),
        strategic_emerging=np.asarray(strategic, bool), has_industry=np.asarray(industry, bool),
        expiry_day=np.asarray(expiry, np.int64), last_transaction_day=np.asarray(last_tx, np.int64),
        transfers=np.asarray(n_transfers, np.int64), today=today)
