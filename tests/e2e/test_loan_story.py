"""The pledge-loan story through HTTP only: one loan repaid on time, one that defaults and is compensated."""

from datetime import date

from tests.finance.loans import loan_flow as lf
from tests.helpers import assert_problem


async def test_story_repaid_on_time_pledge_released(api, client):
    c = await lf.cast(api)
    application = await lf.apply(api, c, repayment_method="equal_principal", term_months=6)
    rival = await api.org("bank")
    o1 = await lf.offer(api, c.bank, application["id"], annual_rate_bps=420, term_months=6,
                        repayment_method="equal_principal")
    await lf.offer(api, rival, application["id"], annual_rate_bps=450, term_months=6,
                   repayment_method="equal_principal")
    r = await client.post(f"/loan-offers/{o1['id']}/accept", headers=c.sme.headers)
    loan = r.json()
    await lf.register(api, c, loan["id"])
    for a in c.assets:
        got = (await client.get(f"/assets/{a['id']}", headers=c.sme.headers)).json()
        assert got["encumbrances"][0]["kind"] == "pledge"
    r = await client.post(f"/loans/{loan['id']}/disburse", headers=c.bank.headers)
    assert r.json()["status"] == "active"
    rows = await lf.schedule(api, c.sme, loan["id"])
    assert len(rows) == 6 and sum(x["principal"] for x in rows) == loan["principal"]
    total = 0
    for row in rows:
        await lf.advance_to(api, date.fromisoformat(row["due_on"]))
        out = await lf.repay(api, c.sme, loan["id"], row["payment"])
        total += row["payment"]
        assert out["allocation"]["penalty"] == 0
    assert out["loan"]["status"] == "repaid" and out["loan"]["classification"] == "normal"
    assert total == loan["principal"] + sum(x["interest"] for x in rows)
    for a in c.assets:
        got = (await client.get(f"/assets/{a['id']}", headers=c.sme.headers)).json()
        assert got["encumbrances"] == []


async def _program(api, client, bank, **rules):
    fund = await api.org("fund")
    body = {"name": "Shanxi IP pledge risk fund", "capital": 50_000_000 * lf.YUAN,
            "shares_bps": {"fund": 5400, "guarantor": 0, "insurer": 1600}, "leverage_max": 10,
            "npl_pause_bps": 300, "default_days": 90, **rules}
    r = await client.post("/fund/programs", json=body, headers=fund.headers)
    assert r.status_code == 201, r.text
    program = r.json()
    r = await client.post(f"/fund/programs/{program['id']}/agreements",
                          json={"bank_org_id": bank.org_id, "deposit": 1_000_000 * lf.YUAN}, headers=fund.headers)
    assert r.status_code == 201, r.text
    return fund, program


async def test_story_default_and_compensation(api, client):
    c = await lf.cast(api)
    fund, program = await _program(api, client, c.bank)
    loan = await lf.accepted_loan(api, c)
    insurer = await api.org("insurer")
    r = await client.post(f"/loans/{loan['id']}/insurance", json={"share_bps": 1600, "premium": 10_000 * lf.YUAN},
                          headers=insurer.headers)
    assert r.status_code == 201, r.text
    r = await client.post(f"/loans/{loan['id']}/fund-cover", json={"program_id": program["id"]},
                          headers=c.bank.headers)
    assert r.status_code == 201, r.text
    assert r.json()["fund_cover"]["program_id"] == program["id"]
    await lf.register(api, c, loan["id"])
    r = await client.post(f"/loans/{loan['id']}/disburse", headers=c.bank.headers)
    assert r.json()["status"] == "active"
    # Nothing is ever paid. Default is refused before 90 days past due.
    await lf.advance_to(api, date(2026, 6, 1))
    got = await lf.loan(api, c.bank, loan["id"])
    assert got["status"] == "overdue" and got["days_past_due"] == 60
    assert_problem(await client.post(f"/loans/{loan['id']}/default", headers=c.bank.headers), 409, "invalid_state")
    assert_problem(await client.post(f"/loans/{loan['id']}/compensation-claims", headers=c.bank.headers),
                   409, "invalid_state")
    await lf.advance_to(api, date(2026, 7, 1))
    got = await lf.loan(api, fund, loan["id"])
    assert got["days_past_due"] == 90 and got["classification"] == "special_mention"
    rival = await api.org("bank")
    assert_problem(await client.post(f"/loans/{loan['id']}/default", headers=rival.headers), 404, "not_found")
    r = await client.post(f"/loans/{loan['id']}/default", headers=c.bank.headers)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "defaulted" and r.json()["loss_at_default"] == loan["principal"]
    r = await client.post(f"/loans/{loan['id']}/compensation-claims", headers=c.bank.headers)
    assert r.status_code == 201, r.text
    claim = r.json()
    assert claim["loss"] == loan["principal"]
    shares = {s["party"]: s["amount"] for s in claim["shares"]}
    assert sum(shares.values()) == claim["loss"]
    assert shares["fund"] == loan["principal"] * 5400 // 10000 and shares["insurer"] == loan["principal"] * 1600 // 10000
    assert_problem(await client.post(f"/loans/{loan['id']}/compensation-claims", headers=c.bank.headers),
                   409, "invalid_state")
    r = await client.post(f"/compensation-claims/{claim['id']}/approve", headers=fund.headers)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "paid"
    got = await lf.loan(api, c.bank, loan["id"])
    assert got["status"] == "compensated"
    # The pledge still holds until the collateral is disposed of.
    asset = (await client.get(f"/assets/{c.assets[0]['id']}", headers=c.sme.headers)).json()
    assert [e["kind"] for e in asset["encumbrances"]] == ["pledge"]
