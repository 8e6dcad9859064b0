"""Deals: settle (paid → recorded) and cancel at the service level, as the payment gateway will call them."""

from __future__ import annotations

import asyncio

import pytest

from kernel import events
from kernel.errors import InvalidState
from tests.helpers import assert_problem
from tests.market.helpers import cancel, listing, offer, pledge, settle


@pytest.fixture
def recorded_events():
    seen: list[dict] = []

    @events.subscribe(events.DEAL_RECORDED)
    async def _capture(session, payload):
        seen.append(payload)

    yield seen
    events._subscribers[events.DEAL_RECORDED].remove(_capture)


async def _agreed(api, client, mode="assignment", **extra):
    uni = await api.org("university")
    buyer = await api.org("sme")
    a = await api.asset(uni)
    lst = await listing(api, uni, [a["id"]], mode=mode, **extra)
    o = await offer(api, buyer, lst["id"], 30_000_000)
    r = await client.post(f"/offers/{o['id']}/accept", headers=uni.headers)
    assert r.status_code == 200, r.text
    return uni, buyer, a, lst, r.json()["deal"]


async def test_settle_assignment_moves_ownership(api, app, client, recorded_events):
    uni, buyer, a, lst, deal = await _agreed(api, client)
    out = await settle(app, deal["id"], "pay_1")
    assert out["status"] == "recorded" and out["recorded_on"].isoformat() == "2026-03-02"
    got = (await client.get(f"/deals/{deal['id']}", headers=buyer.headers)).json()
    assert got["status"] == "recorded" and got["payment_id"] == "pay_1" and got["paid_on"] == "2026-03-02"
    asset = (await client.get(f"/assets/{a['id']}", headers=buyer.headers)).json()
    assert asset["owner_org_id"] == buyer.org_id
    history = asset["ownership_history"]
    assert [h["owner_org_id"] for h in history] == [uni.org_id, buyer.org_id]
    assert history[0]["to_date"] == "2026-03-02" and history[1]["via"] == "deal" and history[1]["ref_id"] == deal["id"]
    assert (await client.get(f"/listings/{lst['id']}", headers=buyer.headers)).json()["status"] == "sold"
    assert recorded_events == [{"deal_id": deal["id"], "mode": "assignment", "asset_ids": [a["id"]],
                                "amount": 30_000_000, "recorded_on": out["recorded_on"],
                                "seller_org_id": uni.org_id, "buyer_org_id": buyer.org_id}]
    # A retried callback is harmless; another payment for the same deal is refused.
    again = await settle(app, deal["id"], "pay_1")
    assert again["status"] == "recorded" and len(recorded_events) == 1
    with pytest.raises(InvalidState):
        await settle(app, deal["id"], "pay_2")
    # The new owner can now list it; the old one cannot.
    r = await client.post("/listings", json={"asset_ids": [a["id"]], "mode": "assignment", "price": 9},
                          headers=uni.headers)
    assert_problem(r, 403, "forbidden")
    await listing(api, buyer, [a["id"]])


async def test_settle_exclusive_license_creates_license_and_encumbrance(api, app, client, recorded_events):
    uni, buyer, a, _, deal = await _agreed(api, client, mode="exclusive_license", term_months=24, rate_bps=500,
                                           free_months=6)
    out = await settle(app, deal["id"])
    assert out["status"] == "recorded" and out["license_id"]
    lic = (await client.get(f"/licenses/{out['license_id']}", headers=buyer.headers)).json()
    assert lic["kind"] == "exclusive" and lic["status"] == "active"
    assert lic["royalty"] == {"fixed_fee": 30_000_000, "rate_bps": 500, "free_months": 6, "minimum_annual": None}
    assert lic["starts_on"] == "2026-03-02" and lic["ends_on"] == "2028-03-01"
    asset = (await client.get(f"/assets/{a['id']}", headers=uni.headers)).json()
    assert [e["kind"] for e in asset["encumbrances"]] == ["exclusive_license"]
    assert asset["owner_org_id"] == uni.org_id
    assert recorded_events[0]["mode"] == "exclusive_license"
    # An exclusive license blocks any other license.
    r = await client.post("/listings", json={"asset_ids": [a["id"]], "mode": "nonexclusive_license", "price": 9},
                          headers=uni.headers)
    assert_problem(r, 409, "asset_encumbered")


async def test_pledge_registered_after_accept_blocks_recording(api, app, client, recorded_events):
    uni, _buyer, a, lst, deal = await _agreed(api, client)
    bank = await api.org("bank")
    await pledge(app, [a["id"]], "loan_late", bank.org_id)
    out = await settle(app, deal["id"])
    assert out["status"] == "paid" and "pledge" in out["blocked_reason"]
    assert (await client.get(f"/assets/{a['id']}", headers=uni.headers)).json()["owner_org_id"] == uni.org_id
    assert recorded_events == []
    # The gateway refunds and cancels; the listing reopens for other buyers.
    out = await cancel(app, deal["id"], "recording refused: pledged")
    assert out["status"] == "cancelled" and out["cancel_reason"] == "recording refused: pledged"
    assert (await client.get(f"/listings/{lst['id']}", headers=uni.headers)).json()["status"] == "open"
    with pytest.raises(InvalidState):
        await settle(app, deal["id"], "pay_x")


async def test_cancel_awaiting_payment_reopens_listing(api, app, client):
    _uni, buyer, _a, lst, deal = await _agreed(api, client)
    out = await cancel(app, deal["id"])
    assert out["status"] == "cancelled"
    got = (await client.get(f"/listings/{lst['id']}", headers=buyer.headers)).json()
    assert got["status"] == "open" and got["deal_id"] is None
    assert (await client.get(f"/deals/{deal['id']}", headers=buyer.headers)).json()["status"] == "cancelled"
    with pytest.raises(InvalidState):
        await cancel(app, deal["id"])


async def test_contract_numbers_are_unique_and_sequential(api, client):
    numbers = []
    for _ in range(3):
        *_, deal = await _agreed(api, client)
        numbers.append(deal["contract_no"])
    assert numbers == [f"IPM-2026-{n:06d}" for n in (1, 2, 3)]


@pytest.mark.postgres
async def test_concurrent_accepts_make_exactly_one_deal(api, app, client):
    import httpx

    uni = await api.org("university")
    a = await api.asset(uni)
    lst = await listing(api, uni, [a["id"]])
    offers = [await offer(api, await api.org("sme"), lst["id"], 10_000_000 + i) for i in range(6)]

    async def accept(offer_id):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test/api/v1") as c:
            return await c.post(f"/offers/{offer_id}/accept", headers=uni.headers)

    results = await asyncio.gather(*(accept(o["id"]) for o in offers))
    codes = sorted(r.status_code for r in results)
    assert codes == [200] + [409] * 5, [r.text for r in results]
    deals = (await client.get("/deals", headers=uni.headers)).json()["data"]
    assert len(deals) == 1
    winner = next(r.json() for r in results if r.status_code == 200)
    statuses = {o["id"]: (await client.get(f"/offers/{o['id']}", headers=uni.headers)).json()["status"]
                for o in offers}
    assert statuses[winner["offer"]["id"]] == "accepted"
    assert sorted(statuses.values()) == ["accepted"] + ["declined"] * 5
