"""Matching cost: one technology need against 100,000 dormant patents, one patent against 10,000 needs.

Term vectors are computed on the fly per request (no precomputed table); this measures that choice,
split into the database read + tokenising and the TF-IDF ranking itself. SQLite temporary file.

    uv run python -m bench.matching                 # IPM_BENCH_N (assets), IPM_BENCH_NEEDS to change
"""

from __future__ import annotations

import asyncio
import os
import random
import statistics
import tempfile
import time

from bench.market_search import fake_text, populate
from kernel.actor import Actor
from kernel.db import make_engine, make_session_factory
from kernel.ids import new_id
from kernel.text import normalise
from market.matching import service
from market.matching.engine import rank
from market.matching.models import TechNeed

N_ASSETS = int(os.environ.get("IPM_BENCH_N", "100000"))
N_NEEDS = int(os.environ.get("IPM_BENCH_NEEDS", "10000"))
ROUNDS = 3


async def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        engine = make_engine(f"sqlite+aiosqlite:///{tmp}/bench.db")
        orgs = await populate(engine, N_ASSETS, listings=False)
        rng = random.Random(11)
        sme = orgs["smes"][0]
        needs = []
        for _ in range(N_NEEDS):
            title, abstract, codes = fake_text(rng)
            needs.append({"id": new_id("ned"), "org_id": rng.choice(orgs["smes"]), "title": f"需求：{title}",
                          "description": abstract, "ipc_codes": codes[:1], "industry": "new_energy", "status": "open",
                          "search_text": normalise(f"{title}\n{abstract}")})
        needs[0]["org_id"] = sme
        async with engine.begin() as conn:
            await conn.execute(TechNeed.__table__.insert(), needs)
        factory = make_session_factory(engine)
        actor = Actor(user_id="bench", org_id=sme, org_kind="sme", role="org_admin")
        need_ms, load_ms, rank_ms = [], [], []
        for _ in range(ROUNDS):
            async with factory() as session:
                t = time.perf_counter()
                result = await service.matches_for_need(session, actor, needs[0]["id"], 20)
                need_ms.append((time.perf_counter() - t) * 1000)
                t = time.perf_counter()
                docs = await service.candidate_docs(session, sme)
                load_ms.append((time.perf_counter() - t) * 1000)
                t = time.perf_counter()
                rank(f"{needs[0]['title']}\n{needs[0]['description']}", needs[0]["ipc_codes"], "new_energy", docs)
                rank_ms.append((time.perf_counter() - t) * 1000)
                await session.rollback()
        print(f"one need against {len(docs):,} dormant patents: median {statistics.median(need_ms):.0f} ms "
              f"(read + tokenise {statistics.median(load_ms):.0f} ms, TF-IDF rank {statistics.median(rank_ms):.0f} ms); "
              f"top score {result[0]['score']} {result[0]['reasons'][:2]}")
        async with factory() as session:
            from sqlmodel import select

            from market.assets.models import Asset
            asset = (await session.exec(select(Asset).limit(1))).one()
        owner = Actor(user_id="bench", org_id=asset.owner_org_id, org_kind="university", role="org_admin")
        asset_ms = []
        for _ in range(ROUNDS):
            async with factory() as session:
                t = time.perf_counter()
                result = await service.matches_for_asset(session, owner, asset.id, 20)
                asset_ms.append((time.perf_counter() - t) * 1000)
                await session.rollback()
        print(f"one patent against {N_NEEDS:,} technology needs: median {statistics.median(asset_ms):.0f} ms; "
              f"top score {result[0]['score'] if result else None}")
        await engine.dispose()


if __name__ == "__main__":
    asyncio.run(main())
