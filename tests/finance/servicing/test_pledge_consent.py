"""The pledgee's consent over HTTP: every market step on a pledged asset refused without it (409
asset_encumbered naming the loan), the consent's parties, proceeds held in escrow until the bank releases."""

from tests.finance.loans import loan_flow as lf
from tests.helpers import assert_problem

Y = lf.YUAN


async def test_every_market_step_needs_the_pledgee_consent(api, client):
    c = await lf.cast(api)
    loan = await lf.active_loan(api, c)
    a = c.assets[0]["id"]
    tries = [
        ("/listings", {"asset_ids": [a], "mode": "nonexclusive_license", "price": 10_000 * Y}),
        ("/listings", {"asset_ids": [a], "mode": "assignment", "price": 10_000 * Y}),
        (f"/assets/{a}/open-license", {"rate_bps": 300, "term_months": 24}),
        ("/auctions", {"asset_ids": [a], "start_price": 10_000 * Y, "reserve_price": 20_000 * Y,
                       "min_increment": 100 * Y, "ends_on": "2026-04-01"}),
    ]
    for path, body in tries:
        problem = assert_problem(await client.post(path, json=body, headers=c.sme.headers), 409, "asset_encumbered")
        assert problem["loan_id"] == loan["id"] and loan["id"] in problem["detail"]
    # Asking: only the borrower, only for the loan's own assets; deciding: only the pledgee bank.
    body = {"loan_id": loan["id"], "action": "listing", "proceeds": "prepay", "asset_ids": [a]}
    other_sme, rival = await api.org("sme"), await api.org("bank")
    assert_problem(await client.post("/pledge-consents", json=body, headers=other_sme.headers), 404, "not_found")
    assert_problem(await client.post("/pledge-consents", json=body, headers=c.bank.headers), 403, "forbidden")
    stranger = await api.asset(c.sme)
    assert_problem(await client.post("/pledge-consents", json={**body, "asset_ids": [stranger["id"]]},
                                     headers=c.sme.headers), 422, "validation_error")
    assert_problem(await client.post("/pledge-consents", json={**body, "proceeds": "keep"}, headers=c.sme.headers),
                   422, "validation_error")
    r = await client.post("/pledge-consents", json=body, headers=c.sme.headers)
    assert r.status_code == 201, r.text
    consent = r.json()
    assert consent["status"] == "pending" and consent["bank_org_id"] == c.bank.org_id
    # Pending is not consent.
    listing = {"asset_ids": [a], "mode": "nonexclusive_license", "price": 10_000 * Y}
    assert_problem(await client.post("/listings", json=listing, headers=c.sme.headers), 409, "asset_encumbered")
    url = f"/pledge-consents/{consent['id']}"
    assert_problem(await client.post(f"{url}/approve", headers=rival.headers), 404, "not_found")
    assert_problem(await client.post(f"{url}/approve", headers=c.sme.headers), 403, "forbidden")
    assert_problem(await client.get(url, headers=rival.headers), 404, "not_found")
    r = await client.post(f"{url}/reject", json={"note": "价格过低"}, headers=c.bank.headers)
    assert r.json()["status"] == "rejected"
    assert_problem(await client.post(f"{url}/approve", headers=c.bank.headers), 409, "invalid_state")
    assert_problem(await client.post("/listings", json=listing, headers=c.sme.headers), 409, "asset_encumbered")
    # A consent to license covers a licence listing, not an assignment or another asset.
    r = await client.post("/pledge-consents", json={**body, "action": "license"}, headers=c.sme.headers)
    await client.post(f"/pledge-consents/{r.json()['id']}/approve", headers=c.bank.headers)
    assert_problem(await client.post("/listings", json={**listing, "mode": "assignment"}, headers=c.sme.headers),
                   409, "asset_encumbered")
    both = {**listing, "asset_ids": [a, c.assets[1]["id"]]}
    assert_problem(await client.post("/listings", json=both, headers=c.sme.headers), 409, "asset_encumbered")
    r = await client.post("/listings", json=listing, headers=c.sme.headers)
    assert r.status_code == 201, r.text
    bound = (await client.get(f"/loans/{loan['id']}/pledge-consents", headers=c.bank.headers)).json()
    assert [(x["status"], x["object_id"]) for x in bound] == [("rejected", None), ("approved", r.json()["id"])]
    # Used once: a second listing needs a consent of its own.
    assert_problem(await client.post("/listings", json=listing, headers=c.sme.headers), 409, "asset_encumbered")


async def test_proceeds_held_in_escrow_until_the_bank_releases_them(api, client):
    c = await lf.cast(api)
    loan = await lf.active_loan(api, c)
    a = c.assets[0]["id"]
    r = await client.post("/pledge-consents", json={"loan_id": loan["id"], "action": "listing", "proceeds": "escrow",
                                                    "asset_ids": [a]}, headers=c.sme.headers)
    await client.post(f"/pledge-consents/{r.json()['id']}/approve", headers=c.bank.headers)
    lst = (await client.post("/listings", json={"asset_ids": [a], "mode": "nonexclusive_license", "price": 50_000 * Y},
                             headers=c.sme.headers)).json()
    buyer = await api.org("sme")
    offer = (await client.post(f"/listings/{lst['id']}/offers", json={"amount": 50_000 * Y}, headers=buyer.headers)).json()
    deal = (await client.post(f"/offers/{offer['id']}/accept", headers=c.sme.headers)).json()["deal"]
    paid = (await client.post(f"/deals/{deal['id']}/pay", headers=buyer.headers)).json()
    assert paid["deal"]["status"] == "recorded" and paid["payment"]["escrow_state"] == "held"
    assert paid["payment"]["payee_org_id"] == c.sme.org_id
    held = (await client.get(f"/loans/{loan['id']}/escrows", headers=c.sme.headers)).json()
    assert [(e["status"], e["amount"], e["deal_id"]) for e in held] == [("held", 50_000 * Y, deal["id"])]
    got = await lf.loan(api, c.bank, loan["id"])
    assert got["outstanding_principal"] == loan["principal"]  # nothing repaid
    url = f"/loan-escrows/{held[0]['id']}/release"
    assert_problem(await client.post(url, headers=c.sme.headers), 403, "forbidden")
    assert_problem(await client.post(url, headers=(await api.org("bank")).headers), 404, "not_found")
    r = await client.post(url, headers=c.bank.headers)
    assert r.status_code == 200 and r.json()["status"] == "released"
    assert_problem(await client.post(url, headers=c.bank.headers), 409, "invalid_state")
    payment = (await client.get(f"/payments/{paid['payment']['id']}", headers=c.sme.headers)).json()
    assert payment["escrow_state"] == "released"
