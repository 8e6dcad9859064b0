"""The matching index: per-document term counts, an inverted index of postings and document frequencies.

Needs are indexed when posted. Assets are indexed lazily: a candidate asset with no index row, or whose
``updated_at`` differs from the one it was indexed at, is (re)indexed in a batch by the next query that
needs it, and the day-end re-indexes everything stale (and recomputes frequencies and vector lengths
exactly) so that queries rarely pay. Indexing is serialised (an advisory lock on PostgreSQL; SQLite
serialises writers anyway) so two requests never index one document twice.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from kernel.db import utcnow
from market.assets.models import Asset
from market.matching.engine import doc_norm, ipc_terms, term_counts, tf
from market.matching.models import MatchDf, MatchDoc, MatchTerm, TechNeed

MAX_TERM_LENGTH = 80
BATCH = 2000  # documents per indexing round
IN_CHUNK = 500  # values per IN (...) list
_LOCK_KEY = 0x69706D6D  # "ipmm": the advisory lock that serialises index writers on PostgreSQL


@dataclass
class Source:
    """What is indexed of one document."""

    id: str
    text: str
    ipc_codes: Sequence[str]
    updated_at: datetime | None = None


def is_postgres(session: AsyncSession) -> bool:
    return session.bind is not None and session.bind.dialect.name == "postgresql"


def _chunks(items: Sequence[Any], size: int = IN_CHUNK) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


async def serialise_writers(session: AsyncSession) -> None:
    """Hold the index-writer lock until this transaction ends (PostgreSQL; SQLite's BEGIN IMMEDIATE suffices)."""
    if is_postgres(session):
        await (await session.connection()).execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": _LOCK_KEY})


async def corpus_size(session: AsyncSession, doc_type: str) -> int:
    return (await session.exec(select(sa.func.count()).select_from(MatchDoc)
                               .where(MatchDoc.doc_type == doc_type))).one()


async def document_frequencies(session: AsyncSession, doc_type: str, terms: Iterable[str]) -> dict[str, int]:
    out: dict[str, int] = {}
    for part in _chunks(sorted(set(terms))):
        rows = await session.exec(select(MatchDf.term, MatchDf.df)
                                  .where(MatchDf.doc_type == doc_type, col(MatchDf.term).in_(part)))
        out.update(dict(rows.all()))
    return out


def _counts(text: str) -> Counter[str]:
    return Counter({t: c for t, c in term_counts(text).items() if len(t) <= MAX_TERM_LENGTH})


async def index_documents(session: AsyncSession, doc_type: str, sources: Sequence[Source]) -> None:
    """Write (or rewrite) the index rows of ``sources``; the caller holds the writer lock if it matters."""
    docs_t, terms_t = MatchDoc.__table__, MatchTerm.__table__
    for batch in _chunks(sources, BATCH):
        ids = [s.id for s in batch]
        old: dict[str, tuple[dict[str, int], list[str]]] = {}
        for part in _chunks(ids):
            rows = await session.exec(select(MatchDoc.doc_id, MatchDoc.counts, MatchDoc.ipc_terms)
                                      .where(MatchDoc.doc_type == doc_type, col(MatchDoc.doc_id).in_(part)))
            old.update({i: (c or {}, p or []) for i, c, p in rows.all()})
        new = {s.id: (_counts(s.text), sorted(ipc_terms(s.ipc_codes))) for s in batch}
        delta: Counter[str] = Counter()
        gone: list[dict[str, Any]] = []
        for doc_id, (counts, ipcs) in old.items():
            for term in [*counts, *ipcs]:
                delta[term] -= 1
                gone.append({"dt": doc_type, "t": term, "d": doc_id})
        postings: list[dict[str, Any]] = []
        for doc_id, (counts, ipcs) in new.items():
            for term, c in counts.items():
                delta[term] += 1
                postings.append({"doc_type": doc_type, "term": term, "doc_id": doc_id, "weight": tf(c)})
            for term in ipcs:
                delta[term] += 1
                postings.append({"doc_type": doc_type, "term": term, "doc_id": doc_id, "weight": 1.0})
        if gone:  # by full primary key, so no scan of the document type
            await (await session.connection()).execute(terms_t.delete().where(terms_t.c.doc_type == sa.bindparam("dt"),
                                                         terms_t.c.term == sa.bindparam("t"),
                                                         terms_t.c.doc_id == sa.bindparam("d")), gone)
        if postings:
            await (await session.connection()).execute(terms_t.insert(), postings)
        await _add_frequencies(session, doc_type, delta)
        # Vector lengths with the frequencies as they now stand (the day-end recomputes them all).
        n = await corpus_size(session, doc_type) + len(set(new) - set(old))
        df = await document_frequencies(session, doc_type, {t for counts, _ in new.values() for t in counts})
        for part in _chunks(list(old)):
            await (await session.connection()).execute(docs_t.delete().where(docs_t.c.doc_type == doc_type, docs_t.c.doc_id.in_(part)))
        now = utcnow()
        by_id = {s.id: s for s in batch}
        await (await session.connection()).execute(docs_t.insert(), [
            {"doc_type": doc_type, "doc_id": doc_id, "counts": dict(counts), "ipc_terms": ipcs,
             "norm": doc_norm(counts, n, df), "source_updated_at": by_id[doc_id].updated_at, "indexed_at": now}
            for doc_id, (counts, ipcs) in new.items()])


async def _add_frequencies(session: AsyncSession, doc_type: str, delta: Counter[str]) -> None:
    rows = [{"doc_type": doc_type, "term": t, "df": d} for t, d in sorted(delta.items()) if d]
    if not rows:
        return
    # Sorted by term, so concurrent writers take the rows' locks in one order and never deadlock.
    ins = (pg_insert if is_postgres(session) else sqlite_insert)(MatchDf.__table__)
    stmt = ins.on_conflict_do_update(index_elements=["doc_type", "term"],
                                     set_={"df": MatchDf.__table__.c.df + ins.excluded.df})
    for part in _chunks(rows, 5000):
        await (await session.connection()).execute(stmt, list(part))


def asset_source(row: Any) -> Source:
    return Source(id=row.id, text=f"{row.title}\n{row.abstract or ''}", ipc_codes=list(row.ipc_codes or []),
                  updated_at=row.updated_at)


def need_source(need: TechNeed) -> Source:
    return Source(id=need.id, text=f"{need.title}\n{need.description}", ipc_codes=list(need.ipc_codes or []))


def _stale_assets(scope: Any) -> Any:
    """Assets in ``scope`` with no index row or indexed from an older version of the row."""
    return (select(Asset.id, Asset.title, Asset.abstract, Asset.ipc_codes, Asset.updated_at)
            .outerjoin(MatchDoc, sa.and_(MatchDoc.doc_type == "asset", MatchDoc.doc_id == Asset.id))
            .where(scope, or_stale()))


def or_stale() -> Any:
    return sa.or_(col(MatchDoc.doc_id).is_(None), col(MatchDoc.source_updated_at).is_(None),
                  col(MatchDoc.source_updated_at) != Asset.updated_at)


async def refresh_assets(session: AsyncSession, scope: Any) -> int:
    """(Re)index the stale assets in ``scope`` (a condition on ``Asset``). Returns how many were indexed."""
    if not (await session.exec(_stale_assets(scope).limit(1))).first():
        return 0  # the common case: nothing to do and no lock taken
    await serialise_writers(session)
    rows = (await session.exec(_stale_assets(scope).order_by(Asset.id))).all()  # again, under the lock
    await index_documents(session, "asset", [asset_source(r) for r in rows])
    return len(rows)


async def refresh_needs(session: AsyncSession) -> int:
    """Index needs that have no index row (posted before the index existed, or loaded in bulk)."""
    missing = (select(TechNeed)
               .outerjoin(MatchDoc, sa.and_(MatchDoc.doc_type == "need", MatchDoc.doc_id == TechNeed.id))
               .where(TechNeed.status == "open", col(MatchDoc.doc_id).is_(None)))
    if not (await session.exec(missing.limit(1))).first():
        return 0
    await serialise_writers(session)
    needs = (await session.exec(missing.order_by(TechNeed.id))).all()
    await index_documents(session, "need", [need_source(n) for n in needs])
    return len(needs)


async def recompute_statistics(session: AsyncSession) -> None:
    """Exact document frequencies from the postings, then every vector length from them."""
    await serialise_writers(session)
    dfs, terms_t = MatchDf.__table__, MatchTerm.__table__
    await (await session.connection()).execute(dfs.delete())
    await (await session.connection()).execute(dfs.insert().from_select(
        ["doc_type", "term", "df"],
        sa.select(terms_t.c.doc_type, terms_t.c.term, sa.func.count()).group_by(terms_t.c.doc_type, terms_t.c.term)))
    docs_t = MatchDoc.__table__
    for doc_type in ("asset", "need"):
        n = await corpus_size(session, doc_type)
        df = dict((await session.exec(select(MatchDf.term, MatchDf.df).where(MatchDf.doc_type == doc_type))).all())
        after = ""
        while True:  # keyset pages, so memory stays bounded
            rows = (await session.exec(select(MatchDoc.doc_id, MatchDoc.counts)
                                       .where(MatchDoc.doc_type == doc_type, MatchDoc.doc_id > after)
                                       .order_by(MatchDoc.doc_id).limit(BATCH * 5))).all()
            if not rows:
                break
            await (await session.connection()).execute(
                docs_t.update().where(docs_t.c.doc_type == doc_type, docs_t.c.doc_id == sa.bindparam("d"))
                .values(norm=sa.bindparam("n")),
                [{"d": i, "n": doc_norm(c or {}, n, df)} for i, c in rows])
            after = rows[-1][0]
