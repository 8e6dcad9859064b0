"""Outbox throughput on PostgreSQL: jobs/s with 1 and 2 worker processes (``FOR UPDATE SKIP LOCKED`` claims).

    uv run python -m bench.outbox_throughput        # IPM_BENCH_PG_URL overrides the database

Each job is a ``bench.noop`` handler that writes one audit row through the job's own transaction, so a
job costs a claim (shared per batch), the handler's insert and the fenced "done" update, committed
together. 4,000 jobs are enqueued up front; the figure is jobs done / wall time until the queue is empty.
Every job must be done exactly once (checked at the end).
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time

import sqlalchemy as sa

import api.registry  # noqa: F401  (every table)
from kernel import outbox
from kernel.db import make_engine, make_session_factory, metadata

URL = os.environ.get("IPM_BENCH_PG_URL", "postgresql+asyncpg://postgres@127.0.0.1/ipm_outbox_bench")
JOBS = int(os.environ.get("IPM_BENCH_JOBS", "4000"))


async def _reset_and_enqueue() -> None:
    engine = make_engine(URL)
    async with engine.begin() as conn:
        await conn.run_sync(metadata.drop_all)
        await conn.run_sync(metadata.create_all)
    factory = make_session_factory(engine)
    async with factory() as s:
        for start in range(0, JOBS, 500):
            for n in range(start, min(start + 500, JOBS)):
                await outbox.enqueue(s, "bench.noop", {"n": n})
            await s.commit()
    await engine.dispose()


async def _done() -> tuple[int, int]:
    engine = make_engine(URL)
    async with engine.connect() as conn:
        # Only the benchmark's jobs: the workers also enqueue and run their periodic ones (the reconciler...).
        done = (await conn.execute(sa.select(sa.func.count()).select_from(outbox.jobs)
                                   .where(outbox.jobs.c.status == "done", outbox.jobs.c.kind == "bench.noop"))
                ).scalar_one()
        rows = (await conn.execute(sa.text("SELECT count(*), count(DISTINCT object_id) FROM audit_events "
                                           "WHERE action = 'bench.noop'"))).one()
    await engine.dispose()
    assert rows[0] == rows[1], "a job ran twice"
    return int(done), int(rows[0])


def run(workers: int) -> float:
    asyncio.run(_reset_and_enqueue())
    env = {**os.environ, "IPM_DATABASE_URL": URL, "IPM_WORKER_BATCH": "50", "IPM_WORKER_POLL_SECONDS": "0.05",
           "IPM_CLOCK": "manual"}
    started = time.perf_counter()
    procs = [subprocess.Popen([sys.executable, "-m", "bench._outbox_worker"], env=env) for _ in range(workers)]
    try:
        while asyncio.run(_done())[0] < JOBS:
            time.sleep(0.2)
        elapsed = time.perf_counter() - started
    finally:
        for p in procs:
            p.terminate()
            p.wait()
    done, written = asyncio.run(_done())
    assert done == written == JOBS, (done, written, JOBS)
    return JOBS / elapsed


def main() -> None:
    for workers in (1, 2):
        print(f"{workers} worker process(es): {run(workers):,.0f} jobs/s ({JOBS} jobs, each once)", flush=True)


if __name__ == "__main__":
    main()
