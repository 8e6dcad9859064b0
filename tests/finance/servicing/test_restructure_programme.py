"""Restructuring under a fund programme's rules: the new rate within the programme's maximum (409
limit_exceeded above it), and a programme whose restructured loans leave cover; the events feed shows
loan.restructured and the pledge-consent events to the loan's parties and the fund."""

from __future__ import annotations

from datetime import date

from tests.finance.fund import helpers as fh
from tests.finance.loans import loan_flow as lf
from tests.helpers import assert_problem


async def _covered_loan(api, client, **rules):
    c = await lf.cast(api)
    fund = await api.org("fund")
    program = await fh.program(api, fund, **rules)
    await fh.agreement(api, fund, program["id"], c.bank)
    loan = await lf.accepted_loan(api, c)
    r = await client.post(f"/loans/{loan['id']}/fund-cover", json={"program_id": program["id"]},
                          headers=c.bank.headers)
    assert r.status_code == 201, r.text
    await lf.register(api, c, loan["id"])
    r = await client.post(f"/loans/{loan['id']}/disburse", headers=c.bank.headers)
    assert r.status_code == 200, r.text
    return c, fund, program, r.json()


async def _exposure(client, fund, program_id):
    r = await client.get(f"/fund/programs/{program_id}/exposure", headers=fund.headers)
    assert r.status_code == 200, r.text
    return r.json()["by_bank"][0]["covered_outstanding"]


async def test_rate_within_the_programme_and_restructured_loans_leave_cover(api, client):
    c, fund, program, loan = await _covered_loan(api, client, restructured_leave_cover=True, max_annual_rate_bps=500)
    assert program["restructured_leave_cover"] is True and program["max_annual_rate_bps"] == 500
    assert await _exposure(client, fund, program["id"]) == loan["principal"]
    await lf.advance_to(api, date(2026, 3, 20))
    url = f"/loans/{loan['id']}/restructures"
    body = {"kind": "reschedule", "term_months": 18, "effective_on": "2026-03-20", "reason": "调整还款计划"}
    problem = assert_problem(await client.post(url, json={**body, "annual_rate_bps": 600}, headers=c.bank.headers),
                             409, "limit_exceeded")
    assert problem["rule"] == "max_annual_rate_bps"
    r = await client.post(url, json={**body, "annual_rate_bps": 480}, headers=c.bank.headers)
    assert r.status_code == 201, r.text
    r = await client.post(f"/loan-restructures/{r.json()['id']}/accept", headers=c.sme.headers)
    assert r.status_code == 200, r.text
    assert await _exposure(client, fund, program["id"]) == 0
    events = (await client.get("/events", params={"limit": 100}, headers=fund.headers)).json()["data"]
    types = [e["type"] for e in events]
    assert "loan.restructured" in types and "loan.left_cover" in types


async def test_cover_continues_by_default_and_the_fund_hears_of_it(api, client):
    c, fund, program, loan = await _covered_loan(api, client)
    assert program["restructured_leave_cover"] is False
    await lf.advance_to(api, date(2026, 3, 20))
    r = await client.post(f"/loans/{loan['id']}/restructures", json={
        "kind": "extension", "term_months": 24, "annual_rate_bps": 900, "effective_on": "2026-03-20",
        "reason": "展期"}, headers=c.bank.headers)
    assert r.status_code == 201, r.text  # no maximum in these rules
    r = await client.post(f"/loan-restructures/{r.json()['id']}/accept", headers=c.sme.headers)
    assert r.status_code == 200, r.text
    assert await _exposure(client, fund, program["id"]) == loan["principal"]
    events = (await client.get("/events", params={"limit": 100}, headers=fund.headers)).json()["data"]
    restructured = [e for e in events if e["type"] == "loan.restructured"]
    assert {e["object_type"] for e in restructured} >= {"loan_restructure"}
    assert "loan.left_cover" not in {e["type"] for e in events}
    # Consent asked and decided: borrower, bank and the fund see both events; another bank neither.
    r = await client.post("/pledge-consents", json={"loan_id": loan["id"], "action": "license", "proceeds": "escrow"},
                          headers=c.sme.headers)
    assert r.status_code == 201, r.text
    r = await client.post(f"/pledge-consents/{r.json()['id']}/reject", headers=c.bank.headers)
    assert r.status_code == 200, r.text
    for party in (c.sme, c.bank, fund):
        types = {e["type"] for e in (await client.get("/events", params={"limit": 100}, headers=party.headers)).json()["data"]}
        assert {"pledge_consent.requested", "pledge_consent.decided"} <= types, party
    rival = await api.org("bank")
    types = {e["type"] for e in (await client.get("/events", params={"limit": 100}, headers=rival.headers)).json()["data"]}
    assert not types & {"pledge_consent.requested", "pledge_consent.decided", "loan.restructured"}
