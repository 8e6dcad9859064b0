"""Benchmark: webhook events delivered per second with 1 and 2 worker processes (PostgreSQL).

N events (4 per object, so per-object ordering is exercised) fanned out to one endpoint, delivered to a
real receiver on 127.0.0.1 (uvicorn in its own process, answering 200) by ``python -m worker``
processes; timed from the workers' start until every delivery is ``delivered``.

    uv run python -m bench.webhook_delivery    # IPM_BENCH_PG_URL, IPM_BENCH_EVENTS (default 4000)
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time

import sqlalchemy as sa

URL = os.environ.get("IPM_BENCH_PG_URL", "postgresql+asyncpg://postgres@127.0.0.1/ipm_webhook_bench")
N = int(os.environ.get("IPM_BENCH_EVENTS", "4000"))
RECEIVER = """
import uvicorn
async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    while (await receive()).get("more_body"):
        pass
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]})
    await send({"type": "http.response.body", "body": b"ok"})
uvicorn.run(app, host="127.0.0.1", port={port}, log_level="warning")
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _seed(engine: sa.ext.asyncio.AsyncEngine, url: str) -> None:
    from accounts.models import Org
    from kernel import outbox
    from kernel.db import utcnow
    from kernel.event_log import AUDIENCES, EVENTS
    from kernel.ids import new_id
    from kernel.webhooks import DELIVER, DELIVERIES, WebhookEndpoint, ordering_key

    bank = Org(name="bench bank", kind="bank", credit_code="BENCHBANK000000009")
    ep = WebhookEndpoint(org_id=bank.id, org_kind="bank", url=url, event_types=["*"], secret="whsec_bench")
    now = utcnow()
    events, deliveries, jobs = [], [], []
    for k in range(N):
        object_id = f"loan_{k // 4:012x}"
        event_id = new_id("evt") + f"{k:08x}"
        events.append({"id": event_id[:40], "type": "loan.overdue", "object_type": "loan", "object_id": object_id,
                       "created_at": now, "data": {"object": {"id": object_id, "n": k}}})
        d = {"id": new_id("whd") + f"{k:08x}", "endpoint_id": ep.id, "event_id": event_id[:40],
             "event_type": "loan.overdue", "status": "pending", "attempts": 0, "created_at": now}
        deliveries.append(d)
        jobs.append({"kind": DELIVER, "payload": {"delivery_id": d["id"]}, "status": "queued", "attempts": 0,
                     "max_attempts": 10, "run_after": now, "created_at": now,
                     "ordering_key": ordering_key(ep.id, "loan", object_id)})
    async with engine.begin() as conn:
        await conn.execute(sa.insert(Org.__table__), [bank.model_dump()])
        await conn.execute(sa.insert(WebhookEndpoint.__table__), [ep.model_dump()])
        for i in range(0, N, 2000):
            await conn.execute(sa.insert(EVENTS), events[i:i + 2000])
            await conn.execute(sa.insert(AUDIENCES), [{"event_id": e["id"], "audience": bank.id}
                                                      for e in events[i:i + 2000]])
            await conn.execute(sa.insert(DELIVERIES), deliveries[i:i + 2000])
            await conn.execute(sa.insert(outbox.jobs), jobs[i:i + 2000])


async def _run(workers: int, receiver_url: str) -> float:
    from kernel.db import make_engine, metadata
    from kernel.webhooks import DELIVERIES

    engine = make_engine(URL)
    async with engine.begin() as conn:
        await conn.run_sync(metadata.drop_all)
        await conn.run_sync(metadata.create_all)
    await _seed(engine, receiver_url)
    env = {**os.environ, "IPM_DATABASE_URL": URL, "IPM_ENV": "test", "IPM_WORKER_BATCH": os.environ.get("IPM_BENCH_BATCH", "20"),
           "IPM_CLOCK": "manual", "IPM_LOG_LEVEL": "WARNING"}
    started = time.perf_counter()
    procs = [await asyncio.create_subprocess_exec(sys.executable, "-m", "worker", env=env,
                                                  stdout=subprocess.DEVNULL) for _ in range(workers)]
    try:
        while True:
            async with engine.connect() as conn:
                done = (await conn.execute(sa.select(sa.func.count()).select_from(DELIVERIES)
                                           .where(DELIVERIES.c.status == "delivered"))).scalar_one()
            if done >= N:
                break
            await asyncio.sleep(0.2)
        return N / (time.perf_counter() - started)
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            await p.wait()
        await engine.dispose()


async def _main() -> None:
    import api.registry  # noqa: F401  (every table)

    port = _free_port()
    receiver = await asyncio.create_subprocess_exec(sys.executable, "-c", RECEIVER.replace("{port}", str(port)))
    try:
        await asyncio.sleep(1.5)
        url = f"http://127.0.0.1:{port}/hook"
        for workers in (1, 2):
            rate = await _run(workers, url)
            print(f"{N} webhook events, {workers} worker process(es): {rate:,.0f} delivered/s")
    finally:
        receiver.terminate()
        await receiver.wait()


if __name__ == "__main__":
    asyncio.run(_main())
