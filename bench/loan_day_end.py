"""Benchmark: the loans' day-end over 100,000 performing loans on PostgreSQL.

Each loan has 12 monthly instalments (1.2 million rows); the closing day is the first due date of all
of them; 10% of the borrowers have not paid (they fall overdue, accrue penalty, change classification
and status, get history and audit rows), and 2% were already 100 days overdue. Printed next to the
floor: one set-based ``UPDATE`` touching the same 100,000 loan rows on the same database.

    uv run python -m bench.loan_day_end          # IPM_BENCH_PG_URL, default the loans' database
"""

from __future__ import annotations

import asyncio
import os
import time
from datetime import date

import sqlalchemy as sa

import api.registry  # noqa: F401  (every table, so create_all makes foreign-key targets)
from finance.loans import day_end
from kernel.db import make_engine, make_session_factory, metadata

URL = os.environ.get("IPM_BENCH_PG_URL", "postgresql+asyncpg://postgres@127.0.0.1/ipm_loans")
N = int(os.environ.get("IPM_BENCH_LOANS", "100000"))
DUE = date(2026, 4, 2)

SETUP = [
    "TRUNCATE loan_classifications, loan_installments, loan_collateral_alerts, loan_guarantees, loan_insurances,"
    " loan_repayments, loan_disposals, loan_write_offs, loans, loan_offers, loan_applications, audit_events"
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
    "ANALYZE",
]


async def main() -> None:
    engine = make_engine(URL)
    async with engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    t0 = time.perf_counter()
    async with engine.begin() as conn:
        for stmt in SETUP:
            await conn.execute(sa.text(stmt), {"n": N} if ":n" in stmt else {})
    print(f"setup: {N:,} loans, {N * 12:,} instalments in {time.perf_counter() - t0:.1f} s")
    factory = make_session_factory(engine)
    async with factory() as session:
        t0 = time.perf_counter()
        moved = await day_end.accrue_and_age(session, DUE)
        await day_end.collateral_checks(session, DUE)
        await session.commit()
        day_end_s = time.perf_counter() - t0
    async with engine.connect() as conn:
        counts = dict((await conn.execute(sa.text("SELECT status, count(*) FROM loans GROUP BY status"))).all())
        history = (await conn.execute(sa.text("SELECT count(*) FROM loan_classifications"))).scalar_one()
    async with engine.begin() as conn:
        t0 = time.perf_counter()
        await conn.execute(sa.text("UPDATE loans SET days_past_due = days_past_due WHERE status IN ('active', 'overdue')"))
        floor_s = time.perf_counter() - t0
    print(f"loans moved (classification/status): {moved:,}; statuses now {counts}; history rows {history:,}")
    print(f"day-end for {N:,} performing loans: {day_end_s:.3f} s")
    print(f"one set-based UPDATE of the same {N:,} loan rows: {floor_s:.3f} s")
    print(f"ratio day-end / floor: {day_end_s / floor_s:.2f}")
    await engine.dispose()


if __name__ == "__main__":
    asyncio.run(main())
