"""Applications, competing offers and acceptance, with every refusal."""

from datetime import timedelta

from tests.finance.loans import loan_flow as lf
from tests.helpers import assert_problem


async def _count(api, party, path):
    r = await api.client.get(path, headers=party.headers)
    return len(r.json()["data"])


async def test_apply_and_see(api, client):
    c = await lf.cast(api)
    app = await lf.apply(api, c)
    assert app["status"] == "submitted" and app["asset_ids"] == [a["id"] for a in c.assets]
    other_sme = await api.org("sme")
    other_bank = await api.org("bank")
    guarantor = await api.org("guarantor")
    assert (await client.get(f"/loan-applications/{app['id']}", headers=c.bank.headers)).status_code == 200
    assert await _count(api, other_bank, "/loan-applications") == 1
    assert await _count(api, other_sme, "/loan-applications") == 0
    assert_problem(await client.get(f"/loan-applications/{app['id']}", headers=other_sme.headers), 404, "not_found")
    assert_problem(await client.get("/loan-applications", headers=guarantor.headers), 403, "forbidden")


async def test_apply_refusals_write_nothing(api, client):
    c = await lf.cast(api)
    other = await api.org("sme")
    foreign = await api.asset(other)
    body = {"asset_ids": [c.assets[0]["id"]], "amount": 100, "term_months": 12, "purpose": "x",
            "repayment_method": "equal_installment"}
    assert_problem(await client.post("/loan-applications", json={**body, "asset_ids": [foreign["id"]]},
                                     headers=c.sme.headers), 403, "forbidden")
    assert_problem(await client.post("/loan-applications", json=body, headers=c.bank.headers), 403, "forbidden")
    for bad in ({"amount": 0}, {"amount": -5}, {"amount": 10**20}, {"term_months": 0}, {"term_months": 1000},
                {"asset_ids": []}, {"repayment_method": "balloon"}, {"surprise": 1},
                {"asset_ids": [c.assets[0]["id"], c.assets[0]["id"]]}):
        assert_problem(await client.post("/loan-applications", json={**body, **bad}, headers=c.sme.headers),
                       422, "validation_error")
    assert_problem(await client.post("/loan-applications", json={**body, "asset_ids": ["ast_missing"]},
                                     headers=c.sme.headers), 404, "not_found")
    assert await _count(api, c.sme, "/loan-applications") == 0


async def test_pledged_assets_cannot_be_pledged_again(api, client):
    c = await lf.cast(api)
    loan = await lf.accepted_loan(api, c)
    await lf.register(api, c, loan["id"])
    body = {"asset_ids": [c.assets[1]["id"]], "amount": 100, "term_months": 12, "purpose": "again",
            "repayment_method": "equal_principal"}
    assert_problem(await client.post("/loan-applications", json=body, headers=c.sme.headers), 409, "asset_encumbered")
    asset = (await client.get(f"/assets/{c.assets[0]['id']}", headers=c.sme.headers)).json()
    assert [(e["kind"], e["ref_id"]) for e in asset["encumbrances"]] == [("pledge", loan["id"])]


async def test_offers_are_private_between_banks(api, client):
    c = await lf.cast(api)
    app = await lf.apply(api, c)
    rival = await api.org("bank")
    mine = await lf.offer(api, c.bank, app["id"], annual_rate_bps=435)
    theirs = await lf.offer(api, rival, app["id"], annual_rate_bps=420, amount=900_000 * lf.YUAN)
    assert mine["penalty_markup_bps"] == 5000 and mine["status"] == "pending"
    seen = await client.get(f"/loan-applications/{app['id']}/offers", headers=c.bank.headers)
    assert [o["id"] for o in seen.json()["data"]] == [mine["id"]]
    seen = await client.get(f"/loan-applications/{app['id']}/offers", headers=c.sme.headers)
    assert {o["id"] for o in seen.json()["data"]} == {mine["id"], theirs["id"]}
    other_sme = await api.org("sme")
    assert_problem(await client.get(f"/loan-applications/{app['id']}/offers", headers=other_sme.headers),
                   404, "not_found")


async def test_offer_refusals(api, client):
    c = await lf.cast(api)
    app = await lf.apply(api, c)
    today = await lf.today(api)
    good = {"amount": 100_000, "annual_rate_bps": 435, "term_months": 12, "repayment_method": "equal_installment",
            "expires_on": str(today + timedelta(days=10))}
    url = f"/loan-applications/{app['id']}/offers"
    assert_problem(await client.post(url, json=good, headers=c.sme.headers), 403, "forbidden")
    for bad in ({"amount": 0}, {"amount": app["amount"] + 1}, {"annual_rate_bps": 0}, {"annual_rate_bps": 99999},
                {"expires_on": str(today)}, {"penalty_markup_bps": -1}, {"term_months": 0}):
        assert_problem(await client.post(url, json={**good, **bad}, headers=c.bank.headers), 422, "validation_error")
    # Policy: a certified valuation is required and there is none.
    assert_problem(await client.post(url, json={**good, "requires_certified_valuation": True},
                                     headers=c.bank.headers), 409, "limit_exceeded")
    r = await client.get(url, headers=c.sme.headers)
    assert r.json()["data"] == []


async def test_offer_within_certified_borrowing_base(api, client):
    c = await lf.cast(api)
    evaluator = await api.org("evaluator")
    r = await client.post("/valuations", json={"asset_ids": [a["id"] for a in c.assets], "scenario": "financing",
                                               "inputs": {"annual_revenue": 50_000_000 * lf.YUAN}},
                          headers=c.sme.headers)
    assert r.status_code == 201, r.text
    valuation = r.json()
    app = await lf.apply(api, c, valuation_id=valuation["id"])
    assert app["valuation"]["id"] == valuation["id"]
    url = f"/loan-applications/{app['id']}/offers"
    today = await lf.today(api)
    body = {"amount": 1, "annual_rate_bps": 435, "term_months": 12, "repayment_method": "equal_installment",
            "expires_on": str(today + timedelta(days=10)), "requires_certified_valuation": True}
    # Draft, not certified: refused.
    assert_problem(await client.post(url, json=body, headers=c.bank.headers), 409, "limit_exceeded")
    r = await client.post(f"/valuations/{valuation['id']}/certify", json={}, headers=evaluator.headers)
    assert r.status_code == 200, r.text
    base = r.json()["borrowing_base"]
    if base + 1 <= app["amount"]:
        over = await client.post(url, json={**body, "amount": base + 1}, headers=c.bank.headers)
        assert_problem(over, 409, "limit_exceeded")
    ok = await client.post(url, json={**body, "amount": max(1, min(base, app["amount"]))}, headers=c.bank.headers)
    assert ok.status_code == 201, ok.text
    assert ok.json()["borrowing_base"] == base


async def test_valuation_must_be_of_these_assets(api, client):
    c = await lf.cast(api)
    r = await client.post("/valuations", json={"asset_ids": [c.assets[0]["id"]], "scenario": "financing",
                                               "inputs": {"annual_revenue": 50_000_000 * lf.YUAN}},
                          headers=c.sme.headers)
    body = {"asset_ids": [a["id"] for a in c.assets], "amount": 100, "term_months": 12, "purpose": "x",
            "repayment_method": "equal_installment", "valuation_id": r.json()["id"]}
    assert_problem(await client.post("/loan-applications", json=body, headers=c.sme.headers), 422, "validation_error")
    body["valuation_id"] = "val_missing"
    assert_problem(await client.post("/loan-applications", json=body, headers=c.sme.headers), 404, "not_found")


async def test_accept_declines_the_rest_and_only_once(api, client):
    c = await lf.cast(api)
    app = await lf.apply(api, c)
    rival = await api.org("bank")
    mine = await lf.offer(api, c.bank, app["id"])
    theirs = await lf.offer(api, rival, app["id"])
    other_sme = await api.org("sme")
    assert_problem(await client.post(f"/loan-offers/{mine['id']}/accept", headers=other_sme.headers), 404, "not_found")
    assert_problem(await client.post(f"/loan-offers/{mine['id']}/accept", headers=c.bank.headers), 404, "not_found")
    r = await client.post(f"/loan-offers/{mine['id']}/accept", headers=c.sme.headers)
    assert r.status_code == 201, r.text
    loan = r.json()
    assert loan["status"] == "pending_security" and loan["principal"] == mine["amount"]
    assert loan["bank_org_id"] == c.bank.org_id and loan["borrower_org_id"] == c.sme.org_id
    offers = {o["id"]: o["status"] for o in
              (await client.get(f"/loan-applications/{app['id']}/offers", headers=c.sme.headers)).json()["data"]}
    assert offers == {mine["id"]: "accepted", theirs["id"]: "declined"}
    got = (await client.get(f"/loan-applications/{app['id']}", headers=c.sme.headers)).json()
    assert got["status"] == "accepted" and got["loan_id"] == loan["id"]
    for offer_id in (mine["id"], theirs["id"]):
        assert_problem(await client.post(f"/loan-offers/{offer_id}/accept", headers=c.sme.headers),
                       409, "invalid_state")
    # The application takes no more offers; the rival bank still sees it (it offered) but other banks do not.
    late = await api.org("bank")
    assert_problem(await client.get(f"/loan-applications/{app['id']}", headers=late.headers), 404, "not_found")
    assert (await client.get(f"/loan-applications/{app['id']}", headers=rival.headers)).status_code == 200


async def test_expired_offer_cannot_be_accepted(api, client):
    c = await lf.cast(api)
    app = await lf.apply(api, c)
    today = await lf.today(api)
    o = await lf.offer(api, c.bank, app["id"], expires_on=str(today + timedelta(days=1)))
    await api.advance(2)
    body = assert_problem(await client.post(f"/loan-offers/{o['id']}/accept", headers=c.sme.headers),
                          409, "invalid_state")
    assert "expired" in body["detail"]
    got = (await client.get(f"/loan-applications/{app['id']}", headers=c.sme.headers)).json()
    assert got["status"] == "submitted" and got["loan_id"] is None
