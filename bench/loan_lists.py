"""Benchmark: ``GET /loans`` for a bank officer whose bank holds 100,000 loans (PostgreSQL).

The book: 100,000 loans of one bank to 1,000 borrowers (each loan pledging one of the borrower's
assets), 10% overdue, plus 20,000 loans of another bank the officer must never see. Timed through the
ASGI app like a client: the first page, a page deep in the cursor, and filtered pages
(``status=overdue``, ``borrower_org_id=…``, ``overdue=true``), p50/p95 over repeated requests.

    uv run python -m bench.loan_lists          # IPM_BENCH_PG_URL, IPM_BENCH_LOANS (default 100000)
"""

from __future__ import annotations

import asyncio
import os
import statistics
import time
from datetime import date
from typing import Any

import sqlalchemy as sa

URL = os.environ.get("IPM_BENCH_PG_URL", "postgresql+asyncpg://postgres@127.0.0.1/ipm_lists_bench")
N = int(os.environ.get("IPM_BENCH_LOANS", "100000"))
ROUNDS = int(os.environ.get("IPM_BENCH_ROUNDS", "50"))


def _id(prefix: str, n: int) -> str:
    return f"{prefix}_{n:012x}"


def book(bank_id: str, borrower_ids: list[str], n: int, *, start: int = 1, overdue_every: int = 10,
         ) -> dict[str, list[dict[str, Any]]]:
    """Rows for ``n`` loans of one bank spread over the borrowers (assets, applications, offers, loans),
    built from the models so every column has its default."""
    from finance.loans.models import Loan, LoanApplication, LoanOffer
    from market.assets.models import Asset

    rows: dict[str, list[dict[str, Any]]] = {"assets": [], "loan_applications": [], "loan_offers": [], "loans": []}
    for k in range(start, start + n):
        borrower = borrower_ids[k % len(borrower_ids)]
        asset = Asset(id=_id("ast", k), kind="invention_patent", number=f"2019{k:08d}.X", title=f"专利 {k}",
                      owner_org_id=borrower)
        app = LoanApplication(id=_id("lap", k), applicant_org_id=borrower, asset_ids=[asset.id],
                              amount=100_000_000, term_months=12, purpose="bench", repayment_method="equal_installment",
                              status="accepted", submitted_on=date(2026, 2, 20))
        offer = LoanOffer(id=_id("lof", k), application_id=app.id, bank_org_id=bank_id, amount=100_000_000,
                          annual_rate_bps=435, term_months=12, repayment_method="equal_installment",
                          expires_on=date(2026, 3, 30), status="accepted")
        late = k % overdue_every == 0
        loan = Loan(id=_id("loan", k), application_id=app.id, offer_id=offer.id, borrower_org_id=borrower,
                    bank_org_id=bank_id, asset_ids=[asset.id], principal=100_000_000,
                    outstanding_principal=100_000_000, annual_rate_bps=435, penalty_markup_bps=5000,
                    term_months=12, repayment_method="equal_installment",
                    status="overdue" if late else "active", classification="special_mention" if late else "normal",
                    days_past_due=15 if late else 0, next_due_on=date(2026, 4, 2), disbursed_on=date(2026, 3, 2))
        for table, obj in (("assets", asset), ("loan_applications", app), ("loan_offers", offer), ("loans", loan)):
            rows[table].append(obj.model_dump())
    return rows


async def insert_book(conn: Any, rows: dict[str, list[dict[str, Any]]], chunk: int = 5000) -> None:
    from kernel.db import metadata

    for table in ("assets", "loan_applications", "loan_offers", "loans"):
        data = rows[table]
        for i in range(0, len(data), chunk):
            await conn.execute(sa.insert(metadata.tables[table]), data[i:i + chunk])


async def _main() -> None:
    import httpx

    os.environ.setdefault("IPM_DATABASE_URL", URL)
    os.environ.setdefault("IPM_ENV", "test")
    os.environ.setdefault("IPM_CLOCK", "manual")
    os.environ.setdefault("IPM_CLOCK_START", "2026-03-20")
    import api.registry  # noqa: F401
    from accounts.models import Org, User
    from api.app import bootstrap, create_app
    from api.security import create_access_token
    from kernel.db import metadata
    from kernel.settings import get_settings

    app = create_app(get_settings())
    async with app.state.engine.begin() as conn:
        await conn.run_sync(metadata.drop_all)
        await conn.run_sync(metadata.create_all)
    await bootstrap(app)
    bank, rival = Org(name="晋商银行", kind="bank", credit_code="BENCHBANK000000001"), \
        Org(name="other bank", kind="bank", credit_code="BENCHBANK000000002")
    smes = [Org(name=f"企业 {i}", kind="sme", credit_code=f"BENCHSME{i:010d}") for i in range(1000)]
    officer = User(org_id=bank.id, email="officer@bench.cn", password_hash="x", role="member")
    t0 = time.perf_counter()
    async with app.state.engine.begin() as conn:
        await conn.execute(sa.insert(Org.__table__), [o.model_dump() for o in (bank, rival, *smes)])
        await conn.execute(sa.insert(User.__table__), [officer.model_dump()])
        ids = [s.id for s in smes]
        await insert_book(conn, book(bank.id, ids, N))
        await insert_book(conn, book(rival.id, ids, N // 5, start=N + 1))
        await conn.execute(sa.text("ANALYZE"))
    print(f"seeded {N} + {N // 5} loans in {time.perf_counter() - t0:.1f} s")
    headers = {"Authorization": f"Bearer {create_access_token(officer.id, bank.id, app.state.settings)}"}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://b/api/v1") as client:
        deep = (await client.get("/loans", params={"limit": 100}, headers=headers)).json()["next_cursor"]
        for _ in range(50):  # walk half-way down the book for a deep cursor
            deep = (await client.get("/loans", params={"limit": 100, "cursor": deep}, headers=headers)).json()[
                "next_cursor"]
        cases = {"first page (20)": {}, "page of 100": {"limit": 100}, "deep cursor (100)": {"limit": 100,
                 "cursor": deep}, "status=overdue": {"status": "overdue"}, "overdue=true (100)": {"overdue": "true",
                 "limit": 100}, "borrower_org_id": {"borrower_org_id": smes[7].id}}
        for name, params in cases.items():
            times = []
            for _ in range(ROUNDS):
                t = time.perf_counter()
                r = await client.get("/loans", params=params, headers=headers)
                times.append((time.perf_counter() - t) * 1000)
                assert r.status_code == 200, r.text
            times.sort()
            print(f"GET /loans {name:22s} p50 {statistics.median(times):6.1f} ms   "
                  f"p95 {times[int(len(times) * 0.95) - 1]:6.1f} ms")
    await app.state.engine.dispose()


if __name__ == "__main__":
    asyncio.run(_main())
