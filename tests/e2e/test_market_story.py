"""The market end to end through HTTP: a dormant university patent sold to an SME that found it by a
Chinese query and by matching; an open license taken with use-first-pay-later royalties; an auction with
an anti-sniping extension, a winner and a paid deal."""

from __future__ import annotations


async def test_market_story(api, app, client):
    uni = await api.org("university", name="山西大学", region="140100")
    sme = await api.org("sme", name="太原锂能科技", region="140500")
    rival = await api.org("sme", name="晋城新能源")

    # A dormant patent: granted in 2021, held by a university, never sold or licensed.
    dormant = await api.asset(uni, title="一种锂电池热管理装置", abstract="电动汽车锂电池组液冷热管理 battery thermal",
                              ipc_codes=["H01M 10/613"], industry="new_energy")
    pool = (await client.get("/assets", params={"dormant": "true"}, headers=sme.headers)).json()["data"]
    assert dormant["id"] in [x["id"] for x in pool]
    r = await client.post("/listings", json={"asset_ids": [dormant["id"]], "mode": "assignment", "price": 80_000_000,
                                             "description": "校企转化 沉睡专利"}, headers=uni.headers)
    assert r.status_code == 201, r.text
    lst = r.json()

    # The SME finds it by a Chinese query and through matching its technology need.
    found = (await client.get("/listings", params={"q": "锂电池 热管理"}, headers=sme.headers)).json()["data"]
    assert [x["id"] for x in found] == [lst["id"]]
    r = await client.post("/tech-needs", json={"title": "动力电池散热", "description": "需要锂电池热管理的液冷技术",
                                               "ipc_codes": ["H01M 10/60"], "industry": "new_energy"},
                          headers=sme.headers)
    need = r.json()
    matches = (await client.get(f"/tech-needs/{need['id']}/matches", headers=sme.headers)).json()
    assert matches[0]["asset_id"] == dormant["id"] and matches[0]["reasons"]
    r = await client.post("/matches/feedback", json={"need_id": need["id"], "asset_id": dormant["id"],
                                                     "verdict": "interested"}, headers=sme.headers)
    assert r.status_code == 201, r.text

    # Offer → accept → pay → recorded transfer.
    low = (await client.post(f"/listings/{lst['id']}/offers", json={"amount": 60_000_000}, headers=rival.headers)).json()
    mine = (await client.post(f"/listings/{lst['id']}/offers", json={"amount": 75_000_000, "message": "尽快签约"},
                              headers=sme.headers)).json()
    r = await client.post(f"/offers/{mine['id']}/accept", headers=uni.headers)
    deal = r.json()["deal"]
    assert deal["status"] == "awaiting_payment" and deal["contract_no"].startswith("IPM-2026-")
    assert (await client.get(f"/offers/{low['id']}", headers=rival.headers)).json()["status"] == "declined"
    # The buyer pays through the gateway: escrowed, settled, the deal recorded and the escrow released.
    r = await client.post(f"/deals/{deal['id']}/pay", headers=sme.headers)
    assert r.status_code == 201, r.text
    paid = r.json()
    assert paid["deal"]["status"] == "recorded" and paid["payment"]["status"] == "succeeded"
    assert (paid["payment"]["payer_org_id"], paid["payment"]["payee_org_id"]) == (sme.org_id, uni.org_id)
    assert paid["payment"]["escrow_state"] == "released" and paid["payment"]["amount"] == 75_000_000
    deal = (await client.get(f"/deals/{deal['id']}", headers=sme.headers)).json()
    assert deal["payment_id"] == paid["payment"]["id"]
    assert deal["status"] == "recorded" and deal["amount"] == 75_000_000
    # Kept for the statistics by period, region and industry.
    assert (deal["recorded_on"], deal["seller_region"], deal["buyer_region"], deal["industry"]) == (
        "2026-03-02", "140100", "140500", "new_energy")
    asset = (await client.get(f"/assets/{dormant['id']}", headers=rival.headers)).json()
    assert asset["owner_org_id"] == sme.org_id
    assert [(h["owner_org_id"], h["via"]) for h in asset["ownership_history"]] == [
        (uni.org_id, "registration"), (sme.org_id, "deal")]
    assert asset["ownership_history"][1]["ref_id"] == deal["id"]
    assert (await client.get(f"/listings/{lst['id']}", headers=sme.headers)).json()["status"] == "sold"

    # Open license, use first pay later: 6 free months, then 3% of net sales.
    opened = await api.asset(uni, title="石墨烯导热膜制备方法", abstract="高导热石墨烯膜", ipc_codes=["C01B 32/184"])
    r = await client.post(f"/assets/{opened['id']}/open-license",
                          json={"rate_bps": 300, "term_months": 36, "free_months": 6}, headers=uni.headers)
    assert r.status_code == 201 and r.json()["annual_fee_reduction_bps"] == 1500
    offers = (await client.get("/open-licenses", params={"q": "石墨烯"}, headers=sme.headers)).json()["data"]
    assert [o["asset_id"] for o in offers] == [opened["id"]]
    lic = (await client.post(f"/assets/{opened['id']}/open-license/accept", headers=sme.headers)).json()
    assert lic["kind"] == "open" and lic["free_until"] == "2026-09-02"
    assert (lic["royalty"], lic["starts_on"], lic["ends_on"], lic["status"]) == (
        {"rate_bps": 300, "free_months": 6, "fixed_fee": None, "minimum_annual": None}, "2026-03-02", "2029-03-01",
        "active")
    assert lic["licensee_org_id"] == sme.org_id
    await api.advance(214)  # to 2026-10-02
    url = f"/licenses/{lic['id']}/royalty-reports"
    free = (await client.post(url, json={"period_start": "2026-03-02", "period_end": "2026-08-31",
                                         "net_sales": 500_000_000}, headers=sme.headers)).json()
    assert free["royalty_due"] == 0
    paying = (await client.post(url, json={"period_start": "2026-09-01", "period_end": "2026-09-30",
                                           "net_sales": 90_000_000}, headers=sme.headers)).json()
    # 1 September is free; 2–30 September (29 of 30 days) at 3%: 90,000,000 × 29/30 × 0.03 = 2,610,000.
    assert paying["royalty_due"] == 2_610_000 and paying["due_on"] == "2026-10-30"

    # Auction: a bid on the last day extends it; the day-end sells to the highest bidder.
    lot = await api.asset(uni, title="一种光伏组件清洗机器人", ipc_codes=["H02S 40/10"])
    r = await client.post("/auctions", json={"asset_ids": [lot["id"]], "start_price": 10_000_000,
                                             "reserve_price": 15_000_000, "min_increment": 500_000,
                                             "ends_on": "2026-10-04", "extension_days": 1}, headers=uni.headers)
    auction = r.json()
    bids = f"/auctions/{auction['id']}/bids"
    assert (await client.post(bids, json={"amount": 10_000_000}, headers=rival.headers)).status_code == 201
    await api.advance(2)  # now 2026-10-04, the last day
    r = await client.post(bids, json={"amount": 16_000_000}, headers=sme.headers)
    assert r.json()["auction"]["ends_on"] == "2026-10-05" and r.json()["bid"]["extended_to"] == "2026-10-05"
    r = await client.post(bids, json={"amount": 16_400_000}, headers=rival.headers)
    assert r.status_code == 409  # below highest + increment
    await api.advance(1)
    assert (await client.get(f"/auctions/{auction['id']}", headers=sme.headers)).json()["status"] == "open"
    await api.advance(1)  # closes 2026-10-05
    closed = (await client.get(f"/auctions/{auction['id']}", headers=sme.headers)).json()
    assert closed["status"] == "sold" and closed["reserve_met"] and closed["highest_bid"] == 16_000_000
    assert closed["bid_count"] == 2 and closed["ends_on"] == "2026-10-05"
    assert closed["reserve_price"] is None  # hidden from bidders
    won = (await client.get(f"/deals/{closed['deal_id']}", headers=sme.headers)).json()
    assert won["buyer_org_id"] == sme.org_id and won["status"] == "awaiting_payment"
    r = await client.post(f"/deals/{won['id']}/pay", headers=sme.headers)
    assert r.status_code == 201 and r.json()["payment"]["escrow_state"] == "released", r.text
    assert (await client.get(f"/deals/{won['id']}", headers=sme.headers)).json()["status"] == "recorded"
    assert (await client.get(f"/assets/{lot['id']}", headers=sme.headers)).json()["owner_org_id"] == sme.org_id
    mine = (await client.get("/deals", params={"status": "recorded"}, headers=sme.headers)).json()["data"]
    assert len(mine) == 3  # the transfer, the open license, the auction
    assert won["contract_no"].startswith("IPM-2026-") and won["contract_no"] != deal["contract_no"]

    # The province's statistics count them: two transfers (¥750,000 + ¥160,000) and one license.
    regulator = await api.org("regulator")
    stats = (await client.get("/stats/transactions", params={"from": "2026-03-01", "to": "2026-10-31"},
                              headers=regulator.headers)).json()
    assert {k: stats["totals"][k] for k in ("transfers_count", "transfers_amount", "licenses_count")} == {
        "transfers_count": 2, "transfers_amount": 91_000_000, "licenses_count": 1}
