"""Pledge loans of the demo, one story per loan, each ending in the state it is there to show.

Every loan is applied for by an SME pledging its own assets, offered by a bank, accepted, secured (a
guarantor or insurer joins by invitation; the fund covers it under the programme), registered and paid out
through the gateway, then lives through the calendar: instalments paid on their due dates, or missed
until the day-end moves it to overdue, special mention, default.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from demo.world import WAN, World

BANK1, BANK2, BANK3 = "bank1@demo.ipm", "bank2@demo.ipm", "bank3@demo.ipm"
OFFICER, CHECKER = "bank1-staff@demo.ipm", "bank1-checker@demo.ipm"  # bank1's maker and checker
GUARANTOR, INSURER, FUND = "guarantor@demo.ipm", "insurer@demo.ipm", "fund@demo.ipm"
SME1, SME2, SME3, SME4 = "sme1@demo.ipm", "sme2@demo.ipm", "sme3@demo.ipm", "sme4@demo.ipm"
UNI1, UNI2 = "university1@demo.ipm", "university2@demo.ipm"
# Four-eyes at bank1: a disbursement above ¥1,000,000 waits for the checker.
BANK1_DISBURSEMENT_OVER = 100 * WAN


@dataclass
class Plan:
    key: str
    borrower: str
    bank: str
    assets: list[str]  # asset numbers (as stored, normalised)
    amount: int
    term_months: int = 12
    rate_bps: int = 385
    method: str = "equal_installment"
    purpose: str = "流动资金"
    guarantee_bps: int = 0  # the guarantor's share of a loss (0: no guarantee)
    insurance_bps: int = 0
    covered: bool = True
    valuation: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


def maker(bank: str) -> str:
    """Who at the bank does the day-to-day work: bank1's credit officer, the others' admin."""
    return OFFICER if bank == BANK1 else bank


async def application(w: World, plan: Plan) -> dict[str, Any]:
    body: dict[str, Any] = {"asset_ids": [w.made["assets"][n] for n in plan.assets], "amount": plan.amount,
                            "term_months": plan.term_months, "purpose": plan.purpose,
                            "repayment_method": plan.method}
    if plan.valuation:
        v = await w.post("/valuations", plan.borrower, {"asset_ids": body["asset_ids"], "scenario": "financing",
                                                        "inputs": {"rd_cost": plan.amount * 3 // 2}})
        await w.post(f"/valuations/{v['id']}/certify", "evaluator@demo.ipm", {"valid_days": 365})
        body["valuation_id"] = v["id"]
    app = await w.post("/loan-applications", plan.borrower, body)
    w.made[f"application:{plan.key}"] = app["id"]
    return app


async def offer(w: World, bank: str, app_id: str, plan: Plan, rate_bps: int | None = None,
                days: int = 30) -> dict[str, Any]:
    return await w.post(f"/loan-applications/{app_id}/offers", maker(bank), {
        "amount": plan.amount, "annual_rate_bps": rate_bps or plan.rate_bps, "term_months": plan.term_months,
        "repayment_method": plan.method, "requires_guarantee": plan.guarantee_bps > 0,
        "expires_on": str(w.today + timedelta(days=days))})


async def secured_loan(w: World, plan: Plan) -> dict[str, Any]:
    """Applied, offered, accepted, guaranteed/insured, covered and registered: ready to disburse."""
    app = await application(w, plan)
    o = await offer(w, plan.bank, app["id"], plan)
    loan = await w.post(f"/loan-offers/{o['id']}/accept", plan.borrower)
    lid = loan["id"]
    if plan.guarantee_bps:
        await w.post(f"/loans/{lid}/invitations", plan.bank, {"org_id": w.org(GUARANTOR), "kind": "guarantee"})
        await w.post(f"/loans/{lid}/guarantee", GUARANTOR, {"share_bps": plan.guarantee_bps, "fee_rate_bps": 150})
    if plan.insurance_bps:
        await w.post(f"/loans/{lid}/invitations", plan.bank, {"org_id": w.org(INSURER), "kind": "insurance"})
        await w.post(f"/loans/{lid}/insurance", INSURER,
                     {"share_bps": plan.insurance_bps, "premium": plan.amount * 80 // 10_000})
    if plan.covered:
        await w.post(f"/loans/{lid}/fund-cover", plan.bank, {"program_id": w.made["program"]})
    n = len([k for k in w.made if k.startswith("loan:")]) + 1
    await w.post(f"/loans/{lid}/pledge-registration", plan.bank,
                 {"registration_no": f"晋专质登字{w.today.year}第{n:04d}号", "registered_on": str(w.today)})
    w.made[f"loan:{plan.key}"] = lid
    return loan


async def disburse(w: World, plan: Plan, lid: str, approve: bool = True) -> None:
    """Pay out; at bank1 above its four-eyes threshold the officer's request waits for the checker."""
    r = await w.post(f"/loans/{lid}/disburse", maker(plan.bank), expect=(200, 202))
    if "approval_request" in r:
        w.made[f"approval:{plan.key}"] = r["approval_request"]["id"]
        if approve:
            await w.post(f"/approval-requests/{r['approval_request']['id']}/approve", CHECKER)


async def active_loan(w: World, plan: Plan) -> tuple[str, list[dict[str, Any]]]:
    loan = await secured_loan(w, plan)
    await disburse(w, plan, loan["id"])
    schedule = (await w.get(f"/loans/{loan['id']}/schedule", plan.borrower))["installments"]
    return loan["id"], schedule


async def pay_due(w: World, plan: Plan, lid: str, row: dict[str, Any]) -> dict[str, Any]:
    return await w.post(f"/loans/{lid}/repayments", plan.borrower, {"amount": row["payment"]})


async def pay_on_time(w: World, plan: Plan, lid: str, rows: list[dict[str, Any]],
                      until: int | None = None) -> AsyncIterator[date]:
    """Each instalment paid on its due date (up to day ``until`` of the world, when given)."""
    for row in rows:
        due = date.fromisoformat(row["due_on"])
        if until is not None and due > w.day(until):
            return
        yield due
        await pay_due(w, plan, lid, row)


async def defaulted(w: World, plan: Plan) -> AsyncIterator[date]:
    """Paid out and never repaid: default declared the day it reaches the programme's 90 days past due."""
    lid, rows = await active_loan(w, plan)
    yield date.fromisoformat(rows[0]["due_on"]) + timedelta(days=90)
    await w.post(f"/loans/{lid}/default", plan.bank)


async def compensated(w: World, plan: Plan) -> AsyncIterator[date]:
    async for when in defaulted(w, plan):
        yield when
    lid = w.made[f"loan:{plan.key}"]
    claim = await w.post(f"/loans/{lid}/compensation-claims", plan.bank)
    yield w.today + timedelta(days=5)  # the fund checks the file
    await w.post(f"/compensation-claims/{claim['id']}/approve", FUND)


# --- one story per loan state -----------------------------------------------------------------------------

REPAID = Plan("repaid", SME1, BANK1, ["202110345678.3", "48213567"], 200 * WAN, term_months=6, rate_bps=345,
              guarantee_bps=3000, purpose="采购高镍前驱体原料")
ACTIVE = Plan("active", SME1, BANK2, ["201910602214.9"], 300 * WAN, rate_bps=360, insurance_bps=1000,
              valuation=True, purpose="储能预警系统量产线建设")
OVERDUE = Plan("overdue", SME2, BANK1, ["201510234567.X"], 150 * WAN, rate_bps=395, purpose="支架电控系统订单备货")
RESTRUCTURED = Plan("restructured", SME4, BANK3, ["201610987654.7"], 100 * WAN, rate_bps=380,
                    purpose="黄芪收购季节性资金")
CLAIMED = Plan("claimed", SME3, BANK2, ["201810456789.X"], 400 * WAN, rate_bps=375, insurance_bps=1000,
               purpose="8英寸碳化硅长晶炉购置")
DISPOSING = Plan("disposing", SME2, BANK3, ["202010789012.2", "202121456789.3"], 200 * WAN, rate_bps=390,
                 guarantee_bps=3000, purpose="煤流量检测设备生产")
CLOSED = Plan("closed", SME3, BANK1, ["202210123456.1"], 120 * WAN, rate_bps=385, purpose="栅氧工艺中试线")
WRITTEN_OFF = Plan("written_off", SME4, BANK2, ["202011234567.7"], 80 * WAN, rate_bps=400,
                   purpose="连翘提取物中试")
OFFERED = Plan("offered", SME1, BANK1, ["202220987654.8", "2022SR0456789"], 120 * WAN, rate_bps=345,
               purpose="液冷板扩产")
APPLIED = Plan("applied", SME4, BANK3, ["12345678"], 50 * WAN, term_months=6, purpose="饮片仓储改造")
# bank1's defaults have paused its new fund covers (NPL above the programme's 8%): this one goes uncovered.
AWAITING_CHECKER = Plan("awaiting_checker", SME2, BANK1, ["202130567890.5", "31876540"], 180 * WAN, rate_bps=370,
                        guarantee_bps=3000, covered=False, purpose="本安型手持终端量产")


async def repaid(w: World) -> AsyncIterator[int | date]:
    """Repaid in full on time over six months; the pledge is released; interest subsidy claimed."""
    lid, rows = await active_loan(w, REPAID)
    async for due in pay_on_time(w, REPAID, lid, rows):
        yield due


async def active(w: World) -> AsyncIterator[int | date]:
    """A certified valuation behind it, insured, every instalment paid on its date."""
    yield 14
    lid, rows = await active_loan(w, ACTIVE)
    async for due in pay_on_time(w, ACTIVE, lid, rows, until=w.made["end"]):
        yield due


async def overdue(w: World) -> AsyncIterator[int | date]:
    """Two instalments paid, then none: fifty days past due at the end (special mention)."""
    yield 50
    lid, rows = await active_loan(w, OVERDUE)
    async for due in pay_on_time(w, OVERDUE, lid, rows[:2]):
        yield due


async def restructured(w: World) -> AsyncIterator[int | date]:
    """Misses its first instalment; 40 days past due the bank extends it (borrower in difficulty), the
    borrower accepts and pays the arrears and the new instalments: performing, substandard under observation."""
    lid, rows = await active_loan(w, RESTRUCTURED)
    yield date.fromisoformat(rows[0]["due_on"]) + timedelta(days=40)
    r = await w.post(f"/loans/{lid}/restructures", BANK3, {
        "kind": "extension", "term_months": 18, "effective_on": str(w.today),
        "reason": "中药材收购价格上涨导致现金流紧张，展期六个月"})
    await w.post(f"/loan-restructures/{r['id']}/accept", RESTRUCTURED.borrower)
    loan = await w.get(f"/loans/{lid}", BANK3)
    rows = (await w.get(f"/loans/{lid}/schedule", RESTRUCTURED.borrower))["installments"]
    arrears = sum(x["interest"] - x["paid_interest"] for x in rows if x["due_on"] <= str(w.today))
    await w.post(f"/loans/{lid}/repayments", RESTRUCTURED.borrower, {"amount": arrears + loan["penalty_outstanding"]})
    later = [x for x in rows if x["due_on"] > str(w.today)]
    async for due in pay_on_time(w, RESTRUCTURED, lid, later, until=w.made["end"]):
        yield due


async def claimed(w: World) -> AsyncIterator[int | date]:
    """Never repaid: defaulted, its compensation claim waits for the fund's decision."""
    yield 5
    async for when in defaulted(w, CLAIMED):
        yield when
    await w.post(f"/loans/{w.made['loan:claimed']}/compensation-claims", CLAIMED.bank)


async def disposing(w: World) -> AsyncIterator[int | date]:
    """Compensated; the bank auctions the pledged patents, the auction still running at the end."""
    yield 2
    async for when in compensated(w, DISPOSING):
        yield when
    lid = w.made["loan:disposing"]
    d = await w.post(f"/loans/{lid}/disposal", DISPOSING.bank,
                     {"ends_on": str(w.day(w.made["end"]) + timedelta(days=12))})
    yield w.today + timedelta(days=4)
    await w.post(f"/auctions/{d['auction_id']}/bids", SME4, {"amount": d["start_price"]})


async def closed(w: World) -> AsyncIterator[int | date]:
    """Compensated, auctioned, sold to a university, paid: proceeds shared back, the loan closed."""
    async for when in compensated(w, CLOSED):
        yield when
    lid = w.made["loan:closed"]
    d = await w.post(f"/loans/{lid}/disposal", CLOSED.bank, {"ends_on": str(w.today + timedelta(days=20))})
    yield w.today + timedelta(days=6)
    await w.post(f"/auctions/{d['auction_id']}/bids", SME1, {"amount": d["start_price"]})
    yield w.today + timedelta(days=5)
    await w.post(f"/auctions/{d['auction_id']}/bids", UNI2, {"amount": d["reserve_price"] + 10 * d["min_increment"]})
    yield date.fromisoformat(d["ends_on"]) + timedelta(days=1)
    lot = await w.get(f"/auctions/{d['auction_id']}", UNI2)
    await w.post(f"/deals/{lot['deal_id']}/pay", UNI2)


async def written_off(w: World) -> AsyncIterator[int | date]:
    """Compensated; the collateral finds no buyer at auction; the bank writes it off."""
    yield 8
    async for when in compensated(w, WRITTEN_OFF):
        yield when
    lid = w.made["loan:written_off"]
    d = await w.post(f"/loans/{lid}/disposal", WRITTEN_OFF.bank, {"ends_on": str(w.today + timedelta(days=15))})
    yield date.fromisoformat(d["ends_on"]) + timedelta(days=2)
    await w.post(f"/loans/{lid}/write-off", WRITTEN_OFF.bank)


async def awaiting_checker(w: World) -> AsyncIterator[int | date]:
    """Secured at bank1; its officer's disbursement of ¥1.8m waits for the checker (four-eyes)."""
    yield w.made["end"] - 12
    loan = await secured_loan(w, AWAITING_CHECKER)
    yield w.made["end"] - 2
    await disburse(w, AWAITING_CHECKER, loan["id"], approve=False)


async def offered(w: World) -> AsyncIterator[int | date]:
    """Two banks compete: offers waiting for the SME's choice."""
    yield w.made["end"] - 6
    app = await application(w, OFFERED)
    await offer(w, BANK1, app["id"], OFFERED, rate_bps=345)
    yield w.made["end"] - 3
    await offer(w, BANK3, app["id"], OFFERED, rate_bps=330, days=20)


async def applied(w: World) -> AsyncIterator[int | date]:
    """A fresh application that no bank has answered yet (in every bank's inbox)."""
    yield w.made["end"] - 1
    await application(w, APPLIED)


LOAN_STORIES = [repaid, active, overdue, restructured, claimed, disposing, closed, written_off, awaiting_checker,
                offered, applied]
