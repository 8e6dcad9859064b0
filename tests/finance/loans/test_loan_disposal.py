"""Disposal, recoveries and write-off through HTTP: each refusal, the defaults, rounding of the shares,
lots re-listed through the market, and a winner who walks away."""

from __future__ import annotations

from datetime import date

from tests.finance.loans import loan_flow as lf
from tests.helpers import assert_problem


async def _defaulted(api, client, *, valuation_id=None, insurer_share=1600):
    """An uncovered loan with an insurer, 90 days past due and declared in default (no claim yet)."""
    c = await lf.cast(api)
    if valuation_id == "certified":
        evaluator = await api.org("evaluator")
        r = await client.post("/valuations", json={"asset_ids": [a["id"] for a in c.assets], "scenario": "financing",
                                                   "inputs": {"annual_revenue": 50_000_000 * lf.YUAN}},
                              headers=c.sme.headers)
        valuation_id = r.json()["id"]
        r = await client.post(f"/valuations/{valuation_id}/certify", json={}, headers=evaluator.headers)
        assert r.status_code == 200, r.text
        application = await lf.apply(api, c, valuation_id=valuation_id)
        o = await lf.offer(api, c.bank, application["id"])
        loan = (await client.post(f"/loan-offers/{o['id']}/accept", headers=c.sme.headers)).json()
    else:
        loan = await lf.accepted_loan(api, c)
    insurer = await api.org("insurer")
    await lf.invite(api, c.bank, loan["id"], insurer, "insurance")
    r = await client.post(f"/loans/{loan['id']}/insurance", json={"share_bps": insurer_share, "premium": 1000},
                          headers=insurer.headers)
    assert r.status_code == 201, r.text
    await lf.register(api, c, loan["id"])
    assert (await client.post(f"/loans/{loan['id']}/disburse", headers=c.bank.headers)).status_code == 200
    await lf.advance_to(api, date(2026, 7, 1))
    r = await client.post(f"/loans/{loan['id']}/default", headers=c.bank.headers)
    assert r.status_code == 200, r.text
    return c, insurer, r.json()


async def _compensated(api, client, **kw):
    c, insurer, loan = await _defaulted(api, client, **kw)
    r = await client.post(f"/loans/{loan['id']}/compensation-claims", headers=c.bank.headers)
    assert r.status_code == 201, r.text
    claim = r.json()
    r = await client.post(f"/compensation-claims/{claim['id']}/approve", headers=c.bank.headers)  # uncovered
    assert r.status_code == 200 and r.json()["status"] == "paid", r.text
    assert (await lf.loan(api, c.bank, loan["id"]))["status"] == "compensated"
    return c, insurer, loan, claim


async def _sell(api, client, auction_id, amount, days):
    buyer = await api.org("sme")
    r = await client.post(f"/auctions/{auction_id}/bids", json={"amount": amount}, headers=buyer.headers)
    assert r.status_code == 201, r.text
    await api.advance(days)
    lot = (await client.get(f"/auctions/{auction_id}", headers=buyer.headers)).json()
    assert lot["status"] == "sold", lot
    return buyer, lot["deal_id"]


async def _auction_count(client, party):
    return len((await client.get("/auctions", params={"limit": 100}, headers=party.headers)).json()["data"])


async def test_disposal_refused_before_default_and_before_any_claim(api, client):
    c = await lf.cast(api)
    loan = await lf.active_loan(api, c)
    assert_problem(await client.post(f"/loans/{loan['id']}/disposal", json={}, headers=c.bank.headers),
                   409, "invalid_state")
    c, _, loan = await _defaulted(api, client)
    body = assert_problem(await client.post(f"/loans/{loan['id']}/disposal", json={}, headers=c.bank.headers),
                          409, "invalid_state")
    assert "claim" in body["detail"]
    assert (await lf.loan(api, c.bank, loan["id"]))["status"] == "defaulted"
    assert await _auction_count(client, c.bank) == 0


async def test_defaulted_with_an_open_claim_may_dispose_and_compensation_lands_meanwhile(api, client):
    c, _insurer, loan = await _defaulted(api, client)
    claim = (await client.post(f"/loans/{loan['id']}/compensation-claims", headers=c.bank.headers)).json()
    r = await client.post(f"/loans/{loan['id']}/disposal", json={}, headers=c.bank.headers)
    assert r.status_code == 201, r.text
    assert r.json()["loan_status"] == "disposing"
    # The claim is settled while the lot is open: the loan stays in disposal.
    r = await client.post(f"/compensation-claims/{claim['id']}/approve", headers=c.bank.headers)
    assert r.status_code == 200, r.text
    assert (await lf.loan(api, c.bank, loan["id"]))["status"] == "disposing"


async def test_bad_input_and_wrong_parties_write_nothing(api, client):
    c, insurer, loan, _ = await _compensated(api, client)
    url = f"/loans/{loan['id']}/disposal"
    for body in ({"reserve_price": -1}, {"reserve_price": "100"}, {"start_price": 10**20}, {"colour": "red"},
                 {"ends_on": "2026-06-30"}, {"ends_on": "2028-01-01"}):
        r = await client.post(url, json=body, headers=c.bank.headers)
        assert_problem(r, 422, "validation_error")
    assert_problem(await client.post(url, json={}, headers=(await api.org("bank")).headers), 404, "not_found")
    assert_problem(await client.post(url, json={}, headers=insurer.headers), 403, "forbidden")
    assert_problem(await client.post("/loans/loan_missing/disposal", json={}, headers=c.bank.headers), 404, "not_found")
    assert (await lf.loan(api, c.bank, loan["id"]))["status"] == "compensated"
    assert await _auction_count(client, c.bank) == 0
    assert (await client.get(f"/loans/{loan['id']}/disposals", headers=c.bank.headers)).json()["data"] == []


async def test_reserve_defaults_to_the_certified_valuation(api, client):
    c, _, loan, _ = await _compensated(api, client, valuation_id="certified")
    valuation = (await client.get(f"/valuations/{loan['valuation_id']}", headers=c.bank.headers)).json()
    r = await client.post(f"/loans/{loan['id']}/disposal", json={}, headers=c.bank.headers)
    assert r.status_code == 201, r.text
    got = r.json()
    assert got["reserve_price"] == valuation["value"] != loan["outstanding_principal"]
    assert got["start_price"] == (valuation["value"] * 8 + 5) // 10


async def test_proceeds_below_the_loss_are_shared_by_largest_remainder(api, client):
    c, _insurer, loan, claim = await _compensated(api, client)
    bore = {s["party"]: s["amount"] for s in claim["shares"]}
    assert bore == {"insurer": 16_000_000, "bank": 84_000_000}
    r = await client.post(f"/loans/{loan['id']}/disposal", json={"reserve_price": 50_000_000, "start_price": 7_777_777,
                                                                 "ends_on": "2026-07-05"}, headers=c.bank.headers)
    aid = r.json()["auction_id"]
    buyer, deal_id = await _sell(api, client, aid, 77_777_777, 5)
    r = await client.post(f"/deals/{deal_id}/pay", headers=buyer.headers)
    assert r.status_code == 201, r.text
    rec = (await client.get(f"/loans/{loan['id']}/recoveries", headers=c.sme.headers)).json()
    # 77,777,777 × 16% = 12,444,444.32 and × 84% = 65,333,332.68: the spare fen goes to the larger remainder.
    assert {x["party"]: x["amount"] for x in rec["data"]} == {"insurer": 12_444_444, "bank": 65_333_333}
    assert rec["proceeds"] == 77_777_777
    got = await lf.loan(api, c.bank, loan["id"])
    assert got["status"] == "closed"
    # Paid and recorded: a write-off now is refused.
    assert_problem(await client.post(f"/loans/{loan['id']}/write-off", headers=c.bank.headers), 409, "invalid_state")


async def test_lot_relisted_through_the_market_then_sold(api, client):
    c, insurer, loan, _ = await _compensated(api, client)
    r = await client.post(f"/loans/{loan['id']}/disposal", json={"ends_on": "2026-07-02"}, headers=c.bank.headers)
    first = r.json()["auction_id"]
    await api.advance(2)
    assert (await client.get(f"/auctions/{first}", headers=c.bank.headers)).json()["status"] == "unsold"
    r = await client.post(f"/auctions/{first}/relist", json={"reserve_price": 60_000_000, "ends_on": "2026-07-10"},
                          headers=c.bank.headers)
    assert r.status_code == 201, r.text
    second = r.json()["id"]
    # The lot is open again: the disposal endpoint and the write-off refuse.
    assert_problem(await client.post(f"/loans/{loan['id']}/disposal", json={}, headers=c.bank.headers),
                   409, "invalid_state")
    assert_problem(await client.post(f"/loans/{loan['id']}/write-off", headers=c.bank.headers), 409, "invalid_state")
    buyer, deal_id = await _sell(api, client, second, 110_000_000, 8)
    assert (await client.post(f"/deals/{deal_id}/pay", headers=buyer.headers)).status_code == 201
    rec = (await client.get(f"/loans/{loan['id']}/recoveries", headers=insurer.headers)).json()
    assert {x["party"]: x["amount"] for x in rec["data"]} == {"insurer": 16_000_000, "bank": 84_000_000,
                                                             "borrower": 10_000_000}
    rows = (await client.get(f"/loans/{loan['id']}/disposals", headers=c.bank.headers)).json()["data"]
    assert [(r["auction_id"], r["status"]) for r in rows] == [(first, "unsold"), (second, "settled")]
    assert rows[0]["auction_status"] == "unsold"
    assert (await lf.loan(api, c.bank, loan["id"]))["status"] == "closed"


async def test_winner_walks_away_then_written_off(api, client):
    c, _insurer, loan, claim = await _compensated(api, client)
    r = await client.post(f"/loans/{loan['id']}/disposal", json={"ends_on": "2026-07-03"}, headers=c.bank.headers)
    buyer, deal_id = await _sell(api, client, r.json()["auction_id"], 100_000_000, 3)
    assert_problem(await client.post(f"/loans/{loan['id']}/write-off", headers=c.bank.headers), 409, "invalid_state")
    r = await client.post(f"/deals/{deal_id}/cancel", json={"reason": "financing fell through"}, headers=buyer.headers)
    assert r.status_code == 200 and r.json()["deal"]["status"] == "cancelled", r.text
    r = await client.post(f"/loans/{loan['id']}/write-off", headers=c.bank.headers)
    assert r.status_code == 200, r.text
    assert {x["party"]: x["loss"] for x in r.json()["data"]} == {"insurer": 16_000_000, "bank": 84_000_000}
    assert r.json()["total_loss"] == claim["loss"]
    for a in c.assets:
        got = (await client.get(f"/assets/{a['id']}", headers=c.sme.headers)).json()
        assert got["owner_org_id"] == c.sme.org_id and got["encumbrances"] == []


async def test_write_off_refused_unless_disposing_and_unsold(api, client):
    c, _insurer, loan, _ = await _compensated(api, client)
    assert_problem(await client.post(f"/loans/{loan['id']}/write-off", headers=c.bank.headers), 409, "invalid_state")
    active = await lf.active_loan(api, lf.Cast(c.sme, c.bank, [await api.asset(c.sme)]))
    assert_problem(await client.post(f"/loans/{active['id']}/write-off", headers=c.bank.headers), 409, "invalid_state")
    assert (await lf.loan(api, c.bank, loan["id"]))["status"] == "compensated"
    assert (await client.get(f"/loans/{loan['id']}/write-off", headers=c.bank.headers)).json()["data"] == []
