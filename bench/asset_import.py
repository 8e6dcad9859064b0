"""Rows per second and peak memory of an asset import of 100,000 rows on PostgreSQL.

    uv run python -m bench.asset_import [ROWS]      # IPM_BENCH_PG_URL overrides the database

A CSV of ROWS generated patents (Chinese headers, mixed date forms, valid check characters) goes through
what ``POST /imports`` does (the header check, storage, the job), then the worker's handler runs it in
``IPM_IMPORT_CHUNK_ROWS`` chunks (500 by default), each its own transaction, through the same
``create_asset`` a single ``POST /assets`` uses. Figures: wall time of the worker part, rows/s, the
process's peak RSS before and after (it holds one chunk at a time, plus the file while staging it), and
a second import of the same file (every row a duplicate). The database is emptied first.
"""

from __future__ import annotations

import asyncio
import csv
import io
import os
import random
import resource
import sys
import tempfile
import time

URL = os.environ.get("IPM_BENCH_PG_URL", "postgresql+asyncpg://postgres@127.0.0.1/ipm_import_bench")
os.environ.update({"IPM_DATABASE_URL": URL, "IPM_CLOCK": "manual", "IPM_CLOCK_START": "2026-03-02",
                   "IPM_ENV": "test", "IPM_STORAGE_DIR": tempfile.mkdtemp(prefix="ipm-bench-storage-"),
                   "IPM_LOG_LEVEL": "WARNING"})

import sqlalchemy as sa  # noqa: E402

import api.registry  # noqa: E402, F401  (every table and handler)
from accounts.models import Org  # noqa: E402
from api.app import bootstrap, create_app  # noqa: E402
from kernel import imports, outbox, storage  # noqa: E402
from kernel.actor import Actor  # noqa: E402
from kernel.db import metadata  # noqa: E402
from kernel.settings import get_settings  # noqa: E402
from market.numbers import patent_check_character  # noqa: E402

ROWS = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
HEADERS = ["申请号", "专利名称", "专利类型", "申请日", "授权公告日", "主分类号", "法律状态", "权利要求数", "摘要",
           "年费缴至"]


def rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def generate(n: int) -> bytes:
    rng = random.Random(1)
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(HEADERS)
    for i in range(n):
        digit = "123"[i % 3]
        body = f"{2010 + i % 14}{digit}{i:07d}"
        kind = {"1": "发明", "2": "实用新型", "3": "外观设计"}[digit]
        filing = f"{2010 + i % 14}.0{1 + i % 9}.1{i % 10}"
        w.writerow([f"ZL{body}.{patent_check_character(body)}", f"一种储能电池热管理系统及方法 {i}", kind, filing,
                    "2024年6月1日", "H01M 10/613", "有效", rng.randint(1, 30), "本发明公开了一种电池热管理系统。",
                    "2026-12-31"])
    return ("\ufeff" + buf.getvalue()).encode()


async def run_once(app, actor: Actor, data: bytes) -> tuple[float, dict]:
    fmt = imports.check_file("assets", data)
    sha = await storage.put(data)
    async with app.state.session_factory() as s:
        job = await imports.create_import(s, actor, "assets", sha256=sha, size=len(data), fmt=fmt,
                                          filename="bench.csv")
        await s.commit()
    started = time.perf_counter()
    await outbox.drain(app.state.session_factory)
    elapsed = time.perf_counter() - started
    async with app.state.session_factory() as s:
        done = await s.get(imports.ImportJob, job.id)
        assert done is not None
        return elapsed, done.model_dump()


async def main() -> None:
    app = create_app(get_settings())
    async with app.state.engine.begin() as conn:
        await conn.run_sync(metadata.drop_all)
        await conn.run_sync(metadata.create_all)
    await bootstrap(app)
    async with app.state.session_factory() as s:
        org = Org(name="山西大学", kind="university", credit_code="12140000405200066B")
        s.add(org)
        await s.commit()
        actor = Actor(user_id="bench", org_id=org.id, org_kind="university", role="org_admin")
    data = generate(ROWS)
    print(f"rows {ROWS:,}, file {len(data) / 2**20:.1f} MiB, chunk {get_settings().import_chunk_rows} rows, "
          f"peak RSS before {rss_mib():.0f} MiB", flush=True)
    elapsed, job = await run_once(app, actor, data)
    assert (job["status"], job["imported"], job["rejected"]) == ("done", ROWS, 0), job
    print(f"first import: {elapsed:.1f} s, {ROWS / elapsed:,.0f} rows/s, peak RSS {rss_mib():.0f} MiB", flush=True)
    elapsed2, job2 = await run_once(app, actor, data)
    assert (job2["imported"], job2["duplicates"]) == (0, ROWS), job2
    print(f"same file again (all duplicates): {elapsed2:.1f} s, {ROWS / elapsed2:,.0f} rows/s, "
          f"peak RSS {rss_mib():.0f} MiB", flush=True)
    async with app.state.engine.connect() as conn:
        n = (await conn.execute(sa.select(sa.func.count()).select_from(metadata.tables["assets"]))).scalar_one()
    assert n == ROWS
    await app.state.engine.dispose()


if __name__ == "__main__":
    asyncio.run(main())
