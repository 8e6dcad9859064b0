"""The matching maths, free of the database: TF-IDF cosine over dictionary-free terms, plus IPC overlap.

Chinese text becomes overlapping character bigrams and Latin text words (``kernel.text.terms``), so no
segmentation dictionary is needed. Term weights are sublinear tf (1 + ln count) × smoothed idf
(ln((N + 1) / (df + 1)) + 1) with the document frequencies of the corpus being ranked against; the
text score is the cosine of the two weighted vectors (sparse dicts). IPC overlap scores a shared main
group (H01M 10) 1.0, subclass (H01M) 0.6, class (H01) 0.3.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TypedDict

from kernel.text import terms

TEXT_WEIGHT = 0.65
IPC_WEIGHT = 0.35
INDUSTRY_BONUS = 0.05
INTERESTED_BONUS = 0.25
SIMILAR_BONUS = 0.10
MIN_SCORE = 0.02
SHOWN_TERMS = 5


def term_counts(text: str) -> Counter[str]:
    return Counter(terms(text))


def ipc_overlap(a: Sequence[str], b: Sequence[str]) -> tuple[float, str | None]:
    """The best overlap between two lists of IPC codes and a reason naming it."""
    best, reason = 0.0, None
    groups_a = {c.split("/")[0].strip() for c in a if " " in c}
    groups_b = {c.split("/")[0].strip() for c in b if " " in c}
    shared = sorted(groups_a & groups_b)
    if shared:
        return 1.0, f"shared IPC main group {shared[0]}"
    shared = sorted({c[:4] for c in a} & {c[:4] for c in b})
    if shared:
        return 0.6, f"shared IPC subclass {shared[0]}"
    shared = sorted({c[:3] for c in a} & {c[:3] for c in b})
    if shared:
        best, reason = 0.3, f"shared IPC class {shared[0]}"
    return best, reason


@dataclass
class Doc:
    id: str
    counts: Counter[str]
    ipc_codes: list[str]
    industry: str | None = None
    notes: list[str] = field(default_factory=list)
    subclass: str | None = None
    title: str = ""


def tf(count: int) -> float:
    return 1.0 + math.log(count)


def idf(n: int, df: int) -> float:
    return math.log((n + 1) / (df + 1)) + 1.0


def text_scores(query: Counter[str], docs: Sequence[Doc], corpus: tuple[int, Mapping[str, int]] | None = None,
                ) -> list[tuple[float, list[str]]]:
    """Cosine of each doc with the query, and the shared terms that weigh most.

    ``corpus`` is (document count, document frequencies) of the indexed corpus; without it the
    frequencies are those of ``docs`` themselves.
    """
    df: Mapping[str, int]
    if corpus is None:
        counted: Counter[str] = Counter()
        for d in docs:
            counted.update(d.counts.keys())
        n, df = len(docs), counted
    else:
        n, df = corpus

    def term_idf(t: str) -> float:
        return idf(n, df.get(t, 0))

    q = {t: tf(c) * term_idf(t) for t, c in query.items()}
    q_norm = math.sqrt(sum(w * w for w in q.values())) or 1.0
    out: list[tuple[float, list[str]]] = []
    idf_cache: dict[str, float] = {}
    for d in docs:
        shared = [t for t in q if t in d.counts]
        if not shared:
            out.append((0.0, []))
            continue
        norm_sq = 0.0
        for t, c in d.counts.items():
            w = idf_cache.get(t)
            if w is None:
                w = idf_cache[t] = term_idf(t)
            norm_sq += (tf(c) * w) ** 2
        contrib = {t: q[t] * tf(d.counts[t]) * idf_cache[t] for t in shared}
        cos = sum(contrib.values()) / (q_norm * (math.sqrt(norm_sq) or 1.0))
        top = sorted(contrib, key=lambda t: -contrib[t])[:SHOWN_TERMS]
        out.append((cos, top))
    return out


@dataclass
class Feedback:
    not_relevant: set[str] = field(default_factory=set)  # doc ids dropped
    interested: set[str] = field(default_factory=set)  # doc ids boosted
    interested_subclasses: set[str] = field(default_factory=set)  # neighbours boosted


class Ranked(TypedDict):
    id: str
    score: float
    reasons: list[str]


def rank(query_text: str, query_ipc: Sequence[str], query_industry: str | None, docs: Sequence[Doc],
         feedback: Feedback | None = None, limit: int = 20,
         corpus: tuple[int, Mapping[str, int]] | None = None) -> list[Ranked]:
    """Rank ``docs`` for the query; each result carries its score (0–1.5) and the reasons behind it."""
    feedback = feedback or Feedback()
    texts = text_scores(term_counts(query_text), docs, corpus)
    results: list[tuple[float, str, list[str]]] = []
    for d, (cos, shared_terms) in zip(docs, texts, strict=True):
        if d.id in feedback.not_relevant:
            continue
        ipc_score, ipc_reason = ipc_overlap(query_ipc, d.ipc_codes) if query_ipc else (0.0, None)
        score = (TEXT_WEIGHT * cos + IPC_WEIGHT * ipc_score) if query_ipc else cos
        reasons: list[str] = []
        if ipc_reason:
            reasons.append(ipc_reason)
        if shared_terms:
            reasons.append("shared terms: " + ", ".join(shared_terms))
        if query_industry and d.industry == query_industry:
            score += INDUSTRY_BONUS
            reasons.append(f"same industry {d.industry}")
        if score < MIN_SCORE:
            continue
        if d.id in feedback.interested:
            score += INTERESTED_BONUS
            reasons.append("marked interested")
        elif d.subclass and d.subclass in feedback.interested_subclasses:
            score += SIMILAR_BONUS
            reasons.append(f"similar to a patent marked interested ({d.subclass})")
        reasons.extend(d.notes)
        results.append((score, d.id, reasons))
    results.sort(key=lambda r: (-r[0], r[1]))
    return [{"id": i, "score": round(s, 4), "reasons": r} for s, i, r in results[:limit]]


# IPC codes as index terms, one per level. A shared main group implies a shared subclass and class, so
# summing the per-level maxima 0.4 + 0.3 + 0.3 gives exactly ``ipc_overlap``'s 1.0 / 0.6 / 0.3.
IPC_LEVELS = {"g": 0.4, "s": 0.3, "c": 0.3}
IPC_PREFIX = "ipc:"


def ipc_terms(codes: Sequence[str]) -> dict[str, str]:
    """Index terms for IPC codes, each mapped to its level (g main group, s subclass, c class)."""
    out: dict[str, str] = {}
    for c in codes:
        if " " in c:
            out[f"{IPC_PREFIX}g:{c.split('/')[0].strip()}"] = "g"
        out[f"{IPC_PREFIX}s:{c[:4]}"] = "s"
        out[f"{IPC_PREFIX}c:{c[:3]}"] = "c"
    return out


def doc_norm(counts: Mapping[str, int], n: int, df: Mapping[str, int]) -> float:
    """Length of a document's weighted vector (what its cosine divides by)."""
    return math.sqrt(sum((tf(c) * idf(n, df.get(t, 0))) ** 2 for t, c in counts.items())) or 1.0
