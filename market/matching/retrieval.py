"""Candidate retrieval over the inverted index: the first, approximate pass of a match query.

The score the engine gives (0.65 · cosine + 0.35 · IPC overlap, plus industry and feedback bonuses) is
computed in SQL from the postings of the query's terms, grouped by document, with the candidate-pool
conditions joined in; the best few hundred are then re-ranked exactly in Python (``engine.rank``) with
every query term, which also writes the reasons.

Only the rarer query terms are looked up, as search engines do with stop terms: terms are taken rarest
first while the postings read stay within ``POSTINGS_BUDGET``. A very common term (一种, 本发明, method)
adds little to a cosine, and whatever it adds still counts in the exact re-ranking.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from kernel.db import table_of
from market.matching.engine import (
    INDUSTRY_BONUS,
    INTERESTED_BONUS,
    IPC_LEVELS,
    IPC_WEIGHT,
    SIMILAR_BONUS,
    TEXT_WEIGHT,
    idf,
    ipc_terms,
    term_counts,
    tf,
)
from market.matching.index import corpus_size, document_frequencies
from market.matching.models import MatchTerm

POSTINGS_BUDGET = 30_000  # postings read per query, at most (the rarest term is always read)
RERANK = 300  # candidates re-ranked exactly


@dataclass
class Target:
    """The documents being ranked: their table, the pool conditions and the columns bonuses look at."""

    doc_type: str
    id_col: Any
    conditions: list[Any]
    industry_col: Any
    subclass_col: Any | None = None


@dataclass
class Query:
    text: str
    ipc_codes: Sequence[str]
    industry: str | None
    interested: set[str] = field(default_factory=set)
    not_relevant: set[str] = field(default_factory=set)
    liked_subclasses: set[str] = field(default_factory=set)


@dataclass
class Retrieved:
    ids: list[str]
    n: int  # indexed documents of the type
    df: dict[str, int]  # frequencies of the query's terms


def choose_terms(df: dict[str, int], budget: int = POSTINGS_BUDGET) -> list[str]:
    """Query terms to look up: rarest first while the postings stay within budget (at least one)."""
    chosen: list[str] = []
    total = 0
    for term in sorted((t for t in df if df[t] > 0), key=lambda t: (df[t], t)):
        if chosen and total + df[term] > budget:
            break
        chosen.append(term)
        total += df[term]
    return chosen


async def retrieve(session: AsyncSession, target: Target, query: Query, limit: int) -> Retrieved:
    k = max(RERANK, 5 * limit)
    counts = term_counts(query.text)
    ipcs = ipc_terms(query.ipc_codes)
    n = await corpus_size(session, target.doc_type)
    df = await document_frequencies(session, target.doc_type, [*counts, *ipcs])
    text_df = {t: df.get(t, 0) for t in counts}
    ipc_df = {t: df.get(t, 0) for t in ipcs}
    # IPC terms first (they carry 35% of the score and are few), then the rarest text terms.
    ipc_chosen = choose_terms(ipc_df)
    text_chosen = choose_terms(text_df, max(POSTINGS_BUDGET - sum(ipc_df[t] for t in ipc_chosen), 1))
    ids: list[str] = []
    if ipc_chosen or text_chosen:
        ids = await _scored(session, target, query, counts, n, df, text_chosen, {t: ipcs[t] for t in ipc_chosen}, k)
    # Documents that score on industry and feedback alone (no shared term or code), as the engine would:
    # those marked interested, and the first by id (the engine's tie order) of the same industry.
    extra = [(col(target.id_col).in_(sorted(query.interested)), len(query.interested))] if query.interested else []
    if query.industry:
        extra.append((target.industry_col == query.industry, 2 * limit))
    for cond, most in extra:
        stmt = select(target.id_col).where(*target.conditions, cond).order_by(target.id_col).limit(most)
        if query.not_relevant:
            stmt = stmt.where(col(target.id_col).not_in(sorted(query.not_relevant)))
        ids.extend(i for i in (await session.exec(stmt)).all() if i not in ids)
    return Retrieved(ids=ids, n=n, df=df)


async def _scored(session: AsyncSession, target: Target, query: Query, counts: dict[str, int], n: int,
                  df: dict[str, int], text_terms: list[str], ipc_chosen: dict[str, str], k: int) -> list[str]:
    postings = table_of(MatchTerm).c
    q = {t: tf(c) * idf(n, df.get(t, 0)) for t, c in counts.items()}
    q_norm = math.sqrt(sum(w * w for w in q.values())) or 1.0
    # A posting's weight is the document's tf / length; × tf_q·idf² / |q| is its share of the cosine.
    dot_weight = {t: q[t] * idf(n, df[t]) / q_norm for t in text_terms}
    dot = (sa.func.sum(postings.weight * sa.case(dot_weight, value=postings.term, else_=0.0)) if dot_weight
           else sa.literal(0.0))
    levels = [sa.func.max(sa.case({t: 1 for t, lv in ipc_chosen.items() if lv == level}, value=postings.term,
                                  else_=0)).label(f"ipc_{level}")
              for level in IPC_LEVELS if any(lv == level for lv in ipc_chosen.values())]
    hits = (sa.select(postings.doc_id, dot.label("dot"), *levels)
            .where(postings.doc_type == target.doc_type, postings.term.in_([*text_terms, *ipc_chosen]))
            .group_by(postings.doc_id).subquery("hits"))
    cosine = hits.c.dot
    score: Any = cosine
    if query.ipc_codes:
        ipc = sum((hits.c[f"ipc_{lv}"] * weight for lv, weight in IPC_LEVELS.items() if f"ipc_{lv}" in hits.c),
                  sa.literal(0.0))
        score = TEXT_WEIGHT * cosine + IPC_WEIGHT * ipc
    if query.industry:
        score = score + sa.case((target.industry_col == query.industry, INDUSTRY_BONUS), else_=0.0)
    if query.interested:
        score = score + sa.case((hits.c.doc_id.in_(sorted(query.interested)), INTERESTED_BONUS), else_=0.0)
    if query.liked_subclasses and target.subclass_col is not None:
        score = score + sa.case((col(target.subclass_col).in_(sorted(query.liked_subclasses)), SIMILAR_BONUS),
                                else_=0.0)
    stmt = (select(hits.c.doc_id)
            .join(target.id_col.table, target.id_col == hits.c.doc_id)
            .where(*target.conditions)
            .order_by(score.desc(), hits.c.doc_id).limit(k))
    if query.not_relevant:
        stmt = stmt.where(hits.c.doc_id.not_in(sorted(query.not_relevant)))
    return list((await session.exec(stmt)).all())
