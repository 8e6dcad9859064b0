"""A bank's loan book: held for the admin's approval, then loans with their schedule and paid instalments;
planted errors named in the error file; a second import is all duplicates."""

from __future__ import annotations

import csv
import io

from finance.loans.models import Loan, LoanInstallment, LoanRepayment
from kernel import outbox
from kernel.imports import ImportJob
from market.assets.models import Encumbrance
from tests.helpers import count
from tests.imports.helpers import to_csv

HEADERS = ["合同编号", "借款人统一社会信用代码", "质押物编号", "贷款金额（元）", "年利率", "期限（月）", "还款方式",
           "放款日", "质押登记号", "质押登记日", "已还期数"]


async def _org_code(api, party) -> str:
    r = await api.client.get("/me", headers=party.headers)
    return r.json()["org"]["credit_code"]


async def test_a_banks_loan_book_is_imported_once_approved(app, api):
    bank, sme = await api.org("bank"), await api.org("sme")
    a1, a2 = await api.asset(sme), await api.asset(sme)
    code = await _org_code(api, sme)
    rows = [
        ["JD-2025-001", code, f"ZL{a1['number']}", "1,000,000.00", "4.35%", "12", "等额本息", "2025-09-01",
         "Y2025140000001", "2025-08-28", "5"],
        ["JD-2025-002", code, a2["number"], "500000", "3.9", "24", "先息后本", "2025年12月1日", "", "", "0"],
        ["JD-2025-003", "91140100MA0XXXXXXX", a1["number"], "100000", "4%", "12", "等额本息", "2025-09-01", "",
         "", "0"],  # no such borrower
        ["JD-2025-004", code, "ZL201710601862.3", "100000", "4%", "12", "等额本息", "2025-09-01", "", "", "0"],
        ["JD-2025-005", code, a1["number"], "abc", "4%", "12", "等额本息", "2025-09-01", "", "", "0"],
        ["JD-2025-006", code, a1["number"], "100000", "4%", "12", "每年还一次", "2025-09-01", "", "", "0"],
        ["JD-2025-007", code, a1["number"], "100000", "4%", "12", "等额本息", "2027-01-01", "", "", "0"],
    ]
    data = to_csv(HEADERS, rows)
    assert (await api.client.post("/imports", files={"file": ("book.csv", data)}, data={"kind": "loans"},
                                  headers=sme.headers)).status_code == 403
    r = await api.client.post("/imports", files={"file": ("book.csv", data)}, data={"kind": "loans"},
                              headers=bank.headers)
    assert r.status_code == 202, r.text
    job = r.json()
    assert job["status"] == "awaiting_approval"
    await outbox.drain(app.state.session_factory)
    assert await count(app, Loan) == 0  # nothing runs before the admin approves
    assert (await api.client.post(f"/imports/{job['id']}/approve", headers=bank.headers)).status_code == 403
    admin = await api.admin()
    assert (await api.client.post(f"/imports/{job['id']}/approve", headers=admin.headers)).status_code == 200
    await outbox.drain(app.state.session_factory)
    job = (await api.client.get(f"/imports/{job['id']}", headers=bank.headers)).json()
    assert (job["status"], job["imported"], job["rejected"], job["duplicates"]) == ("done", 2, 5, 0), job
    # The first loan: pledged, active, 12 instalments of which 5 paid, outstanding reduced by their principal.
    loans = (await api.client.get("/loans", headers=bank.headers)).json()["data"]
    first = next(x for x in loans if x["principal"] == 100_000_000)
    detail = (await api.client.get(f"/loans/{first['id']}", headers=sme.headers)).json()
    assert detail["status"] == "active" and detail["disbursed_on"] == "2025-09-01"
    async with app.state.session_factory() as s:
        stored = await s.get(Loan, first["id"])
        assert stored is not None and stored.pledge_registration_no == "Y2025140000001"
    async with app.state.engine.connect() as conn:
        import sqlalchemy as sa

        paid = (await conn.execute(sa.select(sa.func.sum(LoanInstallment.principal)).where(
            LoanInstallment.loan_id == first["id"], LoanInstallment.status == "paid"))).scalar_one()
    assert await count(app, LoanInstallment, LoanInstallment.loan_id == first["id"]) == 12
    assert await count(app, LoanRepayment, LoanRepayment.loan_id == first["id"]) == 5
    assert detail["outstanding_principal"] == 100_000_000 - paid
    assert await count(app, Encumbrance, Encumbrance.ref_id == first["id"]) == 1
    # The errors file names each refused row and its column, in Chinese too.
    r = await api.client.get(f"/imports/{job['id']}/errors", headers={**bank.headers, "Accept-Language": "zh-CN"})
    lines = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))[1:]
    by_row = {int(line[0]): line for line in lines}
    assert by_row[4][1] == "借款人统一社会信用代码" and "平台上没有" in by_row[4][3]
    assert by_row[5][1] == "质押物编号" and "未登记在借款人名下" in by_row[5][3]
    assert by_row[6][1] == "贷款金额（元）"
    assert by_row[7][1] == "还款方式"
    assert by_row[8][1] == "放款日" and "晚于业务日期" in by_row[8][3]
    # The same file again: the imported contracts are duplicates, nothing doubles.
    again = (await api.client.post("/imports", files={"file": ("book.csv", data)}, data={"kind": "loans"},
                                   headers=bank.headers)).json()
    await api.client.post(f"/imports/{again['id']}/approve", headers=admin.headers)
    await outbox.drain(app.state.session_factory)
    again = (await api.client.get(f"/imports/{again['id']}", headers=bank.headers)).json()
    assert (again["imported"], again["duplicates"]) == (0, 2)
    assert await count(app, Loan) == 2


async def test_a_refused_loan_import_never_runs(app, api):
    bank = await api.org("bank")
    data = to_csv(HEADERS, [["X-1", "91140100MA0XXXXXXX", "1", "1", "1%", "1", "等额本息", "2025-01-01", "", "", "0"]])
    job = (await api.client.post("/imports", files={"file": ("b.csv", data)}, data={"kind": "loans"},
                                 headers=bank.headers)).json()
    admin = await api.admin()
    r = await api.client.post(f"/imports/{job['id']}/refuse", headers=admin.headers)
    assert r.status_code == 200 and r.json()["status"] == "failed"
    await outbox.drain(app.state.session_factory)
    assert await count(app, ImportJob, ImportJob.status == "failed") == 1
    assert await count(app, Loan) == 0
