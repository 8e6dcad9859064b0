"""Ledger postings per second on PostgreSQL with 8 concurrent clients, next to its peers in the same run.

    uv run python -m bench.ledger_postings            # IPM_BENCH_PG_URL overrides the database

Ours: each posting is ``finance.ledger.service.post_alone``, a posting that is the whole of its transaction:
two lines (a transfer between two limited asset accounts). On PostgreSQL that is one statement in autocommit
(its own transaction, no BEGIN nor COMMIT round trip): ``ledger_post_entry`` locks both accounts in id order,
checks the idempotency key, the limits and closed periods, and writes the cached balances, the entry, its
postings and the audit row; a refusal would run the full ``post`` in a transaction. Like each peer's, every
transfer is one committed transaction (pgbench's script BEGIN…END, hordak's ``transfer_to`` in ``atomic``).
The hash chain is linked after commit by the sealer, which runs in the first client process during the run
(every 0.5 s, as the worker's ``ledger.seal`` job would, only more often), and seals the rest before the
final verify. Peers on the same database, same clients, same accounts:

- pgbench running ``bench/pgbench_ledger_transfer.sql`` (lock and update both balances in id order, append
  the entry: the floor a ledger transfer can reach through PostgreSQL);
- django-hordak's ``Account.transfer_to`` (the Python double-entry peer), run by ``bench/_hordak_peer.py``
  in the venv ``IPM_BENCH_HORDAK_PYTHON`` (default /tmp/hordak/bin/python); when it is missing the
  benchmark says so and how to make it.

The clients are spread over ``IPM_BENCH_PROCESSES`` processes (default 2, like pgbench's ``-j 2``), and the
clock starts when every client holds its connection (a barrier), so process start-up is not counted.
Each scenario runs ``IPM_BENCH_ROUNDS`` times (default 3), ours and the peers back to back in each round;
medians with min–max are printed. The bench's engine has no pre-ping (it reconnects through the pool).
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import os
import random
import re
import statistics
import subprocess
import time
from pathlib import Path

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
ROUNDS = int(os.environ.get("IPM_BENCH_ROUNDS", "3"))
SCENARIOS = (1000, 4)  # accounts: little row contention, then a few hot accounts
HORDAK_PYTHON = os.environ.get("IPM_BENCH_HORDAK_PYTHON", "/tmp/hordak/bin/python")
HERE = Path(__file__).parent
SEED_PER_ACCOUNT = 10**12  # fen: no transfer in the run can exhaust an account


def _engine(pool_size: int):  # type: ignore[no-untyped-def]
    # No pre-ping: it is a round trip on every checkout; a dead connection would surface as an error.
    return make_engine(URL, pool_size=pool_size, max_overflow=0, pool_pre_ping=False, pool_recycle=3600)


async def _prepare(n_accounts: int) -> list[str]:
    engine = _engine(2)
    factory = make_session_factory(engine)
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
    await engine.dispose()
    return codes


async def _verify() -> dict:
    engine = _engine(1)
    try:
        async with make_session_factory(engine)() as s:
            await service.seal(s)
            await s.commit()
        async with make_session_factory(engine)() as s:
            return await service.verify(s)
    finally:
        await engine.dispose()


async def _worker(factory, codes: list[str], t0: float, seed: int, stats: dict) -> None:  # type: ignore[no-untyped-def]
    rng = random.Random(seed)
    n = 0
    while time.perf_counter() - t0 < SECONDS:
        a, b = rng.sample(codes, 2)
        n += 1
        try:
            await service.post_alone(factory, SYSTEM, idempotency_key=f"w{seed}-{n}",
                                     lines=[(b, "debit", (amount := rng.randint(1, 10_000))), (a, "credit", amount)],
                                     description="bench transfer", kind="transfer")
            stats["ok"] += 1
        except sa.exc.DBAPIError as exc:  # a deadlock or serialisation failure would show here
            stats["errors"] += 1
            stats.setdefault("first_error", str(exc)[:200])
    stats["end"] = max(stats.get("end", 0.0), time.perf_counter() - t0)


async def _sealer(factory, t0: float, stats: dict) -> None:  # type: ignore[no-untyped-def]
    while time.perf_counter() - t0 < SECONDS:
        async with factory() as s:
            stats["sealed"] += await service.seal(s)
            await s.commit()
        await asyncio.sleep(0.5)


async def _client(codes: list[str], seeds: list[int], barrier, sealer: bool) -> dict:  # type: ignore[no-untyped-def]
    engine = _engine(len(seeds) + sealer)
    factory = make_session_factory(engine)

    async def connect() -> None:
        async with engine.connect() as conn:
            await conn.execute(sa.text("SELECT 1"))
            await asyncio.sleep(0.2)  # hold it, so every worker's connection is opened
    await asyncio.gather(*[connect() for _ in seeds])
    await asyncio.to_thread(barrier.wait)  # every client of every process is connected
    stats: dict = {"ok": 0, "errors": 0, "sealed": 0}
    t0 = time.perf_counter()
    await asyncio.gather(*[_worker(factory, codes, t0, seed, stats) for seed in seeds],
                         *([_sealer(factory, t0, stats)] if sealer else []))
    await engine.dispose()
    return stats


def _client_process(args: tuple) -> dict:
    return asyncio.run(_client(*args))


def run_ours(n_accounts: int) -> dict:
    codes = asyncio.run(_prepare(n_accounts))
    ctx = multiprocessing.get_context("spawn")
    seeds = [list(range(WORKERS))[p::PROCESSES] for p in range(PROCESSES)]
    with ctx.Manager() as manager:
        barrier = manager.Barrier(PROCESSES)
        with ctx.Pool(PROCESSES) as pool:
            parts = pool.map(_client_process, [(codes, s, barrier, i == 0) for i, s in enumerate(seeds)])
    elapsed = max(p["end"] for p in parts)
    report = asyncio.run(_verify())
    errors = [p["first_error"] for p in parts if "first_error" in p]
    return {"entries_per_s": sum(p["ok"] for p in parts) / elapsed, "errors": sum(p["errors"] for p in parts),
            "first_error": errors[0] if errors else None,
            "verified": report["balanced"] and report["chain_intact"] and report["entries_unsealed"] == 0,
            "sealed_in_run": sum(p["sealed"] for p in parts) / max(1, sum(p["ok"] for p in parts))}


def _pg_args() -> tuple[list[str], dict[str, str]]:
    url = make_url(URL)
    args = ["-h", url.host or "127.0.0.1", "-p", str(url.port or 5432), "-U", url.username or "postgres"]
    env = dict(os.environ)
    if url.password:
        env["PGPASSWORD"] = url.password
    return [*args, url.database or "postgres"], env


def _psql(sql: str) -> None:
    args, env = _pg_args()
    subprocess.run(["psql", "-q", "-v", "ON_ERROR_STOP=1", *args, "-c", sql], check=True, env=env,
                   capture_output=True)


def run_pgbench(n_accounts: int) -> float:
    _psql("DROP TABLE IF EXISTS bench_pgb_entries, bench_pgb_accounts; "
          "CREATE TABLE bench_pgb_accounts (id int PRIMARY KEY, balance bigint NOT NULL); "
          "CREATE TABLE bench_pgb_entries (id bigserial PRIMARY KEY, debit_id int NOT NULL REFERENCES "
          "bench_pgb_accounts, credit_id int NOT NULL REFERENCES bench_pgb_accounts, amount bigint NOT NULL, "
          "created_at timestamptz NOT NULL); "
          f"INSERT INTO bench_pgb_accounts SELECT g, {SEED_PER_ACCOUNT} FROM generate_series(1, {n_accounts}) g; "
          "ANALYZE bench_pgb_accounts")
    args, env = _pg_args()
    try:
        out = subprocess.run(["pgbench", "-n", "-c", str(WORKERS), "-j", str(PROCESSES), "-T", str(int(SECONDS)),
                              "-D", f"naccounts={n_accounts}", "-f", str(HERE / "pgbench_ledger_transfer.sql"),
                              *args], check=True, env=env, capture_output=True, text=True).stdout
    finally:
        _psql("DROP TABLE IF EXISTS bench_pgb_entries, bench_pgb_accounts")
    match = re.search(r"tps = ([\d.]+) \(without initial connection time\)", out) or re.search(r"tps = ([\d.]+)", out)
    if not match:
        raise RuntimeError(f"could not read tps from pgbench:\n{out}")
    return float(match.group(1))


def hordak_missing() -> str | None:
    if not Path(HORDAK_PYTHON).exists():
        return (f"django-hordak not measured: no {HORDAK_PYTHON} (make it with `uv venv /tmp/hordak && "
                "uv pip install --python /tmp/hordak django-hordak 'psycopg[binary]'`)")
    probe = subprocess.run([HORDAK_PYTHON, "-c", "import hordak, psycopg"], capture_output=True, text=True)
    return None if probe.returncode == 0 else f"django-hordak not measured: {probe.stderr.strip()[-200:]}"


def run_hordak(n_accounts: int) -> float:
    url = make_url(URL)
    dsn = url.set(drivername="postgresql", database=f"{url.database}_hordak").render_as_string(hide_password=False)
    admin = url.set(drivername="postgresql", database="postgres").render_as_string(hide_password=False)
    _, env = _pg_args()
    subprocess.run(["psql", admin, "-q", "-c", f"CREATE DATABASE {url.database}_hordak"], env=env,
                   capture_output=True)  # fails harmlessly when it exists
    out = subprocess.run([HORDAK_PYTHON, str(HERE / "_hordak_peer.py"), dsn, str(n_accounts), str(WORKERS),
                          str(PROCESSES), str(SECONDS)], check=True, capture_output=True, text=True).stdout
    result = json.loads(out.strip().splitlines()[-1])
    return float(result["entries"]) / float(result["seconds"])


def _fmt(values: list[float]) -> str:
    return f"{statistics.median(values):,.0f} ({min(values):,.0f}–{max(values):,.0f})"


def main() -> None:
    print(f"database {make_url(URL).render_as_string(hide_password=True)}, {WORKERS} clients in {PROCESSES} "
          f"processes, {SECONDS:.0f} s each, {ROUNDS} rounds (medians, min–max)", flush=True)
    missing = hordak_missing()
    if missing:
        print(missing, flush=True)
    rows = []
    for n in SCENARIOS:
        ours: list[float] = []
        pgb: list[float] = []
        hordak: list[float] = []
        errors, verified, first_error = 0, True, None
        for _ in range(ROUNDS):
            r = run_ours(n)
            ours.append(r["entries_per_s"])
            errors += r["errors"]
            verified = verified and r["verified"]
            first_error = first_error or r["first_error"]
            pgb.append(run_pgbench(n))
            if not missing:
                hordak.append(run_hordak(n))
        rows.append((n, ours, pgb, hordak, errors, verified))
        print(f"{n} accounts: ours {_fmt(ours)}/s, pgbench {_fmt(pgb)}/s"
              + (f", hordak {_fmt(hordak)}/s" if hordak else "") + f"; errors {errors}, verified {verified}"
              + (f"; first error: {first_error}" if first_error else ""), flush=True)
    print(f"{'scenario':<14}{'ours/s':>8}{'pgbench/s':>11}{'hordak/s':>10}{'vs pgbench':>12}{'vs hordak':>11}"
          f"{'errors':>8}{'verified':>10}")
    for n, ours, pgb, hordak, errors, verified in rows:
        o, p = statistics.median(ours), statistics.median(pgb)
        h = statistics.median(hordak) if hordak else None
        print(f"{f'{n} accounts':<14}{o:>8,.0f}{p:>11,.0f}{(f'{h:,.0f}' if h else 'n/a'):>10}{o / p:>11.2f}x"
              f"{(f'{o / h:.2f}x' if h else 'n/a'):>11}{errors:>8}{verified!s:>10}")


if __name__ == "__main__":
    main()
