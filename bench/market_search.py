"""Listing search over 100,000 assets: p50/p95 of `GET /listings` queries at the service level.

SQLite (a temporary file) always; PostgreSQL too when IPM_BENCH_PG_URL is set (its tables are dropped
and re-created: point it at a scratch database). Data are bulk-inserted with SQL core.

    uv run python -m bench.market_search            # N=100000 by default; IPM_BENCH_N to change
"""

from __future__ import annotations

import asyncio
import os
import random
import statistics
import tempfile
import time
from datetime import date, timedelta
from typing import Any

import sqlalchemy as sa

import api.registry  # noqa: F401  (every table)
from accounts.models import Org
from kernel.db import make_engine, make_session_factory, metadata
from kernel.ids import new_id
from kernel.text import normalise
from market.assets.models import Asset
from market.trading.models import Listing, ListingAsset, ListingTerm, ListingWord
from market.trading.service import ListingFilters, ipc_text, list_listings, listing_index_rows

N = int(os.environ.get("IPM_BENCH_N", "100000"))
BATCH = 5000
PHRASES = ["锂电池", "热管理", "石墨烯", "导热膜", "光伏组件", "清洗机器人", "中药提取", "黄芪多糖", "燃料电池", "双极板",
           "固态电解质", "图像识别", "深度学习", "无人机", "煤矿安全", "瓦斯监测", "智能电网", "储能系统", "氢能",
           "新材料", "高强度钢", "铝合金", "焊接工艺", "传感器", "物联网", "区块链", "芯片封装", "激光切割",
           "污水处理", "催化剂", "煤化工", "农业机械", "小米育种", "醋酸发酵", "纳米涂层", "减反射", "液冷", "风电叶片"]
ENGLISH = ["battery", "thermal", "graphene", "solar", "robot", "sensor", "catalyst", "drone", "coating", "welding"]
SUBCLASSES = ["H01M", "H01L", "C01B", "A61K", "G06N", "G06T", "B64C", "E21F", "H02J", "C22C", "B23K", "G01N",
              "C02F", "B01J", "A01B", "C12J", "H02S", "F03D", "G06Q", "H05K"]
MODES = ["assignment", "exclusive_license", "sole_license", "nonexclusive_license"]


def fake_text(rng: random.Random) -> tuple[str, str, list[str]]:
    words = rng.sample(PHRASES, 3)
    title = f"一种{words[0]}{words[1]}{rng.choice(['装置', '方法', '系统', '材料'])}"
    abstract = (f"本发明公开了一种{words[0]}与{words[2]}的{rng.choice(PHRASES)}技术，"
                f"{rng.choice(ENGLISH)} {rng.choice(ENGLISH)}，提高{rng.choice(PHRASES)}效率。")
    sub = rng.choice(SUBCLASSES)
    codes = [f"{sub} {rng.randint(1, 99)}/{rng.randint(0, 99):02d}"]
    if rng.random() < 0.3:
        codes.append(f"{rng.choice(SUBCLASSES)} {rng.randint(1, 99)}/{rng.randint(0, 99):02d}")
    return title, abstract, codes


async def populate(engine: Any, n: int, *, listings: bool = True, seed: int = 7) -> dict[str, Any]:
    """Orgs, ``n`` granted patents (dormant: university-held, granted 2010–2020) and one listing each."""
    rng = random.Random(seed)
    async with engine.begin() as conn:
        await conn.run_sync(metadata.drop_all)
        await conn.run_sync(metadata.create_all)
    orgs = [{"id": new_id("org"), "name": f"org {i}", "kind": "university" if i % 2 else "sme",
             "credit_code": f"91{i:016d}", "ip_honours": [], "region": "140100"} for i in range(200)]
    unis = [o["id"] for o in orgs if o["kind"] == "university"]
    async with engine.begin() as conn:
        await conn.execute(Org.__table__.insert(), orgs)
    now = date(2026, 3, 2)
    words: set[str] = set()
    for start in range(0, n, BATCH):
        assets, rows, links = [], [], []
        for i in range(start, min(n, start + BATCH)):
            title, abstract, codes = fake_text(rng)
            aid = f"ast_{i:011x}{rng.getrandbits(48):012x}"
            grant = date(2010, 1, 1) + timedelta(days=rng.randint(0, 3650))
            assets.append({"id": aid, "kind": "invention_patent", "number": f"{2009 + i % 10}1{i:07d}.X",
                           "title": title, "abstract": abstract, "ipc_codes": codes, "ipc_subclass": codes[0][:4],
                           "nice_classes": [], "family_countries": [], "awards": [], "status": "valid",
                           "owner_org_id": rng.choice(unis), "grant_date": grant, "filing_date": grant - timedelta(days=700),
                           "fees_paid_until": now + timedelta(days=200), "strategic_emerging": False,
                           "max_pledge_amount": 0, "search_text": normalise(f"{title}\n{abstract}"),
                           "industry": rng.choice(["new_energy", "materials", "medicine", "mining", "ai"])})
            if listings:
                lid = f"lst_{i:011x}{rng.getrandbits(48):012x}"
                rows.append({"id": lid, "seller_org_id": assets[-1]["owner_org_id"], "mode": rng.choice(MODES),
                             "price": rng.randint(1, 5000) * 1_000_000, "title": title, "asset_ids": [aid],
                             "ipc_codes": codes, "ipc_text": ipc_text(codes),
                             "search_text": normalise(f"{title}\n\n{title}\n{abstract}"),
                             "status": "open" if rng.random() < 0.8 else rng.choice(["sold", "withdrawn", "expired"]),
                             "listed_on": now})
                links.append({"listing_id": lid, "asset_id": aid})
        async with engine.begin() as conn:
            await conn.execute(Asset.__table__.insert(), assets)
            if listings:
                await conn.execute(Listing.__table__.insert(), rows)
                await conn.execute(ListingAsset.__table__.insert(), links)
                # Search's inverted index, as create_listing writes it (new words once, at the end).
                index = [listing_index_rows(r["id"], r["search_text"]) for r in rows]
                await conn.execute(ListingTerm.__table__.insert(), [t for terms, _ in index for t in terms])
                words.update(w["term"] for _, ws in index for w in ws)
    if words:
        async with engine.begin() as conn:
            await conn.execute(ListingWord.__table__.insert(), [{"term": w} for w in sorted(words)])
    async with engine.begin() as conn:  # planner statistics after a bulk load, as autovacuum would later
        await conn.execute(sa.text("ANALYZE"))
    return {"universities": unis, "smes": [o["id"] for o in orgs if o["kind"] == "sme"]}


QUERIES: list[dict[str, Any]] = [
    {"q": "锂电池"}, {"q": "热管理 液冷"}, {"q": "石墨烯"}, {"q": "battery"}, {"q": "煤矿安全 瓦斯监测"},
    {"mode": "assignment"}, {"ipc": "H01M"}, {"ipc": "G06N", "q": "深度学习"}, {"q": "氢能", "mode": "sole_license"},
    {"status": "sold"}, {"q": "不存在的词"}, {"q": "醋酸发酵", "ipc": "C12J"},
]


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


async def run(url: str, label: str) -> None:
    engine = make_engine(url)
    t0 = time.perf_counter()
    await populate(engine, N)
    load = time.perf_counter() - t0
    factory = make_session_factory(engine)
    timings: list[float] = []
    per_query: dict[str, list[float]] = {}
    for _round in range(10):
        for params in QUERIES:
            f = ListingFilters(status=params.get("status", "open"), q=params.get("q"), mode=params.get("mode"),
                               ipc=params.get("ipc"))
            async with factory() as session:
                t = time.perf_counter()
                await list_listings(session, f, 20, None)
                ms = (time.perf_counter() - t) * 1000
                await session.rollback()
            timings.append(ms)
            per_query.setdefault(repr(params), []).append(ms)
    await engine.dispose()
    print(f"[{label}] {N:,} assets and listings loaded in {load:.1f}s; {len(timings)} searches (limit 20)")
    print(f"[{label}] listing search p50 {pct(timings, 50):.1f} ms · p95 {pct(timings, 95):.1f} ms · "
          f"max {max(timings):.1f} ms")
    for q, ts in per_query.items():
        print(f"    {q:45s} median {statistics.median(ts):7.1f} ms")


async def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        await run(f"sqlite+aiosqlite:///{tmp}/bench.db", "sqlite")
    if os.environ.get("IPM_BENCH_PG_URL"):
        await run(os.environ["IPM_BENCH_PG_URL"], "postgresql")


if __name__ == "__main__":
    asyncio.run(main())
