"""Ledger postings per second on PostgreSQL with 8 concurrent workers, next to pgbench TPC-B on the same database.

The workers are spread over ``IPM_BENCH_PROCESSES`` client processes (default 2, like pgbench's ``-j 2``):
one Python process spends ~7 ms of CPU per posting, so a single process would measure itself, not the
database.

    uv run python -m bench.ledger_postings            # IPM_BENCH_PG_URL overrides the database

Each posting is a full ``finance.ledger.service.post`` in its own transaction: two lines (a transfer between
two limited asset accounts), accounts locked in id order, limit check, cached balances, hash-chained entry,
audit row, commit. Run once over many accounts (little row contention) and once over a few hot accounts.
The chain head is one row every posting locks, so the ledger is serial at its tail by design.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import random
import re
import subprocess
import time

os.environ.setdefault("IPM_CLOCK", "system")

import sqlalchemy as sa
from sqlalchemy.engine import make_url

import api.registry  # noqa: F401  (every table, so create_all makes the whole schema)
from finance.ledger import service
from kernel.actor import SYSTEM
from kernel.db import make_engine, make_session_factory, metadata

URL = os.environ.get("IPM_BENCH_PG_URL", "postgresql+asyncpg://postgres@127.0.0.1/ipm_ledger")
WORKERS = 8
PROCESSES = int(os.environ.get("IPM_BENCH_PROCESSES", "2"))
SECONDS = float(os.environ.get("IPM_BENCH_SECONDS", "10"))
SEED_PER_ACCOUNT = 10**12  # fen: no transfer in the run can exhaust an account


async def _prepare(factory, engine, n_accounts: int) -> list[str]:
    async with engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
        await conn.execute(sa.text("TRUNCATE ledger_postings, ledger_entries, ledger_chain_head, ledger_accounts, "
                                   "audit_events"))
    codes = [f"bench:acct:{i:05d}" for i in range(n_accounts)]
    async with factory() as s:
        await service.ensure_account(s, "bench:equity", "Bench equity", "equity")
        for code in codes:
            await service.ensure_account(s, code, code, "asset", limit="no_negative")
        for start in range(0, n_accounts, 150):
            chunk = codes[start:start + 150]
            lines = [(c, "debit", SEED_PER_ACCOUNT) for c in chunk]
            lines.append(("bench:equity", "credit", SEED_PER_ACCOUNT * len(chunk)))
            await service.post(s, SYSTEM, idempotency_key=f"seed-{start}", lines=lines, description="seed",
                               kind="capital_in")
        await s.commit()
    return codes


async def _worker(factory, codes: list[str], deadline: float, seed: int, stats: dict[str, int]) -> None:
    rng = random.Random(seed)
    n = 0
    while time.time() < deadline:
        a, b = rng.sample(codes, 2)
        n += 1
        try:
            async with factory() as s:
                await service.post(s, SYSTEM, idempotency_key=f"w{seed}-{n}",
                                   lines=_transfer(a, b, rng.randint(1, 10_000)),
                                   description="bench transfer", kind="transfer")
                await s.commit()
            stats["ok"] += 1
        except sa.exc.DBAPIError as exc:  # a deadlock or serialisation failure would show here
            stats["errors"] += 1
            stats.setdefault("first_error", str(exc)[:200])  # type: ignore[arg-type]


def _transfer(source: str, dest: str, amount: int) -> list[tuple[str, str, int]]:
    return [(dest, "debit", amount), (source, "credit", amount)]


async def _client(codes: list[str], deadline: float, seeds: list[int]) -> dict[str, int]:
    engine = make_engine(URL, pool_size=len(seeds) + 1, max_overflow=0)
    factory = make_session_factory(engine)
    stats: dict[str, int] = {"ok": 0, "errors": 0}
    await asyncio.sleep(max(0.0, deadline - SECONDS - time.time()))  # every process starts together
    await asyncio.gather(*[_worker(factory, codes, deadline, seed, stats) for seed in seeds])
    await engine.dispose()
    return stats


def _client_process(args: tuple[list[str], float, list[int]]) -> dict[str, int]:
    return asyncio.run(_client(*args))


async def _prepare_and_verify(n_accounts: int | None) -> list[str] | dict:
    engine = make_engine(URL, pool_size=2, max_overflow=0)
    factory = make_session_factory(engine)
    try:
        if n_accounts is not None:
            return await _prepare(factory, engine, n_accounts)
        async with factory() as s:
            return await service.verify(s)
    finally:
        await engine.dispose()


def run_scenario(n_accounts: int) -> dict[str, float]:
    codes = asyncio.run(_prepare_and_verify(n_accounts))
    seeds = [list(range(WORKERS))[p::PROCESSES] for p in range(PROCESSES)]
    start = time.time()
    deadline = start + 1 + SECONDS  # a second for the processes to start
    with multiprocessing.get_context("spawn").Pool(PROCESSES) as pool:
        parts = pool.map(_client_process, [(codes, deadline, s) for s in seeds])
    elapsed = SECONDS
    stats = {"ok": sum(p["ok"] for p in parts), "errors": sum(p["errors"] for p in parts)}
    report = asyncio.run(_prepare_and_verify(None))
    return {"accounts": n_accounts, "entries": stats["ok"], "errors": stats["errors"], "seconds": elapsed,
            "entries_per_s": stats["ok"] / elapsed, "postings_per_s": 2 * stats["ok"] / elapsed,
            "verified": report["balanced"] and report["chain_intact"]}


def _pg_args() -> tuple[list[str], dict[str, str]]:
    url = make_url(URL)
    args = ["-h", url.host or "127.0.0.1", "-p", str(url.port or 5432), "-U", url.username or "postgres"]
    env = dict(os.environ)
    if url.password:
        env["PGPASSWORD"] = url.password
    return [*args, url.database or "postgres"], env


def run_pgbench() -> float:
    args, env = _pg_args()
    conn, db = args[:-1], args[-1]
    subprocess.run(["pgbench", "-i", "-s", "1", "-q", *conn, db], check=True, env=env, capture_output=True)
    try:
        out = subprocess.run(["pgbench", "-c", str(WORKERS), "-j", "2", "-T", str(int(SECONDS)), *conn, db],
                             check=True, env=env, capture_output=True, text=True).stdout
    finally:
        subprocess.run(["pgbench", "-i", "-I", "d", *conn, db], env=env, capture_output=True)  # drop its tables
    match = re.search(r"tps = ([\d.]+) \(without initial connection time\)", out) or re.search(r"tps = ([\d.]+)", out)
    if not match:
        raise RuntimeError(f"could not read tps from pgbench:\n{out}")
    return float(match.group(1))


def main() -> None:
    print(f"database {make_url(URL).render_as_string(hide_password=True)}, {WORKERS} workers in {PROCESSES} "
          f"processes, {SECONDS:.0f} s each")
    results = [run_scenario(n) for n in (1000, 4)]
    tps = run_pgbench()
    print(f"{'scenario':<22}{'entries/s':>11}{'postings/s':>12}{'errors':>8}{'verified':>10}{'vs pgbench':>12}")
    for r in results:
        name = f"{r['accounts']} accounts"
        print(f"{name:<22}{r['entries_per_s']:>11.0f}{r['postings_per_s']:>12.0f}{r['errors']:>8.0f}"
              f"{r['verified']!s:>10}{r['entries_per_s'] / tps:>11.2f}x")
    print(f"{'pgbench TPC-B (-s 1)':<22}{tps:>11.0f} tps")


if __name__ == "__main__":
    main()
