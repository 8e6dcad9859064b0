"""Hot HTTP paths on PostgreSQL: the project's server vs a bare FastAPI + asyncpg app (issue #21).

    uv run python -m bench.http_paths      # IPM_BENCH_PG_URL, IPM_BENCH_ASSETS, IPM_BENCH_LOANS, IPM_BENCH_PATHS, ...

Both servers run as ``uvicorn --workers 2`` (uvloop + httptools) on this machine and are driven by the
same load generator: ``wrk`` when it is installed (Debian's ``wrk``), otherwise a Python one in its own
process. Measured paths, each next to its reference:

- ``GET /api/v1/assets/{id}`` (a random one of the seeded assets) vs the bare read by primary key;
- ``GET /api/v1/listings?q=`` (a word in 1 % of the listings) vs the same bare read;
- ``POST /api/v1/loans/{id}/repayments`` with a fresh ``Idempotency-Key`` (auth, idempotency, payment,
  allocation, audit; a random one of the seeded loans) vs the bare five-statement transfer.

Seeding is in SQL, not over HTTP: one asset, listing and loan are made through the services, then cloned
with ``INSERT … SELECT … generate_series`` (foreign-key triggers off while cloning, ids deterministic so the
load scripts can pick at random; the trigram indexes are dropped while cloning and built once after), and
listing search's inverted index is written for the clones as the service writes it for a new listing (one
COPY), ~20 s for the default sizes. The seeded database is reused by the next run when its sizes and schema are the same
(the ``bench_http_seed`` marker table; ``IPM_BENCH_RESEED=1`` seeds afresh). Statements per request are
counted in-process on the same database before the load runs (SQL statements, then the BEGIN/COMMIT asyncpg
sends around them). Each run also reports the CPU per request of the server's processes and of PostgreSQL's
(from /proc, on Linux, when the database runs on this machine), so the time a path costs is seen on both
sides of the connection. Each pair runs back to back, ours first then the bare one, alternating
``IPM_BENCH_PAIRS`` times; the medians are printed with the ratio. wrk counts from its connections being
open; the Python generator starts its clock once every connection has answered one request.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

PG_URL = os.environ.get("IPM_BENCH_PG_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/ipm_httpbench")
N_ASSETS = int(os.environ.get("IPM_BENCH_ASSETS", "100000"))
N_LOANS = int(os.environ.get("IPM_BENCH_LOANS", "20000"))
SECONDS = int(os.environ.get("IPM_BENCH_SECONDS", "10"))
PAIRS = int(os.environ.get("IPM_BENCH_PAIRS", "3"))
CONNECTIONS = int(os.environ.get("IPM_BENCH_CONNECTIONS", "32"))
WORD = "graphene"  # in 1 % of the listings' titles
OURS_PORT = int(os.environ.get("IPM_BENCH_PORT", "18431"))  # the bare app listens on the next one
BARE_PORT = OURS_PORT + 1
ROOT = Path(__file__).resolve().parent.parent

os.environ.update({"IPM_DATABASE_URL": PG_URL, "IPM_CLOCK": "manual", "IPM_CLOCK_START": "2026-03-02",
                   "IPM_PAYMENT_PROVIDER": "local", "IPM_RATE_LIMIT_ENABLED": "false", "IPM_LOG_LEVEL": "WARNING",
                   "IPM_ENV": "test",
                   "IPM_JWT_TTL_SECONDS": "86400"})  # the token outlives a long run


# --- seeding ------------------------------------------------------------------------------------------

MARKER = "bench_http_seed"  # one row: what was seeded (sizes, schema) and the caller whose token is used


def _seed_key() -> str:
    """Sizes and the schema's DDL: a database seeded under another key is seeded afresh."""
    import hashlib

    from sqlalchemy.dialects import postgresql
    from sqlalchemy.schema import CreateTable

    import api.app  # noqa: F401  # every model registered
    from kernel.db import metadata

    ddl = "\n".join(str(CreateTable(t).compile(dialect=postgresql.dialect())) for t in metadata.sorted_tables)
    return f"{N_ASSETS}:{N_LOANS}:{WORD}:" + hashlib.sha256(ddl.encode()).hexdigest()[:16]


async def _seeded_token(engine: Any, key: str) -> str | None:
    """A fresh token for the caller of an earlier seeding under ``key``, or None (seed anew)."""
    import sqlalchemy as sa

    from api.security import create_access_token
    from kernel.settings import get_settings

    if os.environ.get("IPM_BENCH_RESEED"):
        return None
    async with engine.connect() as conn:
        if not (await conn.execute(sa.text("SELECT to_regclass(:t)"), {"t": MARKER})).scalar():
            return None
        row = (await conn.execute(sa.text(
            f"SELECT u.id, u.org_id, u.token_version FROM {MARKER} m JOIN users u ON u.id = m.user_id "
            "WHERE m.key = :key"), {"key": key})).first()
    if row is None:
        return None
    return "Bearer " + create_access_token(row.id, row.org_id, get_settings(), row.token_version)


async def _seed() -> dict[str, Any]:
    import httpx
    import sqlalchemy as sa

    from api.app import bootstrap, create_app
    from kernel.db import metadata, table_of
    from kernel.settings import get_settings
    from tests.finance.loans import loan_flow as lf
    from tests.helpers import Api

    get_settings.cache_clear()
    app = create_app(get_settings())
    key = _seed_key()
    t0 = time.perf_counter()
    token = await _seeded_token(app.state.engine, key)
    if token is not None:
        await app.state.engine.dispose()
        return {"token": token, "seconds": time.perf_counter() - t0, "reused": True}
    async with app.state.engine.begin() as conn:
        await conn.execute(sa.text(f"DROP TABLE IF EXISTS {MARKER}"))
        await conn.run_sync(metadata.drop_all)
        await conn.run_sync(metadata.create_all)
        await conn.execute(sa.text("DROP TABLE IF EXISTS bench_transfers, bench_accounts"))
        await conn.execute(sa.text("CREATE TABLE bench_accounts (id int PRIMARY KEY, balance bigint NOT NULL)"))
        await conn.execute(sa.text("CREATE TABLE bench_transfers (id bigserial PRIMARY KEY, source int, target int,"
                                   " amount bigint, at timestamptz DEFAULT now())"))
        await conn.execute(sa.text("INSERT INTO bench_accounts SELECT g, 10000000000 FROM generate_series(1, 1000) g"))
    await bootstrap(app)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://seed/api/v1") as client:
        api = Api(client, app)
        c = await lf.cast(api, n_assets=1)
        loan = await lf.active_loan(api, c)
        free = await api.asset(c.sme)  # the template asset: not pledged, so it can be listed
        r = await client.post("/listings", json={"asset_ids": [free["id"]], "mode": "assignment",
                                                 "price": 500_000_00, "title": "储能电池 energy storage patent"},
                              headers=c.sme.headers)
        assert r.status_code == 201, r.text
        listing_id = r.json()["id"]
        token = c.sme.headers["Authorization"]
        user_id = c.sme.user_id
    from finance.loans.models import Loan, LoanInstallment
    from market.assets.models import Asset, OwnershipRecord
    from market.trading.models import Listing, ListingAsset

    async with app.state.engine.begin() as conn:
        await conn.execute(sa.text("SET session_replication_role = replica"))  # no FK triggers while cloning
        # The trigram indexes are built once after the rows are in: maintaining them row by row is most
        # of the seeding's time otherwise.
        trgm = (await conn.execute(sa.text(
            "SELECT indexdef, indexname FROM pg_indexes WHERE indexdef LIKE '%gin_trgm_ops%'"))).all()
        for _, name in trgm:
            await conn.execute(sa.text(f'DROP INDEX "{name}"'))

        async def clone(model: Any, where: str, n: int, over: dict[str, str]) -> None:
            table = table_of(model)
            cols = [c.name for c in table.columns]
            exprs = [over.get(c, f't."{c}"') for c in cols]
            await conn.execute(sa.text(
                f'INSERT INTO {table.name} ({", ".join(chr(34) + c + chr(34) for c in cols)}) '
                f'SELECT {", ".join(exprs)} FROM {table.name} t, generate_series(1, {n}) g WHERE {where}'))

        aid = free["id"]
        await clone(Asset, f"t.id = '{aid}'", N_ASSETS - 1, {
            "id": "'ast_b' || lpad(g::text, 7, '0')", "number": "t.number || '-' || g",
            "title": "t.title || ' ' || g"})
        await clone(OwnershipRecord, f"t.asset_id = '{aid}'", N_ASSETS - 1, {
            "id": "'own_b' || g || '_' || t.id", "asset_id": "'ast_b' || lpad(g::text, 7, '0')"})
        word = f"CASE WHEN g % 100 = 0 THEN ' {WORD}' ELSE '' END"
        await clone(Listing, f"t.id = '{listing_id}'", N_ASSETS - 1, {
            "id": "'lst_b' || lpad(g::text, 7, '0')", "title": f"t.title || ' ' || g || {word}",
            "search_text": f"t.search_text || ' ' || g || {word}"})
        await _index_listings(conn)
        await clone(ListingAsset, f"t.listing_id = '{listing_id}'", N_ASSETS - 1, {
            "id": "'lsa_b' || g", "listing_id": "'lst_b' || lpad(g::text, 7, '0')",
            "asset_id": "'ast_b' || lpad(g::text, 7, '0')"} if "id" in table_of(ListingAsset).c else {
            "listing_id": "'lst_b' || lpad(g::text, 7, '0')", "asset_id": "'ast_b' || lpad(g::text, 7, '0')"})
        await clone(Loan, f"t.id = '{loan['id']}'", N_LOANS, {
            "id": "'loan_b' || lpad(g::text, 6, '0')", "application_id": "'lapp_b' || g"})
        await clone(LoanInstallment, f"t.loan_id = '{loan['id']}'", N_LOANS, {
            "id": "'ins_b' || g || '_' || t.n", "loan_id": "'loan_b' || lpad(g::text, 6, '0')"})
        await conn.execute(sa.text("SET session_replication_role = origin"))
        for indexdef, _ in trgm:
            await conn.execute(sa.text(indexdef))
        await conn.execute(sa.text(f"CREATE TABLE {MARKER} (key text PRIMARY KEY, user_id text NOT NULL)"))
        await conn.execute(sa.text(f"INSERT INTO {MARKER} VALUES (:key, :user_id)"),
                           {"key": key, "user_id": user_id})
    async with app.state.engine.connect() as conn:
        await conn.execution_options(isolation_level="AUTOCOMMIT")
        await conn.execute(sa.text("VACUUM ANALYZE"))
    seeded = time.perf_counter() - t0
    await app.state.engine.dispose()
    return {"token": token, "seconds": seeded, "reused": False}


async def _index_listings(conn: Any) -> None:
    """Search's inverted index of the cloned listings, the rows create_listing writes for each
    (market.trading.service.listing_index_rows of its search_text), copied in at once."""
    import sqlalchemy as sa

    from market.trading.service import listing_index_rows

    terms: list[tuple[str, str]] = []
    words: set[str] = set()
    for listing_id, search_text in (await conn.execute(sa.text("SELECT id, search_text FROM listings"))).all():
        term_rows, word_rows = listing_index_rows(listing_id, search_text)
        terms += ((r["term"], r["listing_id"]) for r in term_rows)
        words.update(r["term"] for r in word_rows)
    await conn.execute(sa.text("DELETE FROM listing_terms"))  # the template's own, written by the service
    await conn.execute(sa.text("DELETE FROM listing_words"))
    raw = (await conn.get_raw_connection()).driver_connection
    await raw.copy_records_to_table("listing_terms", records=sorted(terms), columns=["term", "listing_id"])
    await raw.copy_records_to_table("listing_words", records=[(w,) for w in sorted(words)], columns=["term"])


# What the bare app sends per request (bench/_bare_http.py): statements, and BEGIN/COMMIT around them.
BARE_STATEMENTS = {"bare_read": (1, 0), "transfer": (3, 2), "bare_repay": (13, 4)}


async def _count_statements(kinds: list[str], token: str) -> dict[str, tuple[float, float]]:
    """Per request of each kind, in-process on the same database: the SQL statements the app's engine sends
    (as tests/perf counts them) and the transaction bracket (BEGIN, COMMIT/ROLLBACK) asyncpg sends."""
    import random

    import asyncpg
    import httpx
    from sqlalchemy import event

    from api.app import create_app
    from kernel.settings import get_settings

    get_settings.cache_clear()
    app = create_app(get_settings().model_copy(update={"embedded_worker": False}))  # its polls are not ours
    counts = {"statements": 0, "bracket": 0}
    tx = asyncpg.transaction.Transaction
    originals = {name: getattr(tx, name) for name in ("start", "commit", "rollback")}

    def counting(fn: Any) -> Any:
        async def wrapper(self: Any, *a: Any, **kw: Any) -> Any:
            counts["bracket"] += 1
            return await fn(self, *a, **kw)
        return wrapper

    def before(*_: Any) -> None:
        counts["statements"] += 1

    out: dict[str, tuple[float, float]] = {}
    n = 20
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://count") as client:
            for kind in kinds:
                def send(kind: str = kind) -> Any:
                    headers = {"Authorization": token}
                    if kind == "asset":
                        return client.get(f"/api/v1/assets/ast_b{random.randint(1, N_ASSETS - 1):07d}",
                                          headers=headers)
                    if kind == "listings":
                        return client.get(f"/api/v1/listings?q={WORD}", headers=headers)
                    headers["Idempotency-Key"] = f"count-{random.getrandbits(64):x}"
                    return client.post(f"/api/v1/loans/loan_b{random.randint(1, N_LOANS):06d}/repayments",
                                       headers=headers, json={"amount": 100})
                r = await send()  # warm: caches, the pool
                assert r.status_code < 300, r.text
                counts.update(statements=0, bracket=0)
                event.listen(app.state.engine.sync_engine, "before_cursor_execute", before)
                for name, fn in originals.items():
                    setattr(tx, name, counting(fn))
                try:
                    for _ in range(n):
                        r = await send()
                        assert r.status_code < 300, r.text
                finally:
                    event.remove(app.state.engine.sync_engine, "before_cursor_execute", before)
                    for name, fn in originals.items():
                        setattr(tx, name, fn)
                out[kind] = (counts["statements"] / n, counts["bracket"] / n)
    return out


# --- servers ------------------------------------------------------------------------------------------

def _wait_port(port: int, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise RuntimeError(f"server on port {port} did not start")


def _serve(target: str, port: int, extra_env: dict[str, str]) -> subprocess.Popen[bytes]:
    cmd = [sys.executable, "-m", "uvicorn", target, "--workers", "2", "--port", str(port), "--host", "127.0.0.1",
           "--loop", "uvloop", "--http", "httptools", "--log-level", "warning", "--no-access-log"]
    if target.endswith("create_app"):
        cmd.append("--factory")
    proc = subprocess.Popen(cmd, cwd=ROOT, env={**os.environ, **extra_env}, start_new_session=True)
    try:
        _wait_port(port)
    except BaseException:
        _stop(proc)
        raise
    time.sleep(2)  # both workers up
    return proc


def _stop(proc: subprocess.Popen[bytes]) -> None:
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)


# --- load ---------------------------------------------------------------------------------------------

def _lua(kind: str, token: str) -> str:
    auth = f'wrk.headers["Authorization"] = "{token}"\n'
    if kind == "asset":
        return auth + (f'request = function() return wrk.format("GET", string.format('
                       f'"/api/v1/assets/ast_b%07d", math.random(1, {N_ASSETS - 1}))) end\n')
    if kind == "listings":
        return auth + f'wrk.path = "/api/v1/listings?q={WORD}"\n'
    if kind == "bare_read":
        return (f'request = function() return wrk.format("GET", string.format('
                f'"/assets/ast_b%07d", math.random(1, {N_ASSETS - 1}))) end\n')
    if kind in ("repay", "bare_repay"):  # the same request; each server's path, its keys apart from the other's
        path, prefix = ("/repay/loan_b%06d", "b") if kind == "bare_repay" else ("/api/v1/loans/loan_b%06d/repayments", "k")
        return auth + ('local n = 0\n'
                       'math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16))\n'
                       'request = function() n = n + 1\n'
                       f'  local key = string.format("{prefix}%d-%d-%d", os.time(), math.random(1, 1e9), n)\n'
                       # headers given to wrk.format replace wrk.headers: the token must be in this table too
                       '  local h = {["Authorization"] = wrk.headers["Authorization"],\n'
                       '             ["Content-Type"] = "application/json", ["Idempotency-Key"] = key}\n'
                       f'  return wrk.format("POST", string.format("{path}",'
                       f' math.random(1, {N_LOANS})), h, \'{{"amount": 100}}\') end\n')
    if kind == "transfer":
        return ('wrk.headers["Content-Type"] = "application/json"\n'
                'request = function() local a = math.random(1, 1000) local b = a % 1000 + 1\n'
                '  return wrk.format("POST", "/transfer", nil, string.format('
                '\'{"source": %d, "target": %d, "amount": 1}\', a, b)) end\n')
    raise ValueError(kind)


def _parse_wrk(out: str) -> dict[str, float]:
    def ms(text: str) -> float:
        value, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", text).groups()  # type: ignore[union-attr]  # wrk's format
        return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]

    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]  # wrk's format
    p99 = ms(re.search(r"\s99%\s+(\S+)", out).group(1))  # type: ignore[union-attr]  # wrk's format
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = int(m.group(1)) if m else 0
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    errors += sum(int(x) for x in m.groups()) if m else 0
    return {"rps": rps, "p99": p99, "errors": errors}


_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _cpu_seconds(server: subprocess.Popen[bytes]) -> tuple[float, float] | None:
    """CPU seconds used so far by the server's processes (its session: uvicorn and its workers) and by
    PostgreSQL's processes on this machine (backends and background work: nothing when the database is
    elsewhere); None without Linux's /proc."""
    if not os.path.exists("/proc/self/stat"):
        return None
    ours = pg = 0.0
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/stat") as f:
                stat = f.read()
        except OSError:  # ended meanwhile
            continue
        comm, rest = stat[stat.index("(") + 1:stat.rindex(")")], stat[stat.rindex(")") + 2:].split()
        used = (int(rest[11]) + int(rest[12])) / _TICK  # utime + stime
        if int(rest[3]) == server.pid:  # the session started for the server
            ours += used
        elif comm == "postgres":
            pg += used
    return ours, pg


def _measured_load(server: subprocess.Popen[bytes], port: int, kind: str, token: str) -> dict[str, float]:
    """``_run_load``, with the CPU the server and PostgreSQL spent per request while it ran (ms)."""
    before, start = _cpu_seconds(server), time.perf_counter()
    result = _run_load(port, kind, token)
    after, wall = _cpu_seconds(server), time.perf_counter() - start
    if before is not None and after is not None and result["rps"]:
        served = result["rps"] * wall
        result["server_cpu_ms"] = round(1000 * (after[0] - before[0]) / served, 2)
        result["pg_cpu_ms"] = round(1000 * (after[1] - before[1]) / served, 2)
    return result


def _run_load(port: int, kind: str, token: str) -> dict[str, float]:
    if shutil.which("wrk"):
        with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
            f.write(_lua(kind, token))
        out = subprocess.run(["wrk", "-t2", f"-c{CONNECTIONS}", f"-d{SECONDS}s", "--latency", "-s", f.name,
                              f"http://127.0.0.1:{port}"], capture_output=True, text=True, check=True).stdout
        os.unlink(f.name)
        return _parse_wrk(out)
    out = subprocess.run([sys.executable, "-m", "bench.http_paths", "--load", str(port), kind, token],
                         cwd=ROOT, capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])  # type: ignore[no-any-return]  # our own JSON


async def _python_load(port: int, kind: str, token: str) -> dict[str, float]:
    """The fallback generator: CONNECTIONS keep-alive clients, the clock started once all have answered."""
    import random

    import httpx

    def request() -> tuple[str, str, dict[str, str], bytes | None]:
        headers = {} if kind in ("bare_read", "transfer") else {"Authorization": token}
        if kind == "asset":
            return "GET", f"/api/v1/assets/ast_b{random.randint(1, N_ASSETS - 1):07d}", headers, None
        if kind == "listings":
            return "GET", f"/api/v1/listings?q={WORD}", headers, None
        if kind == "bare_read":
            return "GET", f"/assets/ast_b{random.randint(1, N_ASSETS - 1):07d}", headers, None
        if kind in ("repay", "bare_repay"):
            headers |= {"Idempotency-Key": f"k{random.getrandbits(64):x}", "Content-Type": "application/json"}
            path = "/repay/loan_b{:06d}" if kind == "bare_repay" else "/api/v1/loans/loan_b{:06d}/repayments"
            return "POST", path.format(random.randint(1, N_LOANS)), headers, b'{"amount": 100}'
        a = random.randint(1, 1000)
        return "POST", "/transfer", {"Content-Type": "application/json"}, json.dumps(
            {"source": a, "target": a % 1000 + 1, "amount": 1}).encode()

    latencies: list[float] = []
    errors = 0
    ready = asyncio.Event()
    warmed = 0
    start = end = 0.0

    async def client() -> None:
        nonlocal errors, warmed
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as c:
            method, path, headers, body = request()
            await c.request(method, path, headers=headers, content=body)
            warmed += 1
            if warmed == CONNECTIONS:
                ready.set()
            await ready.wait()
            while time.perf_counter() < end:
                method, path, headers, body = request()
                t = time.perf_counter()
                r = await c.request(method, path, headers=headers, content=body)
                latencies.append((time.perf_counter() - t) * 1000)
                errors += r.status_code >= 400

    async def clock() -> None:
        nonlocal start, end
        end = float("inf")
        await ready.wait()
        start = time.perf_counter()
        end = start + SECONDS

    await asyncio.gather(clock(), *(client() for _ in range(CONNECTIONS)))
    latencies.sort()
    return {"rps": len(latencies) / (time.perf_counter() - start), "errors": errors,
            "p99": latencies[int(len(latencies) * 0.99)] if latencies else 0.0}


# --- the run ------------------------------------------------------------------------------------------

PATHS = [("GET /assets/{id}", "asset", "bare_read"), ("GET /listings?q=", "listings", "bare_read"),
         ("POST /loans/{id}/repayments", "repay", "transfer"),
         # The same request against the same database work by hand (bench/_bare_http.py's repay): how much
         # of the gap to the transfer is the work itself, how much is the project's code around it.
         ("POST /loans/{id}/repayments *", "repay", "bare_repay")]
# IPM_BENCH_PATHS=repay (comma-separated kinds: asset, listings, repay) measures only those paths.
ONLY = {k for k in os.environ.get("IPM_BENCH_PATHS", "").split(",") if k}


def main() -> None:
    from sqlalchemy.engine import make_url

    from kernel.settings import get_settings  # the bare app verifies our tokens

    print(f"seeding {N_ASSETS:,} assets and listings, {N_LOANS:,} loans ...", flush=True)
    seeded = asyncio.run(_seed())
    print(f"{'reused the seeded database' if seeded['reused'] else 'seeded'} in {seeded['seconds']:.1f} s "
          f"(IPM_BENCH_RESEED=1 seeds afresh); load: {'wrk' if shutil.which('wrk') else 'python'}, "
          f"{CONNECTIONS} connections, {SECONDS} s a run, {PAIRS} pairs", flush=True)
    paths = [p for p in PATHS if not ONLY or p[1] in ONLY]
    statements = asyncio.run(_count_statements(list(dict.fromkeys(kind for _, kind, _ in paths)), seeded["token"]))
    bare_dsn = make_url(PG_URL).set(drivername="postgresql").render_as_string(hide_password=False)
    # The pool as the bare app's (16 a worker, what 32 connections over 2 workers use) and a few for the
    # embedded worker: the default 20 + 10 a worker can run a shared PostgreSQL out of connections.
    ours = _serve("api.app:create_app", OURS_PORT, {"IPM_EMBEDDED_WORKER": "true", "IPM_DB_POOL_SIZE": "16",
                                                    "IPM_DB_MAX_OVERFLOW": "4"})
    bare = _serve("bench._bare_http:app", BARE_PORT, {"IPM_BENCH_BARE_DSN": bare_dsn,
                                                      "IPM_BENCH_BARE_JWT_SECRET": get_settings().jwt_secret})
    results: dict[str, dict[str, list[dict[str, float]]]] = {}
    try:
        for label, kind, ref in paths:
            for port, k in ((OURS_PORT, kind), (BARE_PORT, ref)):  # warm both
                _run_load_short(port, k, seeded["token"])
            runs = results.setdefault(label, {"ours": [], "bare": []})
            for _ in range(PAIRS):
                runs["ours"].append(_measured_load(ours, OURS_PORT, kind, seeded["token"]))
                runs["bare"].append(_measured_load(bare, BARE_PORT, ref, seeded["token"]))
                print(f"  {label}: ours {runs['ours'][-1]}  bare {runs['bare'][-1]}", flush=True)
    finally:
        _stop(ours)
        _stop(bare)
    print(f"\n{'path':32} {'ours req/s':>11} {'bare req/s':>11} {'ratio':>7} {'p99 ours/bare ms':>18} "
          f"{'p99 ratio':>9} {'errors':>7}  SQL per request ours / bare (statements + BEGIN/COMMIT)")
    for label, kind, ref in paths:
        runs = results[label]
        o_rps = statistics.median(r["rps"] for r in runs["ours"])
        b_rps = statistics.median(r["rps"] for r in runs["bare"])
        o_p99 = statistics.median(r["p99"] for r in runs["ours"])
        b_p99 = statistics.median(r["p99"] for r in runs["bare"])
        errors = sum(r["errors"] for side in runs.values() for r in side)
        (o_st, o_br), (b_st, b_br) = statements[kind], BARE_STATEMENTS[ref]
        print(f"{label:32} {o_rps:11.0f} {b_rps:11.0f} {o_rps / b_rps:6.3f}× {o_p99:8.1f} / {b_p99:6.1f}"
              f" {o_p99 / b_p99:8.2f}× {errors:7d}  {o_st:g} + {o_br:g} / {b_st} + {b_br}")
        if errors:  # an error answer is cheap: a ratio over them says nothing about the path
            print(f"{'':32} ^ not a measurement: {errors} requests failed (non-2xx or socket errors)")
    print(f"\n{'CPU per request (ms, medians)':32} {'server ours':>11} {'bare':>6} {'PostgreSQL ours':>16} {'bare':>6}"
          "   (the server's processes; PostgreSQL's on this machine)")
    for label, _, _ in paths:
        runs = results[label]
        if all("server_cpu_ms" in r for side in runs.values() for r in side):
            cpu = {f"{side}_{k}": statistics.median(r[k] for r in runs[side])
                   for side in ("ours", "bare") for k in ("server_cpu_ms", "pg_cpu_ms")}
            print(f"{label:32} {cpu['ours_server_cpu_ms']:11.2f} {cpu['bare_server_cpu_ms']:6.2f} "
                  f"{cpu['ours_pg_cpu_ms']:16.2f} {cpu['bare_pg_cpu_ms']:6.2f}")
    if any(label.endswith("*") for label, _, _ in paths):
        print("* against the same database work by hand (bench/_bare_http.py's /repay: the same rows, statements and "
              "transactions)")
        by_ref = {ref: statistics.median(r["rps"] for r in results[label]["bare"]) for label, _, ref in paths}
        if "transfer" in by_ref:
            print(f"  that work by hand: {by_ref['bare_repay']:.0f} req/s, {by_ref['bare_repay'] / by_ref['transfer']:.3f}× "
                  "the bare transfer (the most a repayment doing it reaches, next to the transfer)")
    print(f"load average: {os.getloadavg()[0]:.2f}, {os.getloadavg()[1]:.2f}, {os.getloadavg()[2]:.2f}")


def _run_load_short(port: int, kind: str, token: str) -> None:
    global SECONDS
    saved, SECONDS = SECONDS, 2
    try:
        _run_load(port, kind, token)
    finally:
        SECONDS = saved


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "--load":
        print(json.dumps(asyncio.run(_python_load(int(sys.argv[2]), sys.argv[3], sys.argv[4]))))
    else:
        main()
