"""Listings and offers through HTTP: publishing, search, every refusal, accept → deal."""

from __future__ import annotations

import re

from tests.helpers import assert_problem, audit_count
from tests.market.helpers import listing, offer, pledge


async def test_list_search_and_get(api, client):
    uni = await api.org("university")
    sme = await api.org("sme")
    a = await api.asset(uni, title="一种锂电池热管理装置", ipc_codes=["H01M 10/613"])
    b = await api.asset(uni, title="Solar cell coating 太阳能电池涂层", ipc_codes=["H01L 31/0216"],
                        abstract="减反射涂层")
    la = await listing(api, uni, [a["id"]], description="低成本 热管理")
    lb = await listing(api, uni, [b["id"]], mode="nonexclusive_license", price=1_000_000, rate_bps=300,
                       free_months=12, term_months=36)
    assert la["status"] == "open" and la["title"] == a["title"] and la["ipc_codes"] == ["H01M 10/613"]
    assert lb["term_months"] == 36 and lb["rate_bps"] == 300

    async def ids(**params):
        r = await client.get("/listings", params=params, headers=sme.headers)
        assert r.status_code == 200, r.text
        return [x["id"] for x in r.json()["data"]]

    assert await ids(q="锂电池") == [la["id"]]
    assert await ids(q="ＳＯＬＡＲ") == [lb["id"]]  # full-width and case folded
    assert await ids(q="电池") == [lb["id"], la["id"]]
    assert await ids(q="电池 热管理") == [la["id"]]
    assert await ids(mode="nonexclusive_license") == [lb["id"]]
    assert await ids(ipc="h01m") == [la["id"]]
    assert await ids(ipc="H01L 31/0216") == [lb["id"]]
    assert await ids(status="sold") == []
    assert await ids(asset_id=a["id"]) == [la["id"]]
    page = (await client.get("/listings", params={"limit": 1}, headers=sme.headers)).json()
    assert page["has_more"] and page["next_cursor"]
    nxt = (await client.get("/listings", params={"limit": 1, "cursor": page["next_cursor"]},
                            headers=sme.headers)).json()
    assert [x["id"] for x in nxt["data"]] == [la["id"]] and not nxt["has_more"]
    r = await client.get(f"/listings/{la['id']}", headers=sme.headers)
    assert r.json()["price"] == 50_000_000
    assert_problem(await client.get("/listings/lst_nope", headers=sme.headers), 404, "not_found")
    assert_problem(await client.get("/listings"), 401, "not_authenticated")


async def test_listing_refusals(api, client):
    uni = await api.org("university")
    other = await api.org("sme")
    bank = await api.org("bank")
    a = await api.asset(uni)
    body = {"asset_ids": [a["id"]], "mode": "assignment", "price": 10_000}
    assert_problem(await client.post("/listings", json=body, headers=other.headers), 403, "forbidden")
    assert_problem(await client.post("/listings", json=body, headers=bank.headers), 403, "forbidden")
    assert_problem(await client.post("/listings", json={**body, "asset_ids": ["ast_missing"]}, headers=uni.headers),
                   404, "not_found")
    for bad in ({**body, "price": 0}, {**body, "price": -5}, {**body, "mode": "rent"}, {**body, "asset_ids": []},
                {**body, "extra": 1}, {**body, "rate_bps": 500}, {**body, "expires_on": "2026-03-02"},
                {**body, "asset_ids": [a["id"], a["id"]]}):
        assert_problem(await client.post("/listings", json=bad, headers=uni.headers), 422, "validation_error")
    r = await client.get("/listings", headers=uni.headers)
    assert r.json()["data"] == []
    # A lapsed patent cannot be sold.
    await client.patch(f"/assets/{a['id']}", json={"status": "lapsed"}, headers=uni.headers)
    assert_problem(await client.post("/listings", json=body, headers=uni.headers), 409, "invalid_state")


async def test_pledged_asset_cannot_be_assigned_or_exclusively_licensed(api, app, client):
    sme = await api.org("sme")
    bank = await api.org("bank")
    a = await api.asset(sme)
    await pledge(app, [a["id"]], "loan_test_1", bank.org_id)
    # Civil Code art. 444 (corrected brief §3): a non-exclusive license needs the pledgee's consent too.
    for mode in ("assignment", "exclusive_license", "sole_license", "nonexclusive_license"):
        r = await client.post("/listings", json={"asset_ids": [a["id"]], "mode": mode, "price": 10_000},
                              headers=sme.headers)
        body = assert_problem(r, 409, "asset_encumbered")
        assert body["encumbrances"][0]["ref_id"] == "loan_test_1" and body["loan_id"] == "loan_test_1"


async def test_asset_in_flight_blocks_another_assignment(api, client):
    uni = await api.org("university")
    a = await api.asset(uni)
    b = await api.asset(uni)
    first = await listing(api, uni, [a["id"]])
    for mode in ("assignment", "exclusive_license", "nonexclusive_license"):
        r = await client.post("/listings", json={"asset_ids": [b["id"], a["id"]], "mode": mode, "price": 10_000},
                              headers=uni.headers)
        body = assert_problem(r, 409, "asset_encumbered")
        assert body["in_flight"][0]["ref_id"] == first["id"]
    # Withdrawn, the asset is free again.
    r = await client.post(f"/listings/{first['id']}/withdraw", headers=uni.headers)
    assert r.json()["status"] == "withdrawn"
    await listing(api, uni, [b["id"], a["id"]])
    # Several non-exclusive license listings may coexist; an assignment listing may not join them.
    c = await api.asset(uni)
    await listing(api, uni, [c["id"]], mode="nonexclusive_license")
    await listing(api, uni, [c["id"]], mode="nonexclusive_license")
    r = await client.post("/listings", json={"asset_ids": [c["id"]], "mode": "assignment", "price": 10_000},
                          headers=uni.headers)
    assert_problem(r, 409, "asset_encumbered")


async def test_offer_accept_declines_others_and_creates_deal(api, client, app):
    uni = await api.org("university")
    buyer = await api.org("sme")
    rival = await api.org("sme")
    stranger = await api.org("sme")
    a = await api.asset(uni)
    lst = await listing(api, uni, [a["id"]])
    o1 = await offer(api, buyer, lst["id"], 40_000_000)
    o2 = await offer(api, rival, lst["id"], 42_000_000)
    assert o1["status"] == "pending" and o1["seller_org_id"] == uni.org_id
    # Offers are private to the parties.
    assert_problem(await client.get(f"/offers/{o1['id']}", headers=stranger.headers), 404, "not_found")
    seen = (await client.get(f"/listings/{lst['id']}/offers", headers=uni.headers)).json()["data"]
    assert {o["id"] for o in seen} == {o1["id"], o2["id"]}
    seen = (await client.get(f"/listings/{lst['id']}/offers", headers=buyer.headers)).json()["data"]
    assert [o["id"] for o in seen] == [o1["id"]]
    # Only the seller accepts; a stranger does not even see the offer.
    assert_problem(await client.post(f"/offers/{o1['id']}/accept", headers=buyer.headers), 403, "forbidden")
    assert_problem(await client.post(f"/offers/{o1['id']}/accept", headers=stranger.headers), 404, "not_found")
    r = await client.post(f"/offers/{o1['id']}/accept", headers=uni.headers)
    assert r.status_code == 200, r.text
    deal = r.json()["deal"]
    assert r.json()["offer"]["status"] == "accepted" and r.json()["offer"]["deal_id"] == deal["id"]
    assert deal["status"] == "awaiting_payment" and deal["amount"] == 40_000_000
    assert re.fullmatch(r"IPM-2026-\d{6}", deal["contract_no"])
    assert deal["seller_org_id"] == uni.org_id and deal["buyer_org_id"] == buyer.org_id
    assert (await client.get(f"/offers/{o2['id']}", headers=rival.headers)).json()["status"] == "declined"
    got = (await client.get(f"/listings/{lst['id']}", headers=stranger.headers)).json()
    assert got["status"] == "under_contract" and got["deal_id"] == deal["id"]
    # Deals are the parties' only.
    assert (await client.get(f"/deals/{deal['id']}", headers=buyer.headers)).json()["contract_no"] == deal["contract_no"]
    assert (await client.get(f"/deals/{deal['id']}", headers=uni.headers)).status_code == 200
    assert_problem(await client.get(f"/deals/{deal['id']}", headers=rival.headers), 404, "not_found")
    assert [d["id"] for d in (await client.get("/deals", headers=buyer.headers)).json()["data"]] == [deal["id"]]
    assert (await client.get("/deals", headers=rival.headers)).json()["data"] == []
    # The listing under contract takes no offers, cannot be withdrawn, and the offer cannot be accepted twice.
    r = await client.post(f"/listings/{lst['id']}/offers", json={"amount": 5}, headers=stranger.headers)
    assert_problem(r, 409, "invalid_state")
    assert_problem(await client.post(f"/listings/{lst['id']}/withdraw", headers=uni.headers), 409, "invalid_state")
    assert_problem(await client.post(f"/offers/{o1['id']}/accept", headers=uni.headers), 409, "invalid_state")
    assert_problem(await client.post(f"/offers/{o2['id']}/accept", headers=uni.headers), 409, "invalid_state")
    assert await audit_count(app, "deal.agreed") == 1


async def test_offer_refusals(api, client):
    uni = await api.org("university")
    buyer = await api.org("sme")
    bank = await api.org("bank")
    a = await api.asset(uni)
    lst = await listing(api, uni, [a["id"]])
    url = f"/listings/{lst['id']}/offers"
    assert_problem(await client.post(url, json={"amount": 10}, headers=uni.headers), 409, "invalid_state")  # own
    assert_problem(await client.post(url, json={"amount": 10}, headers=bank.headers), 403, "forbidden")
    for bad in ({"amount": 0}, {"amount": "x"}, {"amount": 10, "extra": 1}, {"amount": 10**15}):
        assert_problem(await client.post(url, json=bad, headers=buyer.headers), 422, "validation_error")
    assert_problem(await client.post("/listings/lst_nope/offers", json={"amount": 10}, headers=buyer.headers),
                   404, "not_found")
    o = await offer(api, buyer, lst["id"])
    assert_problem(await client.post(url, json={"amount": 10}, headers=buyer.headers), 409, "invalid_state")  # twice
    assert_problem(await client.post(f"/offers/{o['id']}/withdraw", headers=uni.headers), 403, "forbidden")
    assert_problem(await client.post(f"/offers/{o['id']}/reject", headers=buyer.headers), 403, "forbidden")
    r = await client.post(f"/offers/{o['id']}/reject", headers=uni.headers)
    assert r.json()["status"] == "rejected"
    assert_problem(await client.post(f"/offers/{o['id']}/withdraw", headers=buyer.headers), 409, "invalid_state")
    o2 = await offer(api, buyer, lst["id"])
    assert (await client.post(f"/offers/{o2['id']}/withdraw", headers=buyer.headers)).json()["status"] == "withdrawn"
    o3 = await offer(api, buyer, lst["id"])
    # Withdrawing the listing declines pending offers; a withdrawn listing takes no offers.
    assert_problem(await client.post(f"/listings/{lst['id']}/withdraw", headers=buyer.headers), 403, "forbidden")
    await client.post(f"/listings/{lst['id']}/withdraw", headers=uni.headers)
    assert (await client.get(f"/offers/{o3['id']}", headers=buyer.headers)).json()["status"] == "declined"
    assert_problem(await client.post(url, json={"amount": 10}, headers=buyer.headers), 409, "invalid_state")
    assert_problem(await client.post(f"/listings/{lst['id']}/withdraw", headers=uni.headers), 409, "invalid_state")


async def test_listing_expires_on_the_business_clock(api, client):
    uni = await api.org("university")
    buyer = await api.org("sme")
    a = await api.asset(uni)
    lst = await listing(api, uni, [a["id"]], expires_on="2026-03-04")
    o = await offer(api, buyer, lst["id"])
    await api.advance(2)  # closes 2 and 3 March
    assert (await client.get(f"/listings/{lst['id']}", headers=buyer.headers)).json()["status"] == "open"
    await api.advance(1)  # closes 4 March, the last day
    assert (await client.get(f"/listings/{lst['id']}", headers=buyer.headers)).json()["status"] == "expired"
    assert (await client.get(f"/offers/{o['id']}", headers=buyer.headers)).json()["status"] == "declined"
    r = await client.post(f"/listings/{lst['id']}/offers", json={"amount": 10}, headers=buyer.headers)
    assert_problem(r, 409, "invalid_state")


async def test_accept_is_idempotent_with_a_key(api, client):
    uni = await api.org("university")
    buyer = await api.org("sme")
    a = await api.asset(uni)
    lst = await listing(api, uni, [a["id"]])
    o = await offer(api, buyer, lst["id"])
    h = {**uni.headers, "Idempotency-Key": "accept-1"}
    r1 = await client.post(f"/offers/{o['id']}/accept", headers=h)
    r2 = await client.post(f"/offers/{o['id']}/accept", headers=h)
    assert r1.status_code == r2.status_code == 200
    assert r1.json() == r2.json() and r2.headers.get("idempotent-replayed") == "true"
