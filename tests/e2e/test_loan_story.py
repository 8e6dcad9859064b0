"""The pledge-loan story through HTTP only: one loan repaid on time; one that defaults, is compensated,
disposed of by auction and closed with the recoveries shared exactly; one whose collateral finds no buyer
and is written off with the final loss per party."""

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


async def _defaulted_and_compensated(api, client):
    c = await lf.cast(api)
    fund, program = await _program(api, client, c.bank)
    loan = await lf.accepted_loan(api, c)
    insurer = await api.org("insurer")
    await lf.invite(api, c.bank, loan["id"], insurer, "insurance")
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
    return c, fund, insurer, loan, claim


async def test_story_default_and_compensation(api, client):
    await _defaulted_and_compensated(api, client)


async def _verify_fund_ledger(client, fund, entries):
    """``entries`` money movements, plus one month-end provision entry for each month-end the story crossed
    while the fund's allowance had to move."""
    r = await client.get("/fund/ledger/verify", headers=fund.headers)
    assert r.status_code == 200, r.text
    proof = r.json()
    assert proof["balanced"] and proof["chain_intact"] and proof["problems"] == [], proof
    r = await client.get("/fund/ledger/entries", params={"kind": "fund.provision", "limit": 100}, headers=fund.headers)
    provisions = r.json()["data"]
    assert all(e["effective_date"][8:] in ("28", "29", "30", "31") for e in provisions), provisions
    assert proof["entries_checked"] == entries + len(provisions), proof


async def test_story_default_compensation_disposal_recoveries_closed(api, client):
    c, fund, insurer, loan, claim = await _defaulted_and_compensated(api, client)
    lid, principal = loan["id"], loan["principal"]
    bore = {s["party"]: s["amount"] for s in claim["shares"]}
    assert bore == {"fund": 54_000_000, "insurer": 16_000_000, "bank": 30_000_000}
    rival = await api.org("bank")
    assert_problem(await client.post(f"/loans/{lid}/disposal", json={}, headers=rival.headers), 404, "not_found")
    assert_problem(await client.post(f"/loans/{lid}/disposal", json={}, headers=c.sme.headers), 403, "forbidden")
    assert_problem(await client.post(f"/loans/{lid}/disposal", json={"reserve_price": 0}, headers=c.bank.headers),
                   422, "validation_error")
    # The bank auctions the pledged bundle: reserve = outstanding principal (no certified valuation),
    # start 80% of it, for 30 days.
    r = await client.post(f"/loans/{lid}/disposal", json={}, headers=c.bank.headers)
    assert r.status_code == 201, r.text
    disposal = r.json()
    assert (disposal["reserve_price"], disposal["start_price"], disposal["ends_on"]) == (
        principal, principal * 8 // 10, "2026-07-31")
    assert disposal["loan_status"] == "disposing"
    assert_problem(await client.post(f"/loans/{lid}/disposal", json={}, headers=c.bank.headers), 409, "invalid_state")
    assert_problem(await client.post(f"/loans/{lid}/write-off", headers=c.bank.headers), 409, "invalid_state")
    aid = disposal["auction_id"]
    lot = (await client.get(f"/auctions/{aid}", headers=c.sme.headers)).json()
    assert lot["seller_org_id"] == c.sme.org_id and lot["organiser_org_id"] == c.bank.org_id
    assert lot["proceeds_to"] == f"loan:{lid}" and sorted(lot["asset_ids"]) == sorted(a["id"] for a in c.assets)
    # Bids by other organisations; the borrower cannot bid on its own collateral.
    buyer, other = await api.org("sme", name="买方科技"), await api.org("university")
    bids = f"/auctions/{aid}/bids"
    assert_problem(await client.post(bids, json={"amount": 90_000_000}, headers=c.sme.headers), 409, "invalid_state")
    assert (await client.post(bids, json={"amount": 90_000_000}, headers=other.headers)).status_code == 201
    assert (await client.post(bids, json={"amount": 120_000_000}, headers=buyer.headers)).status_code == 201
    # The day-end of 31 July closes the lot: sold, a deal awaiting the winner's payment.
    await api.advance(31)
    lot = (await client.get(f"/auctions/{aid}", headers=buyer.headers)).json()
    assert lot["status"] == "sold" and lot["highest_bid"] == 120_000_000
    deal_id = lot["deal_id"]
    assert_problem(await client.post(f"/deals/{deal_id}/pay", headers=other.headers), 404, "not_found")
    assert_problem(await client.post(f"/deals/{deal_id}/pay", headers=c.bank.headers), 403, "forbidden")
    # The winner pays through the gateway: escrow to the bank, recorded, ownership moves.
    r = await client.post(f"/deals/{deal_id}/pay", headers=buyer.headers)
    assert r.status_code == 201, r.text
    paid = r.json()
    assert paid["deal"]["status"] == "recorded"
    assert (paid["payment"]["payer_org_id"], paid["payment"]["payee_org_id"]) == (buyer.org_id, c.bank.org_id)
    assert paid["payment"]["escrow_state"] == "released" and paid["payment"]["amount"] == 120_000_000
    for a in c.assets:
        got = (await client.get(f"/assets/{a['id']}", headers=buyer.headers)).json()
        assert got["owner_org_id"] == buyer.org_id and got["encumbrances"] == []
        assert [(h["owner_org_id"], h["via"]) for h in got["ownership_history"]][-1] == (buyer.org_id, "disposal")
    # Recoveries: the loss (¥1m) back in proportion to what each bore, the ¥200,000 surplus to the borrower.
    r = await client.get(f"/loans/{lid}/recoveries", headers=insurer.headers)
    assert r.status_code == 200, r.text
    rec = r.json()
    got = {(x["party"], x["org_id"]): x["amount"] for x in rec["data"]}
    assert got == {("fund", fund.org_id): 54_000_000, ("insurer", insurer.org_id): 16_000_000,
                   ("bank", c.bank.org_id): 30_000_000, ("borrower", c.sme.org_id): 20_000_000}
    assert rec["proceeds"] == sum(got.values()) == 120_000_000
    # Every fen accounted for: the bank received the price and paid out every part but its own.
    r = await client.get("/payments", params={"purpose": "recovery", "limit": 100}, headers=c.bank.headers)
    payouts = {(p["payee_org_id"], p["amount"], p["status"]) for p in r.json()["data"]}
    assert payouts == {(fund.org_id, 54_000_000, "succeeded"), (insurer.org_id, 16_000_000, "succeeded"),
                       (c.sme.org_id, 20_000_000, "succeeded")}
    assert sum(p[1] for p in payouts) + got[("bank", c.bank.org_id)] == paid["payment"]["amount"]
    closed = await lf.loan(api, c.bank, lid)
    assert closed["status"] == "closed" and closed["closed_on"] == "2026-08-01"
    r = await client.get(f"/loans/{lid}/disposals", headers=c.bank.headers)
    [row] = r.json()["data"]
    assert (row["status"], row["deal_id"], row["proceeds"]) == ("settled", deal_id, 120_000_000)
    # Nothing more to do with a closed loan.
    assert_problem(await client.post(f"/loans/{lid}/disposal", json={}, headers=c.bank.headers), 409, "invalid_state")
    assert_problem(await client.post(f"/loans/{lid}/write-off", headers=c.bank.headers), 409, "invalid_state")
    assert_problem(await client.post(f"/deals/{deal_id}/pay", headers=buyer.headers), 409, "invalid_state")
    # capital, deposit, compensation and recovery each two-phase (pending, then posted when the money landed)
    await _verify_fund_ledger(client, fund, entries=6)


async def test_story_collateral_unsold_relisted_then_written_off(api, client):
    c, fund, insurer, loan, claim = await _defaulted_and_compensated(api, client)
    lid = loan["id"]
    r = await client.post(f"/loans/{lid}/disposal", json={"reserve_price": 90_000_000, "ends_on": "2026-07-10"},
                          headers=c.bank.headers)
    assert r.status_code == 201, r.text
    first = r.json()
    assert first["start_price"] == 72_000_000 and first["min_increment"] == 720_000
    bidder = await api.org("sme")
    r = await client.post(f"/auctions/{first['auction_id']}/bids", json={"amount": 72_000_000}, headers=bidder.headers)
    assert r.status_code == 201, r.text
    await api.advance(10)  # closes 10 July below the reserve
    lot = (await client.get(f"/auctions/{first['auction_id']}", headers=c.bank.headers)).json()
    assert lot["status"] == "unsold" and lot["reserve_met"] is False
    # The bank puts it up again with a lower reserve (default 80% of the last one).
    r = await client.post(f"/loans/{lid}/disposal", json={"ends_on": "2026-07-20"}, headers=c.bank.headers)
    assert r.status_code == 201, r.text
    second = r.json()
    assert second["relisted_from"] == first["auction_id"] and second["reserve_price"] == 72_000_000
    assert_problem(await client.post(f"/loans/{lid}/write-off", headers=c.bank.headers), 409, "invalid_state")
    await api.advance(10)  # no bids: unsold again
    assert (await client.get(f"/auctions/{second['auction_id']}", headers=c.bank.headers)).json()["status"] == "unsold"
    rival = await api.org("bank")
    assert_problem(await client.post(f"/loans/{lid}/write-off", headers=rival.headers), 404, "not_found")
    assert_problem(await client.post(f"/loans/{lid}/write-off", headers=c.sme.headers), 403, "forbidden")
    r = await client.post(f"/loans/{lid}/write-off", headers=c.bank.headers)
    assert r.status_code == 200, r.text
    wo = r.json()
    assert wo["status"] == "written_off" and wo["written_off_on"] == "2026-07-21"
    losses = {(x["party"], x["org_id"]): (x["paid"], x["recovered"], x["loss"]) for x in wo["data"]}
    assert losses == {("fund", fund.org_id): (54_000_000, 0, 54_000_000),
                      ("insurer", insurer.org_id): (16_000_000, 0, 16_000_000),
                      ("bank", c.bank.org_id): (30_000_000, 0, 30_000_000)}
    assert wo["total_loss"] == claim["loss"]
    assert (await client.get(f"/loans/{lid}/write-off", headers=fund.headers)).json() == wo
    assert (await lf.loan(api, c.bank, lid))["status"] == "written_off"
    assert (await client.get(f"/loans/{lid}/recoveries", headers=fund.headers)).json()["data"] == []
    for a in c.assets:  # written off: the pledge no longer blocks the borrower's IP
        got = (await client.get(f"/assets/{a['id']}", headers=c.sme.headers)).json()
        assert got["owner_org_id"] == c.sme.org_id and got["encumbrances"] == []
    assert_problem(await client.post(f"/loans/{lid}/write-off", headers=c.bank.headers), 409, "invalid_state")
    await _verify_fund_ledger(client, fund, entries=4)  # capital, deposit, compensation (pending + posted)
