"""Servicing stories end to end through HTTP: a pledged patent licensed with the bank's consent, its fee
going to early repayment of the loan; a loan restructured and cured; a margin call (a patent lapsed for
unpaid fees) cured by a second patent."""

from __future__ import annotations

from datetime import date

from tests.finance.fund import helpers as fh
from tests.finance.loans import loan_flow as lf
from tests.finance.servicing import margin_flow as mf

Y = lf.YUAN


async def test_licensed_pledged_patent_proceeds_prepay_the_loan(api, client):
    c = await lf.cast(api)
    loan = await lf.active_loan(api, c)
    before = await lf.schedule(api, c.sme, loan["id"])
    a = c.assets[0]["id"]
    await lf.advance_to(api, date(2026, 3, 17))
    # The borrower asks; the bank consents, proceeds to early repayment.
    consent = (await client.post("/pledge-consents", json={
        "loan_id": loan["id"], "action": "license", "proceeds": "prepay", "asset_ids": [a],
        "note": "非独占许可给下游厂商"}, headers=c.sme.headers)).json()
    r = await client.post(f"/pledge-consents/{consent['id']}/approve", headers=c.bank.headers)
    assert r.json()["status"] == "approved"
    # A non-exclusive licence listing, an offer, acceptance and payment.
    lst = (await client.post("/listings", json={"asset_ids": [a], "mode": "nonexclusive_license",
                                                "price": 200_000 * Y}, headers=c.sme.headers)).json()
    licensee = await api.org("sme", name="下游电池厂")
    offer = (await client.post(f"/listings/{lst['id']}/offers", json={"amount": 200_000 * Y},
                               headers=licensee.headers)).json()
    deal = (await client.post(f"/offers/{offer['id']}/accept", headers=c.sme.headers)).json()["deal"]
    assert deal["proceeds_to"] == f"pledge:{consent['id']}"
    paid = (await client.post(f"/deals/{deal['id']}/pay", headers=licensee.headers)).json()
    assert paid["deal"]["status"] == "recorded" and paid["deal"]["license_id"]
    # The licence fee went to the bank and was applied to the loan as a prepayment on 2026-03-17
    # (servicing_vectors.json prepayment_reduce_payment: the same 200,000.00 on the same day).
    assert (paid["payment"]["payee_org_id"], paid["payment"]["escrow_state"]) == (c.bank.org_id, "released")
    got = await lf.loan(api, c.bank, loan["id"])
    assert got["outstanding_principal"] == 801_812_50
    rows = await lf.schedule(api, c.sme, loan["id"])
    assert rows[0]["status"] == "paid" and rows[0]["interest"] == 1812_50
    assert rows[1]["carried_interest"] == 1550_17 and rows[1]["payment"] == 76_037_18
    assert [x["payment"] for x in rows[2:11]] == [74_487_01] * 9 and rows[11]["payment"] == 74_486_99
    assert sum(x["principal"] for x in rows) == loan["principal"] and len(rows) == len(before)
    lic = (await client.get(f"/licenses/{paid['deal']['license_id']}", headers=licensee.headers)).json()
    assert lic["kind"] == "nonexclusive" and lic["status"] == "active"
    # The asset stays pledged: the loan still stands.
    asset = (await client.get(f"/assets/{a}", headers=c.sme.headers)).json()
    assert [e["kind"] for e in asset["encumbrances"]] == ["pledge"]
    # The borrower pays the rest off on the next due date and the pledge is released.
    await lf.advance_to(api, date(2026, 4, 2))
    quote = (await client.get(f"/loans/{loan['id']}/payoff", headers=c.sme.headers)).json()
    assert quote["principal"] == 801_812_50 and quote["interest"] == 1550_17
    out = await lf.repay(api, c.sme, loan["id"], quote["total"])
    assert out["loan"]["status"] == "repaid"
    assert (await client.get(f"/assets/{a}", headers=c.sme.headers)).json()["encumbrances"] == []


async def test_loan_in_difficulty_restructured_cured_and_upgraded_after_observation(api, client):
    c = await lf.cast(api)
    loan = await lf.active_loan(api, c, term_months=6)
    first = (await lf.schedule(api, c.sme, loan["id"]))[0]
    # Instalment 1 (due 2026-04-02) is not paid: 40 days past due on 2026-05-12.
    await lf.advance_to(api, date(2026, 5, 12))
    got = await lf.loan(api, c.bank, loan["id"])
    assert (got["status"], got["days_past_due"], got["classification"]) == ("overdue", 40, "special_mention")
    r = await client.post(f"/loans/{loan['id']}/restructures", json={
        "kind": "extension", "term_months": 12, "effective_on": "2026-05-12",
        "reason": "原材料涨价导致现金流紧张 borrower in difficulty"}, headers=c.bank.headers)
    assert r.status_code == 201, r.text
    assert r.json()["borrower_in_difficulty"] is True and r.json()["classification_floor"] == "substandard"
    r = await client.post(f"/loan-restructures/{r.json()['id']}/accept", headers=c.sme.headers)
    assert r.status_code == 200, r.text
    got = await lf.loan(api, c.bank, loan["id"])
    # Restructured because of difficulty: at least substandard (non-performing) for the observation period.
    assert got["classification"] == "substandard" and got["maturity_on"] == "2027-05-12"
    rows = await lf.schedule(api, c.sme, loan["id"])
    # The overdue instalment keeps its interest (and penalty) due; its principal moved into the new schedule.
    assert rows[0]["principal"] == 0 and rows[0]["interest"] == first["interest"]
    assert sum(x["principal"] for x in rows) == loan["principal"]
    # Paying the arrears (interest and penalty of what fell due) cures the loan, but the floor holds.
    arrears = sum(x["interest"] - x["paid_interest"] for x in rows if x["due_on"] <= "2026-05-12")
    arrears += got["penalty_outstanding"]
    out = await lf.repay(api, c.sme, loan["id"], arrears)
    assert out["allocation"]["principal"] == 0
    assert out["loan"]["status"] == "active" and out["loan"]["days_past_due"] == 0
    assert out["loan"]["classification"] == "substandard"
    # The new instalments paid on their due dates: performing, still substandard under observation
    # (the upgrade after the period is tests/finance/servicing/test_restructure.py).
    for row in [x for x in rows if x["n"] > 2][:2]:
        await lf.advance_to(api, date.fromisoformat(row["due_on"]))
        out = await lf.repay(api, c.sme, loan["id"], row["payment"])
        assert out["loan"]["days_past_due"] == 0 and out["loan"]["classification"] == "substandard"
    assert out["loan"]["status"] == "active"


async def test_patent_lapses_margin_call_cured_by_a_second_patent(api, client):
    c = await lf.cast(api)
    # The first patent's annual fee was due 2025-10-15 and is never paid: it lapses after 2026-04-15.
    c.assets[0] = await api.asset(c.sme, fees_paid_until="2025-10-15")
    fund = await api.org("fund")
    program = await fh.program(api, fund)
    await fh.agreement(api, fund, program["id"], c.bank)
    valuation = await mf.certified(api, c.sme, [a["id"] for a in c.assets])
    amount = valuation["borrowing_base"]
    application = await lf.apply(api, c, valuation_id=valuation["id"], amount=amount)
    o = await lf.offer(api, c.bank, application["id"], amount=amount)
    loan = (await client.post(f"/loan-offers/{o['id']}/accept", headers=c.sme.headers)).json()
    r = await client.post(f"/loans/{loan['id']}/fund-cover", json={"program_id": program["id"]}, headers=c.bank.headers)
    assert r.status_code == 201, r.text
    await lf.register(api, c, loan["id"])
    assert (await client.post(f"/loans/{loan['id']}/disburse", headers=c.bank.headers)).status_code == 200
    first = (await lf.schedule(api, c.sme, loan["id"]))[0]
    await lf.advance_to(api, date.fromisoformat(first["due_on"]))
    await lf.repay(api, c.sme, loan["id"], first["payment"])
    await lf.advance_to(api, date(2026, 4, 16))
    assert (await client.get(f"/assets/{c.assets[0]['id']}", headers=c.sme.headers)).json()["status"] == "valid"
    await api.advance(1)  # the day-end of 2026-04-16: fees more than 6 months overdue, the patent lapses
    lapsed = c.assets[0]["id"]
    assert (await client.get(f"/assets/{lapsed}", headers=c.sme.headers)).json()["status"] == "lapsed"
    [call] = (await client.get(f"/loans/{loan['id']}/margin-calls", headers=fund.headers)).json()["data"]
    outstanding = amount - first["principal"]
    kept = next(p["borrowing_base"] for p in valuation["per_asset"] if p["asset_id"] != lapsed)
    assert (call["trigger"], call["status"], call["cure_by"]) == ("patent_lapse", "open", "2026-05-16")
    assert call["shortfall"] == outstanding - kept
    inbox = (await client.get("/inbox", headers={**c.sme.headers, "Accept-Language": "zh-CN"})).json()["data"]
    [item] = [i for i in inbox if i["kind"] == "margin_call.open"]
    assert item["action"] == {"method": "POST", "path": f"/loans/{loan['id']}/collateral"}
    assert "追加担保" in item["title"] and item["due_on"] == "2026-05-16"
    fund_events = {e["type"] for e in (await client.get("/events", params={"limit": 100},
                                                        headers=fund.headers)).json()["data"]}
    assert "margin_call.issued" in fund_events
    # The borrower pledges a second patent, appraised and certified; the bank registers the pledge.
    second = await api.asset(c.sme, title="一种电池热失控预警方法")
    appraisal = await mf.certified(api, c.sme, [second["id"]])
    assert appraisal["borrowing_base"] >= call["shortfall"]
    r = await client.post(f"/loans/{loan['id']}/collateral",
                          json={"asset_ids": [second["id"]], "valuation_id": appraisal["id"]}, headers=c.sme.headers)
    assert r.status_code == 201, r.text
    bank_inbox = (await client.get("/inbox", headers=c.bank.headers)).json()["data"]
    assert "collateral.to_register" in {i["kind"] for i in bank_inbox}
    r = await client.post(f"/loans/{loan['id']}/pledge-registration",
                          json={"registration_no": "Y2026990000456", "registered_on": "2026-04-17"},
                          headers=c.bank.headers)
    assert r.status_code == 200, r.text
    got = r.json()
    assert got["collateral"]["shortfall"] == 0 and got["collateral"]["lost_assets"] == [lapsed]
    assert got["collateral"]["borrowing_base"] == kept + appraisal["borrowing_base"]
    [call] = (await client.get(f"/loans/{loan['id']}/margin-calls", headers=c.sme.headers)).json()["data"]
    assert (call["status"], call["cured_by"], call["cured_on"]) == ("cured", "collateral", "2026-04-17")
    assert got["classification"] == "normal"
    fund_events = {e["type"] for e in (await client.get("/events", params={"limit": 100},
                                                        headers=fund.headers)).json()["data"]}
    assert {"margin_call.cured", "collateral.added"} <= fund_events
    inbox = (await client.get("/inbox", headers=c.sme.headers)).json()["data"]
    assert "margin_call.open" not in {i["kind"] for i in inbox}
    # Paid off at the next due date: every pledge the loan holds is released, the second patent's too.
    await lf.advance_to(api, date(2026, 5, 2))
    quote = (await client.get(f"/loans/{loan['id']}/payoff", headers=c.sme.headers)).json()
    assert (await lf.repay(api, c.sme, loan["id"], quote["total"]))["loan"]["status"] == "repaid"
    assert (await client.get(f"/assets/{second['id']}", headers=c.sme.headers)).json()["encumbrances"] == []
