"""Benchmark: ``GET /api/v1/assets?q=`` over 100,000 assets, Chinese and English queries.

``uv run python -m bench.asset_search`` loads the assets into a fresh SQLite file and, when reachable,
into PostgreSQL when ``IPM_BENCH_PG_URL`` names a throwaway database (its tables are dropped and recreated,
so there is no default: a benchmark must never wipe a database it was not pointed at), then times the real app through httpx's ASGI transport and prints the median and p95
per database and language. ``IPM_BENCH_ASSETS`` changes the row count, ``IPM_BENCH_REPEAT`` the
repetitions of each query.

The schema is made with ``create_all`` (as in the tests) so the run needs no migration; the DDL that
``market.assets.models`` attaches to the table (the trigram index on PostgreSQL) is part of it.
"""

from __future__ import annotations

import asyncio
import os
import random
import statistics
import tempfile
import time
from dataclasses import dataclass

import httpx
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine
from sqlmodel import select

from accounts.credit_code import make_credit_code
from accounts.models import Org, User
from api.app import bootstrap, create_app
from api.security import create_access_token
from kernel.db import metadata
from kernel.ids import new_id
from kernel.settings import Settings
from market.assets.models import Asset
from market.assets.service import _search_text

ZH_WORDS = """电池 锂离子 正极材料 负极 电解液 隔膜 储能 热管理 碳化硅 氮化镓 单晶 衬底 外延 功率器件 光伏 硅片 逆变器
氢能 燃料电池 电解槽 催化剂 煤气化 焦化 煤矸石 粉煤灰 固废 矿井 瓦斯 液压支架 采煤机 掘进机 输送机 提升机 传感器
机器视觉 深度学习 神经网络 图像识别 数字孪生 物联网 边缘计算 区块链 云平台 大数据 智能控制 变频器 电机 减速器 轴承
齿轮 机器人 焊接 激光 超声 无损检测 光纤 光栅 量子 纠缠 碳量子点 荧光 石墨烯 纳米 涂层 镁合金 铝合金 钛合金 不锈钢
耐火材料 陶瓷 玻璃 水泥 混凝土 钢结构 桥梁 隧道 轨道交通 新能源汽车 充电桩 中药 黄芪 连翘 党参 提取物 制剂 疫苗
抗体 检测试剂 医疗器械 谷子 小杂粮 苹果 保鲜 灌溉 水肥 播种机 收获机 农药 肥料 土壤修复 污水处理 脱硫 脱硝 除尘
余热回收 节能 保温 建筑材料 纺织 印染 食品 酿造 醋 汾酒 包装 物流 仓储 无人机 卫星 导航 通信 天线 芯片 封装""".split()
EN_WORDS = """battery lithium cathode anode electrolyte separator storage thermal silicon carbide gallium nitride
crystal substrate epitaxy power device photovoltaic wafer inverter hydrogen fuel cell catalyst gasification coke
gangue fly ash waste mine methane hydraulic support shearer conveyor hoist sensor vision deep learning neural
network recognition twin internet edge blockchain cloud platform data control motor reducer bearing gear robot
welding laser ultrasonic inspection fiber grating quantum entanglement dots fluorescence graphene nano coating
magnesium aluminium titanium steel refractory ceramic glass cement concrete bridge tunnel railway vehicle charging
medicine astragalus forsythia extract vaccine antibody reagent millet apple preservation irrigation seeder
harvester pesticide fertilizer remediation sewage desulfurization dust recovery insulation textile food vinegar
packaging logistics drone satellite navigation antenna chip""".split()
TITLE_FORMS = ("一种{0}{1}的{2}方法", "{0}用{1}及其制备方法", "基于{0}的{1}{2}系统", "一种{0}{1}装置", "{0}{1}在{2}中的应用")
KINDS = ("invention_patent", "invention_patent", "invention_patent", "utility_model", "design_patent",
         "trademark", "software_copyright")


def _zipf_choice(rng: random.Random, words: list[str]) -> str:
    # Skewed like real vocabularies: a few words everywhere, most words rare.
    return words[min(int(rng.paretovariate(1.1)) - 1, len(words) - 1)]


def make_rows(n: int, owner_ids: list[str], seed: int = 7) -> list[dict]:
    rng = random.Random(seed)
    zh = ZH_WORDS[:]
    en = EN_WORDS[:]
    rng.shuffle(zh)
    rng.shuffle(en)
    rows = []
    for i in range(n):
        w = [_zipf_choice(rng, zh) for _ in range(5)]
        e = [_zipf_choice(rng, en) for _ in range(4)]
        title = rng.choice(TITLE_FORMS).format(*w[:3])
        abstract = (f"本发明公开了一种{w[0]}{w[1]}，涉及{w[3]}和{w[4]}技术领域。{e[0]} {e[1]} based {e[2]} "
                    f"with {e[3]}。所述方法提高了{rng.choice(zh)}的效率，可用于{rng.choice(zh)}。")
        year = 2004 + i % 20
        rows.append({
            "id": new_id("ast"), "kind": KINDS[i % len(KINDS)], "number": f"{year}{i:08d}.B",
            "title": title, "abstract": abstract, "ipc_codes": ["H01M 10/052"], "ipc_subclass": "H01M",
            "nice_classes": [], "family_countries": [], "awards": [], "strategic_emerging": i % 9 == 0,
            "status": "valid", "owner_org_id": owner_ids[i % len(owner_ids)], "max_pledge_amount": 0,
            "search_text": _search_text(title, abstract),
        })
    return rows


def make_queries(seed: int = 11) -> dict[str, list[str]]:
    rng = random.Random(seed)
    zh_q = rng.sample(ZH_WORDS, 40) + [f"{a} {b}" for a, b in zip(rng.sample(ZH_WORDS, 10), rng.sample(ZH_WORDS, 10),
                                                                    strict=True)]
    en_q = rng.sample(EN_WORDS, 40) + [f"{a} {b}" for a, b in zip(rng.sample(EN_WORDS, 10), rng.sample(EN_WORDS, 10),
                                                                    strict=True)]
    return {"zh": zh_q, "en": en_q}


@dataclass
class Result:
    database: str
    language: str
    median_ms: float
    p95_ms: float
    mean_hits: float


async def load(settings: Settings, n: int) -> None:
    app = create_app(settings)
    engine = app.state.engine
    async with engine.begin() as conn:
        await conn.run_sync(metadata.drop_all)
        await conn.run_sync(metadata.create_all)
    owners = [{"id": new_id("org"), "name": f"Bench owner {i}", "kind": "sme" if i % 3 else "university",
               "credit_code": make_credit_code(f"91140100MA{i:07d}"), "ip_honours": []} for i in range(60)]
    rows = make_rows(n, [o["id"] for o in owners])
    started = time.perf_counter()
    async with engine.begin() as conn:
        await conn.execute(sa.insert(Org.__table__), owners)
    for start in range(0, n, 5000):
        async with engine.begin() as conn:
            await conn.execute(sa.insert(Asset.__table__), rows[start:start + 5000])
    async with engine.begin() as conn:
        if settings.is_sqlite:
            await conn.exec_driver_sql("ANALYZE")
        else:
            await conn.exec_driver_sql("ANALYZE assets")
    print(f"  loaded {n:,} assets in {time.perf_counter() - started:.1f}s")
    await engine.dispose()


async def measure(settings: Settings, name: str, repeat: int) -> list[Result]:
    app = create_app(settings)
    await bootstrap(app)
    async with app.state.session_factory() as session:
        admin = (await session.exec(select(User).where(User.role == "admin"))).one()
    headers = {"Authorization": f"Bearer {create_access_token(admin.id, admin.org_id, settings)}"}
    results = []
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bench/api/v1") as client:
        await client.get("/assets", params={"q": "warm up"}, headers=headers)
        for language, queries in make_queries().items():
            times, hits = [], []
            for q in queries:
                for _ in range(repeat):
                    t0 = time.perf_counter()
                    r = await client.get("/assets", params={"q": q}, headers=headers)
                    times.append((time.perf_counter() - t0) * 1000)
                    assert r.status_code == 200, r.text
                hits.append(len(r.json()["data"]))
            times.sort()
            results.append(Result(name, language, statistics.median(times), times[int(len(times) * 0.95) - 1],
                                  statistics.mean(hits)))
    await app.state.engine.dispose()
    return results


async def run_one(name: str, url: str, n: int, repeat: int) -> list[Result]:
    settings = Settings(database_url=url, env="test", clock="manual", log_level="WARNING")
    print(f"{name}: {url}")
    await load(settings, n)
    return await measure(settings, name, repeat)


async def _pg_reachable(url: str) -> bool:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            await conn.exec_driver_sql("SELECT 1")
        return True
    except Exception as exc:  # any reason we cannot use it: say so and go on with SQLite's figures
        print(f"PostgreSQL not reachable at {url}: {exc.__class__.__name__}; skipping it")
        return False
    finally:
        await engine.dispose()


async def main() -> None:
    n = int(os.environ.get("IPM_BENCH_ASSETS", "100000"))
    repeat = int(os.environ.get("IPM_BENCH_REPEAT", "3"))
    results = []
    with tempfile.TemporaryDirectory(prefix="ipm-bench-") as tmp:
        results += await run_one("sqlite", f"sqlite+aiosqlite:///{tmp}/bench.db", n, repeat)
    pg_url = os.environ.get("IPM_BENCH_PG_URL")
    if not pg_url:
        print("PostgreSQL skipped: set IPM_BENCH_PG_URL=postgresql+asyncpg://… to a throwaway database")
    elif await _pg_reachable(pg_url):
        results += await run_one("postgresql", pg_url, n, repeat)
    print(f"\nGET /api/v1/assets?q=  ({n:,} assets, 50 queries per language × {repeat})")
    print(f"{'database':<12}{'language':<10}{'median ms':>10}{'p95 ms':>10}{'mean hits':>11}")
    for r in results:
        print(f"{r.database:<12}{r.language:<10}{r.median_ms:>10.1f}{r.p95_ms:>10.1f}{r.mean_hits:>11.1f}")


if __name__ == "__main__":
    asyncio.run(main())
