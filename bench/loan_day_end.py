"""Benchmark: the loans' day-end over 100,000 performing loans on PostgreSQL, against one UPDATE of them.

Each loan has 12 monthly instalments (1.2 million rows); the closing day is the first due date of all
of them; 10% of the borrowers have not paid and 2% were already 100 days overdue. So the day-end reads
the 100,000 loans and their open instalments and writes what changes: 8,000 instalments fall overdue
and 2,000 accrue penalty, 8,000 loans move classification and status (written once each), and their
8,000 history rows, 24,000 audit records, 16,000 events and 32,000 event audiences.

The peer (the floor): one set-based ``UPDATE`` that writes every one of the same 100,000 performing
loan rows once — what a day-end that simply rewrote each loan's days past due would cost, with nothing
read from the instalments and no records. Both run on the same database in the same run, in rounds
that alternate which goes first; each is timed to the end of its last statement and rolled back, so
every round starts from the same book, and the tables are vacuumed before each (no dead rows or unset
hint bits left for the next one to pay for). Printed: each side's median (min–max) and the ratio of
the medians.

    uv run python -m bench.loan_day_end          # IPM_BENCH_PG_URL, default the loans' database
"""

from __future__ import annotations

import asyncio
import os
import statistics
import time
from datetime import date

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

import api.registry  # noqa: F401  (every table, so create_all makes foreign-key targets)
from finance.loans import day_end
from kernel.db import make_engine, make_session_factory, metadata

URL = os.environ.get("IPM_BENCH_PG_URL", "postgresql+asyncpg://postgres@127.0.0.1/ipm_loans")
N = int(os.environ.get("IPM_BENCH_LOANS", "100000"))
ROUNDS = int(os.environ.get("IPM_BENCH_ROUNDS", "3"))
DUE = date(2026, 4, 2)

SETUP = [
    "TRUNCATE loan_classifications, loan_installments, loan_collateral_alerts, loan_guarantees, loan_insurances,"
    " loan_repayments, loan_disposals, loan_write_offs, loans, loan_offers, loan_applications, audit_events,"
    " event_audiences, events"
    " RESTART IDENTITY CASCADE",
    "DELETE FROM orgs WHERE id IN ('org_bench_sme', 'org_bench_bank')",
    "INSERT INTO orgs (id, name, kind, credit_code, ip_honours, created_at) VALUES"
    " ('org_bench_sme', 'bench sme', 'sme', 'BENCHSME0000000001', '[]', now()),"
    " ('org_bench_bank', 'bench bank', 'bank', 'BENCHBANK000000001', '[]', now())",
    "INSERT INTO loan_applications (id, applicant_org_id, asset_ids, amount, term_months, purpose, repayment_method,"
    " status, submitted_on, created_at, updated_at)"
    " SELECT 'lap_' || g, 'org_bench_sme', '[]', 100000000, 12, 'bench', 'equal_installment', 'accepted',"
    " DATE '2026-02-20', now(), now() FROM generate_series(1, :n) g",
    "INSERT INTO loan_offers (id, application_id, bank_org_id, amount, annual_rate_bps, term_months,"
    " repayment_method, penalty_markup_bps, requires_guarantee, requires_certified_valuation, disclosed_charges,"
    " expires_on, status, created_at) SELECT 'lof_' || g, 'lap_' || g, 'org_bench_bank', 100000000, 435, 12,"
    " 'equal_installment', 5000, false, false, '{}', DATE '2026-03-30', 'accepted', now() FROM generate_series(1, :n) g",
    "INSERT INTO loans (id, application_id, offer_id, borrower_org_id, bank_org_id, asset_ids, principal,"
    " outstanding_principal, annual_rate_bps, penalty_markup_bps, term_months, repayment_method,"
    " requires_guarantee, status, classification, days_past_due, next_due_on, disbursed_on, created_at, updated_at)"
    " SELECT 'loan_' || lpad(g::text, 7, '0'), 'lap_' || g, 'lof_' || g, 'org_bench_sme', 'org_bench_bank', '[]',"
    " 100000000, 100000000, 435, 5000, 12, 'equal_installment', false,"
    " CASE WHEN g % 50 = 0 THEN 'overdue' ELSE 'active' END,"
    " CASE WHEN g % 50 = 0 THEN 'substandard' ELSE 'normal' END,"
    " CASE WHEN g % 50 = 0 THEN 100 ELSE 0 END, DATE '2026-04-02', DATE '2026-03-02', now(), now()"
    " FROM generate_series(1, :n) g",
    "INSERT INTO loan_installments (id, loan_id, n, due_on, payment, principal, interest, balance_after,"
    " paid_principal, paid_interest, paid_penalty, overdue_fen_days, carried_interest, status)"
    " SELECT 'lin_' || g || '_' || k, 'loan_' || lpad(g::text, 7, '0'), k,"
    " (DATE '2026-03-02' + make_interval(months => k))::date, 8530990, 8168490, 362500, 100000000 - 8168490 * k,"
    " CASE WHEN k = 1 AND g % 10 <> 0 AND g % 50 <> 0 THEN 8168490 ELSE 0 END,"
    " CASE WHEN k = 1 AND g % 10 <> 0 AND g % 50 <> 0 THEN 362500 ELSE 0 END, 0, 0, 0,"
    " CASE WHEN k = 1 AND g % 10 <> 0 AND g % 50 <> 0 THEN 'paid' ELSE 'pending' END"
    " FROM generate_series(1, :n) g, generate_series(1, 12) k",
    # The 2% long overdue: an older instalment 100 days late.
    "UPDATE loan_installments SET due_on = DATE '2026-04-02' - 99, status = 'overdue',"
    " overdue_fen_days = 8530990 * 99 WHERE n = 1 AND loan_id IN (SELECT id FROM loans WHERE days_past_due = 100)",
]
# Every table either side writes (VACUUM ANALYZE: outside a transaction, before each timed run).
TOUCHED = "loans, loan_installments, loan_classifications, audit_events, events, event_audiences"
FLOOR = "UPDATE loans SET days_past_due = days_past_due WHERE status IN ('active', 'overdue')"


async def _vacuum(engine: AsyncEngine) -> None:
    async with engine.connect() as conn:
        await (await conn.execution_options(isolation_level="AUTOCOMMIT")).execute(sa.text(f"VACUUM ANALYZE {TOUCHED}"))


async def _day_end(engine: AsyncEngine, report: dict[str, object]) -> float:
    async with make_session_factory(engine)() as session:
        t0 = time.perf_counter()
        moved = await day_end.accrue_and_age(session, DUE)
        await day_end.collateral_checks(session, DUE)
        await session.flush()
        elapsed = time.perf_counter() - t0
        conn = await session.connection()
        report["moved"] = moved
        report["statuses"] = dict((await conn.execute(sa.text("SELECT status, count(*) FROM loans GROUP BY status"))).all())
        report["rows"] = {t: (await conn.execute(sa.text(f"SELECT count(*) FROM {t}"))).scalar_one()
                          for t in ("loan_classifications", "audit_events", "events", "event_audiences")}
        await session.rollback()
    return elapsed


async def _floor(engine: AsyncEngine) -> float:
    async with engine.connect() as conn:
        t0 = time.perf_counter()
        written = (await conn.execute(sa.text(FLOOR))).rowcount
        elapsed = time.perf_counter() - t0
        await conn.rollback()
    assert written == N, written
    return elapsed


def _summary(times: list[float]) -> str:
    return f"{statistics.median(times):.3f} s ({min(times):.3f}–{max(times):.3f})"


async def main() -> None:
    engine = make_engine(URL)
    async with engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    t0 = time.perf_counter()
    async with engine.begin() as conn:
        for stmt in SETUP:
            await conn.execute(sa.text(stmt), {"n": N} if ":n" in stmt else {})
    print(f"setup: {N:,} loans, {N * 12:,} instalments in {time.perf_counter() - t0:.1f} s")
    report: dict[str, object] = {}
    day_end_s: list[float] = []
    floor_s: list[float] = []
    for i in range(ROUNDS):
        for side in ("day_end", "floor") if i % 2 == 0 else ("floor", "day_end"):
            await _vacuum(engine)
            if side == "day_end":
                day_end_s.append(await _day_end(engine, report))
            else:
                floor_s.append(await _floor(engine))
    print(f"day-end: loans moved (classification/status) {report['moved']:,}; statuses then {report['statuses']};"
          f" rows {report['rows']}")
    print(f"day-end for {N:,} performing loans, {ROUNDS} rounds: {_summary(day_end_s)}")
    print(f"one set-based UPDATE of the same {N:,} loan rows: {_summary(floor_s)}")
    print(f"ratio day-end / floor (medians): {statistics.median(day_end_s) / statistics.median(floor_s):.2f}")
    await engine.dispose()


if __name__ == "__main__":
    asyncio.run(main())
