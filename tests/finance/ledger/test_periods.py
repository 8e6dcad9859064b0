"""Closed periods through HTTP: a closed month refuses entries dated in it, its trial balance never changes
(even after later reversals), months close in order and only once over, four-eyes on the close, and each
fund's books close on their own."""

from __future__ import annotations

from datetime import date

from sqlmodel import select

from finance.ledger.core import Chart
from kernel.audit import AuditEvent
from tests.finance.fund.helpers import program
from tests.helpers import assert_problem

TODAY = date(2026, 3, 2)


def _injection(program_id: str, amount: int, on: str) -> dict:
    return {"lines": [{"account": Chart.cash(program_id), "side": "debit", "amount": amount},
                      {"account": Chart.capital(program_id), "side": "credit", "amount": amount}],
            "description": "capital paid in late", "effective_date": on}


async def _post(client, fund, body, key):
    return await client.post("/fund/ledger/entries", json=body, headers={**fund.headers, "Idempotency-Key": key})


async def test_a_closed_month_refuses_entries_and_keeps_its_trial_balance(api, client, app):
    fund = await api.org("fund")
    p = await program(api, fund, capital=1_000_000)  # dated today, 2026-03-02
    feb = await _post(client, fund, _injection(p["id"], 5_000, "2026-02-10"), "feb-1")
    assert feb.status_code == 201, feb.text
    jan = await _post(client, fund, _injection(p["id"], 700, "2026-01-31"), "jan-1")
    assert jan.status_code == 201, jan.text

    assert_problem(await client.post("/fund/ledger/periods/2026-03/close", headers=fund.headers), 409, "invalid_state")
    assert_problem(await client.post("/fund/ledger/periods/2026-13/close", headers=fund.headers), 422,
                   "validation_error")
    r = await client.post("/fund/ledger/periods/2026-02/close", headers=fund.headers)
    assert r.status_code == 201, r.text
    period = r.json()
    assert period["month"] == "2026-02" and period["status"] == "closed"
    rows = {x["code"]: x for x in period["trial_balance"]["accounts"]}
    cash = rows[Chart.cash(p["id"])]
    assert (cash["opening"], cash["debits"], cash["credits"], cash["closing"]) == (700, 5_000, 0, 5_700)
    capital = rows[Chart.capital(p["id"])]
    assert (capital["opening"], capital["debits"], capital["credits"], capital["closing"]) == (700, 0, 5_000, 5_700)
    assert period["trial_balance"]["total_debits"] == period["trial_balance"]["total_credits"] == 5_000
    assert period["trial_balance"]["balanced"] is True
    assert_problem(await client.post("/fund/ledger/periods/2026-02/close", headers=fund.headers), 409, "invalid_state")

    # Nothing may be dated in February, nor before it; today is fine.
    for on in ("2026-02-27", "2026-01-05"):
        body = assert_problem(await _post(client, fund, _injection(p["id"], 100, on), f"late-{on}"), 409,
                              "invalid_state")
        assert body["closed_through"] == "2026-02"
    # A correction is a reversal in the open period that names the original.
    rev = await client.post(f"/fund/ledger/entries/{feb.json()['id']}/reverse", json={"reason": "paid twice"},
                            headers={**fund.headers, "Idempotency-Key": "rev-1"})
    assert rev.status_code == 201, rev.text
    assert rev.json()["effective_date"] == str(TODAY) and rev.json()["reverses_entry_id"] == feb.json()["id"]
    assert (await _post(client, fund, _injection(p["id"], 100, "2026-03-01"), "march")).status_code == 201

    listed = (await client.get("/fund/ledger/periods", headers=fund.headers)).json()
    assert listed == [period]  # frozen: the reversal and March's entries changed nothing
    regulator = await api.org("regulator", role="member")
    assert (await client.get("/fund/ledger/periods", headers=regulator.headers)).json() == [period]
    async with app.state.session_factory() as s:
        events = (await s.exec(select(AuditEvent).where(AuditEvent.action == "ledger_period.closed"))).all()
        assert [e.object_id for e in events] == [period["id"]]


async def test_each_fund_closes_its_own_books_and_only_its_admin(api, client):
    one, other = await api.org("fund"), await api.org("fund")
    p1, p2 = await program(api, one, capital=1_000), await program(api, other, capital=1_000)
    assert (await client.post("/fund/ledger/periods/2026-02/close", headers=one.headers)).status_code == 201
    assert (await _post(client, other, _injection(p2["id"], 100, "2026-02-10"), "x")).status_code == 201
    assert_problem(await _post(client, one, _injection(p1["id"], 100, "2026-02-10"), "y"), 409, "invalid_state")
    assert (await client.get("/fund/ledger/periods", headers=other.headers)).json() == []
    member = await api.user(other.org_id, "fund", role="member")
    assert_problem(await client.post("/fund/ledger/periods/2026-02/close", headers=member.headers), 403, "forbidden")
    bank = await api.org("bank")
    assert_problem(await client.post("/fund/ledger/periods/2026-02/close", headers=bank.headers), 403, "forbidden")
    # Months close in order: after February comes March, never April first.
    await api.advance(61)  # 2026-05-02
    assert_problem(await client.post("/fund/ledger/periods/2026-04/close", headers=one.headers), 409, "invalid_state")
    assert (await client.post("/fund/ledger/periods/2026-03/close", headers=one.headers)).status_code == 201


async def test_closing_under_four_eyes(api, client):
    fund = await api.org("fund")
    checker = await api.user(fund.org_id, "fund", role="checker")
    p = await program(api, fund, capital=1_000)
    await client.patch(f"/orgs/{fund.org_id}", json={"approval_policy": {"period_close": True}}, headers=fund.headers)
    r = await client.post("/fund/ledger/periods/2026-02/close", headers=fund.headers)
    assert r.status_code == 202, r.text
    req = r.json()["approval_request"]
    assert req["action"] == "period_close" and req["object_id"] == "2026-02"
    assert (await client.get("/fund/ledger/periods", headers=fund.headers)).json() == []
    assert_problem(await client.post(f"/approval-requests/{req['id']}/approve", headers=fund.headers), 403,
                   "forbidden")  # never one's own
    r = await client.post(f"/approval-requests/{req['id']}/reject", headers=checker.headers)
    assert r.status_code == 200 and r.json()["status"] == "rejected"
    assert (await client.get("/fund/ledger/periods", headers=fund.headers)).json() == []
    # February stays open: an entry may still be dated in it.
    assert (await _post(client, fund, _injection(p["id"], 100, "2026-02-10"), "feb")).status_code == 201
    r = await client.post("/fund/ledger/periods/2026-02/close", headers=fund.headers)
    req = r.json()["approval_request"]
    r = await client.post(f"/approval-requests/{req['id']}/approve", headers=checker.headers)
    assert r.status_code == 201, r.text
    assert r.json()["month"] == "2026-02" and r.json()["closed_by_user_id"] == fund.user_id
    assert [x["month"] for x in (await client.get("/fund/ledger/periods", headers=fund.headers)).json()] == ["2026-02"]
    assert_problem(await _post(client, fund, _injection(p["id"], 100, "2026-02-11"), "feb-2"), 409, "invalid_state")


async def test_the_day_end_closes_the_previous_month_when_the_programme_says_so(api, client):
    fund, manual = await api.org("fund"), await api.org("fund")
    p = await program(api, fund, capital=1_000)
    await program(api, manual, capital=1_000)
    r = await client.patch(f"/fund/programs/{p['id']}/controls", json={"auto_close_periods": True},
                           headers=fund.headers)
    assert r.status_code == 200 and r.json()["auto_close_periods"] is True
    await api.advance(1)  # the day-end of 2026-03-02 closes February
    assert [x["month"] for x in (await client.get("/fund/ledger/periods", headers=fund.headers)).json()] == ["2026-02"]
    await api.advance(30)  # … and that of 2026-04-01 closes March, after March's month-end provisions
    periods = (await client.get("/fund/ledger/periods", headers=fund.headers)).json()
    assert [x["month"] for x in periods] == ["2026-02", "2026-03"]
    assert periods[1]["closed_by_user_id"] == "system"
    cash = {x["code"]: x for x in periods[1]["trial_balance"]["accounts"]}[Chart.cash(p["id"])]
    assert (cash["opening"], cash["debits"], cash["closing"]) == (0, 1_000, 1_000)
    assert (await client.get("/fund/ledger/periods", headers=manual.headers)).json() == []
