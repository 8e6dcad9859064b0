"""Benchmark: repayments while the payment provider takes 2 s to answer, and whether they stall others.

    uv run python -m bench.repayment_slow_provider     # IPM_BENCH_PG_URL: a throwaway PostgreSQL database
                                                       # (its tables are dropped); SQLite when unset

The real app through httpx's ASGI transport (one process, one event loop, as one uvicorn worker). Loans are
set up with the local provider; then a provider that answers every charge after ``IPM_BENCH_PROVIDER_S``
(default 2 s) is installed, and for ``IPM_BENCH_SECONDS`` (default 20 s) ``IPM_BENCH_REPAYERS`` borrowers
(default 8) repay in a loop while ``IPM_BENCH_READERS`` (default 4) other clients read their loan and
``IPM_BENCH_WRITERS`` (default 2) others write (``POST /assets``: on SQLite every write transaction takes
the database's one write lock, so a repayment holding it over the provider call would stall them all).
Printed: p50/p95/p99 of each kind.

A repayment cannot answer before the provider does, so its latency is about the provider's 2 s
(``IPM_PAYMENT_WAIT_SECONDS`` caps it: past that the answer is 202 ``processing``). The point is the other
requests: the provider is called after commit, with no transaction or row lock open, so they stay fast.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import tempfile
import time
from typing import Any

PROVIDER_S = float(os.environ.get("IPM_BENCH_PROVIDER_S", "2"))
SECONDS = float(os.environ.get("IPM_BENCH_SECONDS", "20"))
REPAYERS = int(os.environ.get("IPM_BENCH_REPAYERS", "8"))
READERS = int(os.environ.get("IPM_BENCH_READERS", "4"))
WRITERS = int(os.environ.get("IPM_BENCH_WRITERS", "2"))
PG_URL = os.environ.get("IPM_BENCH_PG_URL")

os.environ.update(IPM_ENV="test", IPM_CLOCK="manual", IPM_CLOCK_START="2026-03-02", IPM_PAYMENT_PROVIDER="local",
                  IPM_RATE_LIMIT_ENABLED="false", IPM_LOG_LEVEL="WARNING",
                  IPM_DATABASE_URL=PG_URL or f"sqlite+aiosqlite:///{tempfile.mkdtemp(prefix='ipm-bench-')}/b.db")

import logging  # noqa: E402

import httpx  # noqa: E402

from api.app import bootstrap, create_app  # noqa: E402
from finance.payments.gateway import GatewayResult, IntentRequest  # noqa: E402
from finance.payments.local import LocalGateway  # noqa: E402
from finance.payments.providers import use_gateway  # noqa: E402
from kernel.db import metadata  # noqa: E402
from kernel.settings import get_settings  # noqa: E402
from tests.finance.loans import loan_flow as lf  # noqa: E402
from tests.helpers import Api  # noqa: E402


class SlowProvider(LocalGateway):
    """The local provider, answering each charge only after ``PROVIDER_S`` seconds (a slow bank)."""

    async def create_intent(self, request: IntentRequest) -> GatewayResult:
        await asyncio.sleep(PROVIDER_S)
        return await super().create_intent(request)


def _pcts(xs: list[float]) -> str:
    if len(xs) < 2:
        return f"n={len(xs)}"
    q = statistics.quantiles(xs, n=100, method="inclusive")
    return f"n={len(xs):4d}  p50 {q[49] * 1000:7.0f} ms  p95 {q[94] * 1000:7.0f} ms  p99 {q[98] * 1000:7.0f} ms"


async def main() -> None:
    logging.getLogger("httpx").setLevel(logging.WARNING)  # not a line per request
    get_settings.cache_clear()
    app = create_app(get_settings())
    async with app.state.engine.begin() as conn:
        await conn.run_sync(metadata.drop_all)
        await conn.run_sync(metadata.create_all)
    await bootstrap(app)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://bench/api/v1", timeout=60) as client:
        api = Api(client, app)
        loans: list[tuple[lf.Cast, dict[str, Any]]] = []
        for _ in range(REPAYERS + WRITERS):
            c = await lf.cast(api, n_assets=1)
            loans.append((c, await lf.active_loan(api, c)))
        samples: dict[str, list[float]] = {"repayment (provider 2 s)": [], "GET /loans/{id} meanwhile": [],
                                           "POST /assets meanwhile": []}
        statuses: dict[int, int] = {}
        stop = time.perf_counter() + SECONDS

        async def timed(kind: str, call: Any) -> httpx.Response:
            t = time.perf_counter()
            r = await call
            samples[kind].append(time.perf_counter() - t)
            return r

        async def repayer(c: lf.Cast, loan: dict[str, Any]) -> None:
            while time.perf_counter() < stop:
                r = await timed("repayment (provider 2 s)", client.post(
                    f"/loans/{loan['id']}/repayments", json={"amount": 10 * lf.YUAN}, headers=c.sme.headers))
                statuses[r.status_code] = statuses.get(r.status_code, 0) + 1

        async def reader(c: lf.Cast, loan: dict[str, Any]) -> None:
            while time.perf_counter() < stop:
                r = await timed("GET /loans/{id} meanwhile", client.get(f"/loans/{loan['id']}", headers=c.bank.headers))
                assert r.status_code == 200, r.text
                await asyncio.sleep(0.05)

        async def writer(c: lf.Cast, loan: dict[str, Any]) -> None:
            while time.perf_counter() < stop:
                await timed("POST /assets meanwhile", api.asset(c.sme))
                await asyncio.sleep(0.05)

        with use_gateway(SlowProvider()):
            await asyncio.gather(*(repayer(c, x) for c, x in loans[:REPAYERS]),
                                 *(reader(*loans[i % REPAYERS]) for i in range(READERS)),
                                 *(writer(c, x) for c, x in loans[REPAYERS:]))
            await asyncio.sleep(PROVIDER_S + 1)  # let the last settlements finish before the engine goes
    db = "PostgreSQL" if PG_URL else "SQLite"
    print(f"{db}, provider {PROVIDER_S:g} s per charge, {REPAYERS} repayers, {READERS} readers, {WRITERS} writers, "
          f"{SECONDS:g} s, IPM_PAYMENT_WAIT_SECONDS={app.state.settings.payment_wait_seconds:g}")
    for kind, xs in samples.items():
        print(f"  {kind:36s} {_pcts(xs)}")
    print(f"  repayment answers by status: {dict(sorted(statuses.items()))}")
    await app.state.engine.dispose()


if __name__ == "__main__":
    asyncio.run(main())
