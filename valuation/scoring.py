"""Indicator scores after GB/T 42748-2023: legal, technical and economic value degrees, 0–100.

Pure functions over an asset's registry facts and its cohort. Everything is integer arithmetic with
half-up rounding, so this per-asset path and the NumPy batch path (``valuation.batch``) agree exactly.
Indicators, their weights per scenario and their sources are in ``indicators.json``.

Field- and year-dependent counts (claims, forward citations, family size) are percentile ranks
(mid-rank) within the asset's cohort, IPC subclass × filing year, as in the OECD patent-quality
indicators; when the cohort has fewer than ``min_cohort_size`` assets, within all assets of its kind.
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from valuation import config

COHORT_INDICATORS = ("claims", "forward_citations", "family_size")


@dataclass(frozen=True)
class Facts:
    """What the registry knows about one asset, as the score needs it."""

    kind: str
    status: str = "valid"
    ipc_subclass: str | None = None
    filing_date: date | None = None
    expiry_date: date | None = None
    claims_count: int | None = None
    forward_citations: int | None = None
    family_size: int = 0
    awards: tuple[str, ...] = ()
    industry: str | None = None
    strategic_emerging: bool = False
    last_transaction_on: date | None = None
    transfers: int = 0  # recorded changes of owner (ownership history via a deal or disposal)

    @property
    def cohort(self) -> tuple[str, int] | None:
        if self.ipc_subclass is None or self.filing_date is None:
            return None
        return (self.ipc_subclass, self.filing_date.year)

    def count(self, indicator: str) -> int:
        value = {"claims": self.claims_count, "forward_citations": self.forward_citations,
                 "family_size": self.family_size}[indicator]
        return value or 0


def half_up_div(num: int, den: int) -> int:
    """round(num / den) half-up, for num ≥ 0 and den > 0, in integers."""
    return (2 * num + den) // (2 * den)


def percentile(sorted_values: list[int], value: int) -> int:
    """Mid-rank percentile 0–100 of ``value`` in a population that includes it."""
    n = len(sorted_values)
    if n == 0:
        return 50
    less = bisect.bisect_left(sorted_values, value)
    equal = bisect.bisect_right(sorted_values, value) - less
    return half_up_div(100 * (2 * less + equal), 2 * n)


@dataclass
class Population:
    """Sorted indicator values per cohort and per kind, to rank one asset against its peers."""

    by_cohort: dict[tuple[str, str, int], dict[str, list[int]]] = field(default_factory=dict)
    by_kind: dict[str, dict[str, list[int]]] = field(default_factory=dict)

    @classmethod
    def build(cls, peers: Iterable[Facts]) -> Population:
        cohorts: dict[Any, dict[str, list[int]]] = defaultdict(lambda: {i: [] for i in COHORT_INDICATORS})
        kinds: dict[Any, dict[str, list[int]]] = defaultdict(lambda: {i: [] for i in COHORT_INDICATORS})
        for f in peers:
            targets = [kinds[f.kind]]
            if f.cohort is not None:
                targets.append(cohorts[(f.kind, *f.cohort)])
            for t in targets:
                for ind in COHORT_INDICATORS:
                    t[ind].append(f.count(ind))
        for table in (*cohorts.values(), *kinds.values()):
            for values in table.values():
                values.sort()
        return cls(dict(cohorts), dict(kinds))

    def rank(self, facts: Facts, indicator: str) -> tuple[int, str, int]:
        """(percentile, which population, its size)."""
        min_size = config.data()["score"]["min_cohort_size"]
        if facts.cohort is not None:
            table = self.by_cohort.get((facts.kind, *facts.cohort))
            if table is not None and len(table[indicator]) >= min_size:
                return percentile(table[indicator], facts.count(indicator)), "cohort", len(table[indicator])
        values = self.by_kind.get(facts.kind, {}).get(indicator, [])
        return percentile(values, facts.count(indicator)), "kind", len(values)


@dataclass(frozen=True)
class IndicatorScore:
    name: str
    dimension: str
    score: int | None  # None: not applicable to this kind, its weight goes to the others
    weight_bps: int
    raw: Any
    basis: str


@dataclass(frozen=True)
class Score:
    legal: int
    technical: int
    economic: int
    total: int
    indicators: tuple[IndicatorScore, ...]

    def as_dict(self) -> dict[str, int]:
        return {"legal": self.legal, "technical": self.technical, "economic": self.economic, "total": self.total}


def remaining_term_score(kind: str, expiry_date: date | None, today: date) -> int:
    spec = config.data()["score"]["indicators"]["remaining_term"]
    years = config.kind_data(kind)["legal_term_years"]
    if expiry_date is None or not years:
        return int(spec["no_expiry_score"])
    term_days = years * 365
    return min(100, half_up_div(100 * max(0, (expiry_date - today).days), term_days))


def transactions_score(last_transaction_on: date | None, transfers: int, today: date) -> int:
    spec = config.data()["score"]["indicators"]["transactions"]
    if last_transaction_on is None:
        base = spec["never"]
    else:
        age = max(0, (today - last_transaction_on).days)
        base = next((s for limit, s in spec["recency_days"] if age <= limit), spec["older"])
    return min(100, base + spec["per_transfer"] * transfers)


def indicator_scores(facts: Facts, population: Population, today: date, scenario: str) -> list[IndicatorScore]:
    specs = config.data()["score"]["indicators"]
    weights = config.data()["scenarios"][scenario]["indicators"]
    out: list[IndicatorScore] = []
    for name, spec in specs.items():
        raw: Any
        kinds = spec.get("kinds")
        if kinds is not None and facts.kind not in kinds:
            out.append(IndicatorScore(name, spec["dimension"], None, weights[name], None, "not applicable"))
            continue
        if name == "legal_status":
            score, raw, basis = spec["scores"][facts.status], facts.status, "status"
        elif name == "remaining_term":
            score = remaining_term_score(facts.kind, facts.expiry_date, today)
            raw, basis = facts.expiry_date, "remaining days / legal term"
        elif name in COHORT_INDICATORS:
            score, where, size = population.rank(facts, name)
            raw = facts.count(name)
            basis = (f"percentile in cohort {facts.cohort[0]}×{facts.cohort[1]} (n={size})"
                     if where == "cohort" and facts.cohort else f"percentile among {facts.kind} (n={size})")
        elif name == "awards":
            score = max((spec["scores"].get(a, 0) for a in facts.awards), default=spec["none"])
            raw, basis = list(facts.awards), "best award"
        elif name == "industry":
            score = (spec["strategic_emerging"] if facts.strategic_emerging
                     else spec["known_industry"] if facts.industry else spec["unknown"])
            raw, basis = facts.industry, "strategic emerging / known field"
        elif name == "transactions":
            score = transactions_score(facts.last_transaction_on, facts.transfers, today)
            raw, basis = {"last_transaction_on": facts.last_transaction_on, "transfers": facts.transfers}, \
                "recency + transfers"
        else:  # a new indicator in the data file needs code here
            raise KeyError(name)
        out.append(IndicatorScore(name, spec["dimension"], int(score), weights[name], raw, basis))
    return out


def combine(indicators: list[IndicatorScore], scenario: str) -> Score:
    dim_weights: Mapping[str, int] = config.data()["scenarios"][scenario]["dimensions"]
    dims: dict[str, int] = {}
    for dim in config.DIMENSIONS:
        parts = [(i.weight_bps, i.score) for i in indicators if i.dimension == dim and i.score is not None]
        weight = sum(w for w, _ in parts)
        dims[dim] = half_up_div(sum(w * s for w, s in parts), weight) if weight else 0
    total = half_up_div(sum(dim_weights[d] * dims[d] for d in config.DIMENSIONS), 10000)
    return Score(dims["legal"], dims["technical"], dims["economic"], total, tuple(indicators))


def score(facts: Facts, population: Population, today: date, scenario: str) -> Score:
    return combine(indicator_scores(facts, population, today, scenario), scenario)
