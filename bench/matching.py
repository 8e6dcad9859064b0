"""Matching cost with the inverted index: needs against 100,000 dormant patents, patents against 10,000 needs.

Per database: bulk-load the assets and needs, build the index (reported separately: assets, needs, exact
statistics), then time ~20 need → assets and ~20 asset → needs queries (p50/p95), one query that
lazily re-indexes 20 just-edited assets, and (SQLite only) how many of the exact top 20 — the engine
scoring every pool patent with every term, as before the index — the indexed query returns.

SQLite (a temporary file) always; PostgreSQL when IPM_BENCH_PG_URL is set (default: the
ipm_matching database; tables are dropped and re-created, so point it at a scratch database;
IPM_BENCH_PG_URL= to skip).

    uv run python -m bench.matching                 # IPM_BENCH_N (assets), IPM_BENCH_NEEDS to change
"""

from __future__ import annotations

import asyncio
import os
import random
import tempfile
import time
from collections import Counter
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from sqlmodel import col, select

from bench.market_search import fake_text, pct, populate
from kernel.actor import Actor
from kernel.clock import business_date
from kernel.db import make_engine, make_session_factory, utcnow
from kernel.ids import new_id
from kernel.text import normalise
from market.assets.models import Asset
from market.matching import index, service
from market.matching.engine import Doc, rank, term_counts
from market.matching.models import MatchDf, MatchDoc, TechNeed

N_ASSETS = int(os.environ.get("IPM_BENCH_N", "100000"))
N_NEEDS = int(os.environ.get("IPM_BENCH_NEEDS", "10000"))
QUERIES = 20
EXACT_CHECKS = 3
PG_URL = os.environ.get("IPM_BENCH_PG_URL", "postgresql+asyncpg://postgres@127.0.0.1/ipm_matching")


async def _timed(factory: Any, fn: Any, *args: Any) -> tuple[float, Any]:
    async with factory() as session:
        t = time.perf_counter()
        result = await fn(session, *args)
        ms = (time.perf_counter() - t) * 1000
        await session.commit()
    return ms, result


async def _exact_top(session: Any, need: dict[str, Any], limit: int) -> list[str]:
    """The engine over the whole pool with every term and the index's frequencies (the reference ranking)."""
    today = await business_date(session)
    rows = (await session.exec(select(Asset.id, Asset.title, Asset.abstract, Asset.ipc_codes, Asset.industry,
                                      Asset.ipc_subclass)
                               .where(service.pool_condition(today), Asset.owner_org_id != need["org_id"]))).all()
    docs = [Doc(id=i, counts=term_counts(f"{t}\n{ab or ''}"), ipc_codes=list(ipc or []), industry=ind,
                subclass=sub, title=t) for i, t, ab, ipc, ind, sub in rows]
    n = await index.corpus_size(session, "asset")
    df = dict((await session.exec(select(MatchDf.term, MatchDf.df).where(MatchDf.doc_type == "asset"))).all())
    ranked = rank(f"{need['title']}\n{need['description']}", need["ipc_codes"], need["industry"], docs,
                  limit=limit, corpus=(n, df))
    return [str(r["id"]) for r in ranked]


async def run(url: str, label: str) -> None:
    engine = make_engine(url)
    t0 = time.perf_counter()
    orgs = await populate(engine, N_ASSETS, listings=False)
    rng = random.Random(11)
    needs = []
    for _ in range(N_NEEDS):
        title, abstract, codes = fake_text(rng)
        needs.append({"id": new_id("ned"), "org_id": rng.choice(orgs["smes"]), "title": f"需求：{title}",
                      "description": abstract, "ipc_codes": codes[:1],
                      "industry": rng.choice(["new_energy", "materials", "medicine", "mining", "ai"]),
                      "status": "open", "search_text": normalise(f"{title}\n{abstract}")})
    async with engine.begin() as conn:
        # A registry's rows were not all written in the last minutes (which the query-time staleness
        # check re-reads, see index.WATERMARK_MARGIN): date the bulk-loaded patents a day back.
        await conn.execute(Asset.__table__.update().values(updated_at=utcnow() - timedelta(days=1)))
        for start in range(0, len(needs), 5000):
            await conn.execute(TechNeed.__table__.insert(), needs[start : start + 5000])
    print(f"[{label}] {N_ASSETS:,} patents and {N_NEEDS:,} needs loaded in {time.perf_counter() - t0:.1f}s")
    factory = make_session_factory(engine)

    async def build_assets(session: Any) -> int:
        return await index.refresh_all_assets(session)

    ms_assets, n_assets = await _timed(factory, build_assets)
    ms_needs, n_needs = await _timed(factory, index.refresh_needs)
    ms_stats, _ = await _timed(factory, index.recompute_frequencies)
    async with engine.begin() as conn:
        await conn.execute(sa.text("ANALYZE"))
        postings = (await conn.execute(sa.text("SELECT count(*) FROM match_terms"))).scalar_one()
    print(f"[{label}] index build: {n_assets:,} assets {ms_assets / 1000:.1f}s · {n_needs:,} needs "
          f"{ms_needs / 1000:.1f}s · exact df {ms_stats / 1000:.1f}s · {postings:,} postings")

    need_ms: list[float] = []
    sample = rng.sample(needs, QUERIES)
    for need in sample:
        actor = Actor(user_id="bench", org_id=need["org_id"], org_kind="sme", role="org_admin")
        ms, result = await _timed(factory, service.matches_for_need, actor, need["id"], 20)
        need_ms.append(ms)
    print(f"[{label}] one need against {N_ASSETS:,} patents: p50 {pct(need_ms, 50):.0f} ms · "
          f"p95 {pct(need_ms, 95):.0f} ms · max {max(need_ms):.0f} ms ({QUERIES} needs); "
          f"e.g. top {result[0]['score']} {result[0]['reasons'][:2]}")

    async with factory() as session:
        assets = (await session.exec(select(Asset.id, Asset.owner_org_id).order_by(sa.func.random())
                                     .limit(QUERIES))).all()
    asset_ms: list[float] = []
    for asset_id, owner in assets:
        actor = Actor(user_id="bench", org_id=owner, org_kind="university", role="org_admin")
        ms, result = await _timed(factory, service.matches_for_asset, actor, asset_id, 20)
        asset_ms.append(ms)
    print(f"[{label}] one patent against {N_NEEDS:,} needs: p50 {pct(asset_ms, 50):.0f} ms · "
          f"p95 {pct(asset_ms, 95):.0f} ms · max {max(asset_ms):.0f} ms ({QUERIES} patents); "
          f"e.g. top {result[0]['score'] if result else None}")

    # Lazy re-indexing: 20 assets edited since the build are re-indexed by the next query.
    edited = [a for a, _ in assets]
    async with engine.begin() as conn:
        await conn.execute(Asset.__table__.update().where(Asset.__table__.c.id.in_(edited))
                           .values(title=Asset.__table__.c.title + "（修订）", updated_at=utcnow()))
    need = sample[0]
    actor = Actor(user_id="bench", org_id=need["org_id"], org_kind="sme", role="org_admin")
    ms, _ = await _timed(factory, service.matches_for_need, actor, need["id"], 20)
    async with factory() as session:
        fresh = (await session.exec(select(sa.func.count()).select_from(MatchDoc)
                                    .join(Asset, col(Asset.id) == MatchDoc.doc_id)
                                    .where(col(MatchDoc.doc_id).in_(edited),
                                           MatchDoc.source_updated_at == Asset.updated_at))).one()
    print(f"[{label}] a need query that first re-indexes {len(edited)} edited patents: {ms:.0f} ms "
          f"({fresh} now current)")

    if label == "sqlite":
        overlaps = []
        for need in sample[:EXACT_CHECKS]:
            actor = Actor(user_id="bench", org_id=need["org_id"], org_kind="sme", role="org_admin")
            async with factory() as session:
                got = [m["asset_id"] for m in await service.matches_for_need(session, actor, need["id"], 20)]
                exact = await _exact_top(session, need, 20)
                await session.rollback()
            overlaps.append(len(set(got) & set(exact)))
        print(f"[{label}] indexed top 20 vs exact top 20 (every term, every pool patent): "
              f"{dict(Counter(overlaps))} (shared ids: count of needs)")
    await engine.dispose()


async def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        await run(f"sqlite+aiosqlite:///{tmp}/bench.db", "sqlite")
    if PG_URL:
        await run(PG_URL, "postgresql")


if __name__ == "__main__":
    asyncio.run(main())
