"""The matching index: per-document term counts, an inverted index of postings and document frequencies.

Needs are indexed when posted. Assets are indexed after commit: an asset with no index row, or whose
``updated_at`` differs from the one it was indexed at, is (re)indexed in a batch by the outbox job its
write enqueued (``market.matching.day_end``), and the day-end re-indexes everything stale (and recomputes
frequencies and vector lengths exactly). Match queries only read. Indexing is serialised (an advisory lock on PostgreSQL; SQLite
serialises writers anyway) so two requests never index one document twice.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from kernel.db import table_of, utcnow
from market.assets.models import Asset
from market.matching.engine import doc_norm, ipc_terms, term_counts, tf
from market.matching.models import MatchDf, MatchDoc, MatchTerm, TechNeed

MAX_TERM_LENGTH = 80
BATCH = 2000  # documents per indexing round
IN_CHUNK = 500  # values per IN (...) list
WATERMARK_MARGIN = timedelta(minutes=2)
NORM_TOLERANCE = 0.05  # relative change of a vector length that makes the day-end rewrite its postings
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


async def _exec(session: AsyncSession, stmt: Any, params: Any = None) -> None:
    await (await session.connection()).execute(stmt, params)


async def index_documents(session: AsyncSession, doc_type: str, sources: Sequence[Source]) -> None:
    """Write (or rewrite) the index rows of ``sources``; the caller holds the writer lock if it matters.

    Two passes, so every vector length uses the frequencies with all of ``sources`` counted: first the
    old rows go and the frequencies move, then the postings and documents are written. A posting's
    weight is the document's tf / vector length (its share of a cosine before the query's idf), so a
    query needs no join to find lengths; IPC postings weigh 1.
    """
    docs_t, terms_t = table_of(MatchDoc), table_of(MatchTerm)
    delta: Counter[str] = Counter()
    new_docs = 0
    for batch in _chunks(sources, BATCH):
        old: dict[str, list[str]] = {}
        for part in _chunks([s.id for s in batch]):
            rows = await session.exec(select(MatchDoc.doc_id, MatchDoc.counts, MatchDoc.ipc_terms)
                                      .where(MatchDoc.doc_type == doc_type, col(MatchDoc.doc_id).in_(part)))
            old.update({i: [*(c or {}), *(p or [])] for i, c, p in rows.all()})
        gone = [{"dt": doc_type, "t": t, "d": doc_id} for doc_id, terms in old.items() for t in terms]
        if gone:  # by full primary key, so no scan of the document type
            await _exec(session, terms_t.delete().where(terms_t.c.doc_type == sa.bindparam("dt"),
                                                        terms_t.c.term == sa.bindparam("t"),
                                                        terms_t.c.doc_id == sa.bindparam("d")), gone)
            for part in _chunks(list(old)):
                await _exec(session, docs_t.delete().where(docs_t.c.doc_type == doc_type, docs_t.c.doc_id.in_(part)))
        delta.subtract(t for terms in old.values() for t in terms)
        for s in batch:
            delta.update([*_counts(s.text), *ipc_terms(s.ipc_codes)])
        new_docs += len(batch) - len(old)
    await _add_frequencies(session, doc_type, delta)
    n = await corpus_size(session, doc_type) + new_docs
    now = utcnow()
    for batch in _chunks(sources, BATCH):
        new = {s.id: (_counts(s.text), sorted(ipc_terms(s.ipc_codes))) for s in batch}
        df = await document_frequencies(session, doc_type, {t for counts, _ in new.values() for t in counts})
        postings: list[dict[str, Any]] = []
        documents: list[dict[str, Any]] = []
        for s in batch:
            counts, ipcs = new[s.id]
            norm = doc_norm(counts, n, df)
            postings.extend({"doc_type": doc_type, "term": t, "doc_id": s.id, "weight": tf(c) / norm}
                            for t, c in counts.items())
            postings.extend({"doc_type": doc_type, "term": t, "doc_id": s.id, "weight": 1.0} for t in ipcs)
            documents.append({"doc_type": doc_type, "doc_id": s.id, "counts": dict(counts), "ipc_terms": ipcs,
                              "norm": norm, "source_updated_at": s.updated_at, "indexed_at": now})
        if postings:
            await _exec(session, terms_t.insert(), postings)
        await _exec(session, docs_t.insert(), documents)


async def _add_frequencies(session: AsyncSession, doc_type: str, delta: Counter[str]) -> None:
    rows = [{"doc_type": doc_type, "term": t, "df": d} for t, d in sorted(delta.items()) if d]
    if not rows:
        return
    # Sorted by term, so concurrent writers take the rows' locks in one order and never deadlock.
    ins = (pg_insert if is_postgres(session) else sqlite_insert)(table_of(MatchDf))
    stmt = ins.on_conflict_do_update(index_elements=["doc_type", "term"],
                                     set_={"df": table_of(MatchDf).c.df + ins.excluded.df})
    for part in _chunks(rows, 5000):
        await _exec(session, stmt, list(part))


def asset_source(row: Any) -> Source:
    return Source(id=row.id, text=f"{row.title}\n{row.abstract or ''}", ipc_codes=list(row.ipc_codes or []),
                  updated_at=row.updated_at)


def need_source(need: TechNeed) -> Source:
    return Source(id=need.id, text=f"{need.title}\n{need.description}", ipc_codes=list(need.ipc_codes or []))


def _stale_assets(*conditions: Any) -> Any:
    """Assets with no index row or indexed from an older version of the row."""
    stale = sa.or_(col(MatchDoc.doc_id).is_(None), col(MatchDoc.source_updated_at).is_(None),
                   col(MatchDoc.source_updated_at) != Asset.updated_at)
    return (select(Asset.id, Asset.title, Asset.abstract, Asset.ipc_codes,  # type: ignore[call-overload]  # sqlmodel.select is typed up to 4 columns
                   Asset.updated_at)
            .outerjoin(MatchDoc, sa.and_(col(MatchDoc.doc_type) == "asset", col(MatchDoc.doc_id) == Asset.id))
            .where(stale, *conditions))


async def _reindex_stale(session: AsyncSession, *conditions: Any) -> int:
    if not (await session.exec(_stale_assets(*conditions).limit(1))).first():
        return 0  # the common case: nothing to do and no lock taken
    await serialise_writers(session)
    rows = (await session.exec(_stale_assets(*conditions).order_by(Asset.id))).all()  # again, under the lock
    await index_documents(session, "asset", [asset_source(r) for r in rows])
    return len(rows)


async def refresh_recent_assets(session: AsyncSession) -> int:
    """After a write: (re)index assets changed since the index was last brought up to date.

    Every asset is indexed (not only today's pool), so an asset entering the pool — listed, declared
    open, turning dormant — is already there; only a change to its row (``updated_at``) makes it stale.
    Rows changed since the newest indexed version, less ``WATERMARK_MARGIN`` for transactions that
    stamped ``updated_at`` before an earlier one committed, are checked: an index range scan.
    Assets written with an old ``updated_at`` (bulk loads) wait for the day-end's full check.
    """
    newest = (await session.exec(select(sa.func.max(MatchDoc.source_updated_at))
                                 .where(MatchDoc.doc_type == "asset"))).one()
    if newest is None:
        return await _reindex_stale(session)
    return await _reindex_stale(session, col(Asset.updated_at) > newest - WATERMARK_MARGIN)


async def refresh_all_assets(session: AsyncSession) -> int:
    """Day-end and bulk builds: (re)index every stale asset (a full scan)."""
    return await _reindex_stale(session)


async def refresh_needs(session: AsyncSession) -> int:
    """Index needs that have no index row (posted before the index existed, or loaded in bulk)."""
    missing = (select(TechNeed)
               .outerjoin(MatchDoc, sa.and_(col(MatchDoc.doc_type) == "need", col(MatchDoc.doc_id) == TechNeed.id))
               .where(TechNeed.status == "open", col(MatchDoc.doc_id).is_(None)))
    if not (await session.exec(missing.limit(1))).first():
        return 0
    await serialise_writers(session)
    needs = (await session.exec(missing.order_by(TechNeed.id))).all()
    await index_documents(session, "need", [need_source(n) for n in needs])
    return len(needs)


async def recompute_frequencies(session: AsyncSession) -> None:
    """Exact document frequencies from the postings (incremental updates cannot drift then)."""
    await serialise_writers(session)
    dfs, terms_t = table_of(MatchDf), table_of(MatchTerm)
    await _exec(session, dfs.delete())
    await _exec(session, dfs.insert().from_select(
        ["doc_type", "term", "df"],
        sa.select(terms_t.c.doc_type, terms_t.c.term, sa.func.count()).group_by(terms_t.c.doc_type, terms_t.c.term)))


async def reweigh_drifted(session: AsyncSession, tolerance: float = NORM_TOLERANCE) -> int:
    """Rewrite the postings of documents whose vector length moved by more than ``tolerance`` as the
    frequencies changed (a growing corpus). Returns how many documents were rewritten."""
    await serialise_writers(session)
    docs_t, terms_t = table_of(MatchDoc), table_of(MatchTerm)
    rewritten = 0
    for doc_type in ("asset", "need"):
        n = await corpus_size(session, doc_type)
        df = dict((await session.exec(select(MatchDf.term, MatchDf.df).where(MatchDf.doc_type == doc_type))).all())
        after = ""
        while True:  # keyset pages, so memory stays bounded
            rows = (await session.exec(select(MatchDoc.doc_id, MatchDoc.counts, MatchDoc.norm)
                                       .where(MatchDoc.doc_type == doc_type, MatchDoc.doc_id > after)
                                       .order_by(MatchDoc.doc_id).limit(BATCH * 5))).all()
            if not rows:
                break
            after = rows[-1][0]
            moved = [(i, c or {}, norm) for i, c, old in rows
                     if abs((norm := doc_norm(c or {}, n, df)) / (old or 1.0) - 1.0) > tolerance]
            if not moved:
                continue
            await _exec(session, terms_t.update().where(
                terms_t.c.doc_type == doc_type, terms_t.c.term == sa.bindparam("t"),
                terms_t.c.doc_id == sa.bindparam("d")).values(weight=sa.bindparam("w")),
                [{"t": t, "d": i, "w": tf(c) / norm} for i, counts, norm in moved for t, c in counts.items()])
            await _exec(session, docs_t.update().where(docs_t.c.doc_type == doc_type,
                                                       docs_t.c.doc_id == sa.bindparam("d"))
                        .values(norm=sa.bindparam("n")), [{"d": i, "n": norm} for i, _, norm in moved])
            rewritten += len(moved)
    return rewritten
