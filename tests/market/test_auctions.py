"""Auctions through HTTP: bidding rules, anti-sniping extension, day-end closing, re-listing, disposal."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from kernel.actor import Actor
from market.auctions import service as auctions
from tests.helpers import assert_problem, audit_count, open_session
from tests.market.helpers import listing, pledge, settle


async def _auction(api, client, owner, asset_ids, **extra):
    body = {"asset_ids": asset_ids, "start_price": 1_000_000, "reserve_price": 2_000_000, "min_increment": 100_000,
            "ends_on": "2026-03-05", **extra}
    r = await client.post("/auctions", json=body, headers=owner.headers)
    assert r.status_code == 201, r.text
    return r.json()


async def test_bidding_rules_and_hidden_reserve(api, client):
    uni = await api.org("university")
    b1 = await api.org("sme")
    b2 = await api.org("sme")
    bank = await api.org("bank")
    a = await api.asset(uni)
    auc = await _auction(api, client, uni, [a["id"]])
    assert auc["status"] == "open" and auc["reserve_price"] == 2_000_000 and auc["bid_count"] == 0
    seen = (await client.get(f"/auctions/{auc['id']}", headers=b1.headers)).json()
    assert seen["reserve_price"] is None and seen["reserve_met"] is False and seen["highest_bid"] is None
    url = f"/auctions/{auc['id']}/bids"
    assert_problem(await client.post(url, json={"amount": 999_999}, headers=b1.headers), 409, "invalid_state")
    assert_problem(await client.post(url, json={"amount": 5_000_000}, headers=uni.headers), 409, "invalid_state")
    assert_problem(await client.post(url, json={"amount": 5_000_000}, headers=bank.headers), 403, "forbidden")
    for bad in ({"amount": 0}, {"amount": 1, "x": 1}, {}):
        assert_problem(await client.post(url, json=bad, headers=b1.headers), 422, "validation_error")
    r = await client.post(url, json={"amount": 1_000_000}, headers=b1.headers)
    assert r.status_code == 201, r.text
    assert r.json()["auction"]["highest_bid"] == 1_000_000 and r.json()["auction"]["ends_on"] == "2026-03-05"
    # Below highest + increment.
    body = assert_problem(await client.post(url, json={"amount": 1_099_999}, headers=b2.headers), 409, "invalid_state")
    assert body["minimum_bid"] == 1_100_000
    r = await client.post(url, json={"amount": 2_100_000}, headers=b2.headers)
    got = (await client.get(f"/auctions/{auc['id']}", headers=b1.headers)).json()
    assert got["highest_bid"] == 2_100_000 and got["bid_count"] == 2 and got["reserve_met"] is True
    assert got["reserve_price"] is None
    assert_problem(await client.get("/auctions/auc_nope", headers=b1.headers), 404, "not_found")


async def test_last_day_bid_extends_then_day_end_sells(api, app, client):
    uni = await api.org("university")
    b1 = await api.org("sme")
    b2 = await api.org("sme")
    a = await api.asset(uni)
    auc = await _auction(api, client, uni, [a["id"]], ends_on="2026-03-03", extension_days=2)
    url = f"/auctions/{auc['id']}/bids"
    assert (await client.post(url, json={"amount": 1_500_000}, headers=b1.headers)).json()["auction"]["ends_on"] \
        == "2026-03-03"
    await api.advance(1)  # now 3 March, the last day
    r = await client.post(url, json={"amount": 2_500_000}, headers=b2.headers)
    assert r.json()["auction"]["ends_on"] == "2026-03-05" and r.json()["bid"]["extended_to"] == "2026-03-05"
    await api.advance(1)  # closes 3 March: still open thanks to the extension
    assert (await client.get(f"/auctions/{auc['id']}", headers=b1.headers)).json()["status"] == "open"
    r = await client.post(url, json={"amount": 2_600_000}, headers=b1.headers)
    assert r.status_code == 201 and r.json()["auction"]["ends_on"] == "2026-03-05"  # not the last day yet
    await api.advance(2)  # closes 4 and 5 March
    got = (await client.get(f"/auctions/{auc['id']}", headers=b1.headers)).json()
    assert got["status"] == "sold" and got["deal_id"] and got["highest_bid"] == 2_600_000
    deal = (await client.get(f"/deals/{got['deal_id']}", headers=b1.headers)).json()
    assert deal["status"] == "awaiting_payment" and deal["mode"] == "assignment" and deal["source"] == "auction"
    assert deal["buyer_org_id"] == b1.org_id and deal["amount"] == 2_600_000
    assert_problem(await client.get(f"/deals/{got['deal_id']}", headers=b2.headers), 404, "not_found")
    # Bid after closing.
    assert_problem(await client.post(url, json={"amount": 9_000_000}, headers=b2.headers), 409, "invalid_state")
    out = await settle(app, deal["id"])
    assert out["status"] == "recorded"
    asset = (await client.get(f"/assets/{a['id']}", headers=b1.headers)).json()
    assert asset["owner_org_id"] == b1.org_id


async def test_unsold_then_relisted_with_lower_reserve(api, app, client):
    uni = await api.org("university")
    b1 = await api.org("sme")
    a = await api.asset(uni)
    auc = await _auction(api, client, uni, [a["id"]], ends_on="2026-03-02")
    await client.post(f"/auctions/{auc['id']}/bids", json={"amount": 1_200_000}, headers=b1.headers)  # extends
    await api.advance(2)
    got = (await client.get(f"/auctions/{auc['id']}", headers=uni.headers)).json()
    assert got["status"] == "unsold" and got["deal_id"] is None and got["reserve_met"] is False
    url = f"/auctions/{auc['id']}/relist"
    assert_problem(await client.post(url, json={"reserve_price": 2_000_000, "ends_on": "2026-03-10"},
                                     headers=uni.headers), 422, "validation_error")
    assert_problem(await client.post(url, json={"reserve_price": 1_000_000, "ends_on": "2026-03-10"},
                                     headers=b1.headers), 403, "forbidden")
    r = await client.post(url, json={"reserve_price": 1_000_000, "start_price": 800_000, "ends_on": "2026-03-10"},
                          headers=uni.headers)
    assert r.status_code == 201, r.text
    new = r.json()
    assert new["relisted_from"] == auc["id"] and new["reserve_price"] == 1_000_000 and new["start_price"] == 800_000
    assert (await client.get(f"/auctions/{auc['id']}", headers=uni.headers)).json()["relisted_as"] == new["id"]
    assert await audit_count(app, "auction.relisted") == 1
    assert_problem(await client.post(url, json={"reserve_price": 900_000, "ends_on": "2026-03-10"},
                                     headers=uni.headers), 409, "invalid_state")


async def test_auction_refusals(api, app, client):
    uni = await api.org("university")
    other = await api.org("sme")
    bank = await api.org("bank")
    a = await api.asset(uni)
    body = {"asset_ids": [a["id"]], "start_price": 100, "reserve_price": 100, "min_increment": 10,
            "ends_on": "2026-03-05"}
    assert_problem(await client.post("/auctions", json=body, headers=other.headers), 403, "forbidden")
    for bad in ({**body, "ends_on": "2026-03-01"}, {**body, "start_price": 0}, {**body, "min_increment": -1},
                {**body, "extension_days": 99}, {**body, "foo": 1}):
        assert_problem(await client.post("/auctions", json=bad, headers=uni.headers), 422, "validation_error")
    # In an open listing: cannot be auctioned too (and vice versa).
    lst = await listing(api, uni, [a["id"]])
    assert_problem(await client.post("/auctions", json=body, headers=uni.headers), 409, "asset_encumbered")
    await client.post(f"/listings/{lst['id']}/withdraw", headers=uni.headers)
    await _auction(api, client, uni, [a["id"]])
    r = await client.post("/listings", json={"asset_ids": [a["id"]], "mode": "assignment", "price": 5},
                          headers=uni.headers)
    assert_problem(r, 409, "asset_encumbered")
    assert_problem(await client.post("/auctions", json=body, headers=uni.headers), 409, "asset_encumbered")
    # Pledged: no auction by the owner.
    b = await api.asset(uni)
    await pledge(app, [b["id"]], "loan_x", bank.org_id)
    assert_problem(await client.post("/auctions", json={**body, "asset_ids": [b["id"]]}, headers=uni.headers),
                   409, "asset_encumbered")
    assert (await client.get("/auctions", headers=uni.headers)).json()["data"][0]["asset_ids"] == [a["id"]]


async def test_disposal_auction_by_the_pledgee(api, app, client):
    """The loan package's path: a bank sells a defaulted borrower's pledged assets through a service call."""
    sme = await api.org("sme")
    bank = await api.org("bank")
    other_bank = await api.org("bank")
    buyer = await api.org("sme")
    a = await api.asset(sme)
    await pledge(app, [a["id"]], "loan_77", bank.org_id)
    bank_actor = Actor(user_id=bank.user_id, org_id=bank.org_id, org_kind="bank", role="org_admin")
    async with open_session(app) as session:
        from datetime import date

        from kernel.errors import Forbidden
        with pytest.raises(Forbidden):  # another bank holds no pledge here
            await auctions.create_auction(
                session, Actor(other_bank.user_id, other_bank.org_id, "bank", "org_admin"), [a["id"]],
                start_price=100, reserve_price=100, min_increment=10, ends_on=date(2026, 3, 3),
                seller_org_id=sme.org_id, allow_pledged_by="loan_77")
        auc = await auctions.create_auction(session, bank_actor, [a["id"]], start_price=1_000, reserve_price=1_000,
                                            min_increment=100, ends_on=date(2026, 3, 3), seller_org_id=sme.org_id,
                                            on_behalf_of="loan:loan_77", allow_pledged_by="loan_77")
        await session.commit()
    got = (await client.get(f"/auctions/{auc.id}", headers=bank.headers)).json()
    assert got["seller_org_id"] == sme.org_id and got["organiser_org_id"] == bank.org_id
    assert got["reserve_price"] == 1_000
    # The borrower cannot bid on its own collateral, nor the bank.
    url = f"/auctions/{auc.id}/bids"
    assert_problem(await client.post(url, json={"amount": 5_000}, headers=sme.headers), 409, "invalid_state")
    assert (await client.post(url, json={"amount": 5_000}, headers=buyer.headers)).status_code == 201
    await api.advance(2)
    got = (await client.get(f"/auctions/{auc.id}", headers=bank.headers)).json()
    deal = (await client.get(f"/deals/{got['deal_id']}", headers=bank.headers)).json()
    assert deal["seller_org_id"] == sme.org_id and deal["proceeds_to"] == "loan:loan_77"
    assert deal["organiser_org_id"] == bank.org_id
    out = await settle(app, deal["id"])
    assert out["status"] == "recorded"
    asset = (await client.get(f"/assets/{a['id']}", headers=buyer.headers)).json()
    assert asset["owner_org_id"] == buyer.org_id and asset["ownership_history"][-1]["via"] == "disposal"


@pytest.mark.postgres
async def test_concurrent_bids_highest_wins_none_lost(api, app, client):
    uni = await api.org("university")
    a = await api.asset(uni)
    auc = await _auction(api, client, uni, [a["id"]], start_price=1_000, min_increment=100, reserve_price=0)
    bidders = [await api.org("sme") for _ in range(8)]
    amounts = [1_000 + 150 * i for i in range(8)]

    async def bid(party, amount):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test/api/v1") as c:
            return await c.post(f"/auctions/{auc['id']}/bids", json={"amount": amount}, headers=party.headers)

    results = await asyncio.gather(*(bid(p, amt) for p, amt in zip(bidders, amounts, strict=True)))
    accepted = [amt for r, amt in zip(results, amounts, strict=True) if r.status_code == 201]
    assert all(r.status_code in (201, 409) for r in results), [r.text for r in results]
    got = (await client.get(f"/auctions/{auc['id']}", headers=uni.headers)).json()
    assert max(amounts) in accepted  # the highest is always valid, whatever order the bids ran in
    assert got["highest_bid"] == max(amounts) and got["bid_count"] == len(accepted)
    assert got["highest_bid"] == max(accepted)
