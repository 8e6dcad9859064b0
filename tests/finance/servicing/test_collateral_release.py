"""Partial release and substitution over HTTP: the borrower asks, the bank approves only while what stays
pledged (with the substitutes) covers the outstanding principal (else 409 limit_exceeded); the released
assets' pledge ends per asset, the substitutes are pledged."""

from __future__ import annotations

from tests.finance.loans import loan_flow as lf
from tests.finance.servicing import margin_flow as mf
from tests.helpers import assert_problem

Y = lf.YUAN


async def _encumbrances(client, party, asset_id):
    asset = (await client.get(f"/assets/{asset_id}", headers=party.headers)).json()
    return [(e["kind"], e["ref_id"]) for e in asset["encumbrances"]]


async def test_release_refused_while_it_would_uncover_then_substitution_approved(api, client):
    c = await lf.cast(api)
    loan, valuation = await mf.valued_loan(api, c, share_bps=9000)
    a, b = (x["id"] for x in c.assets)
    url = f"/loans/{loan['id']}/collateral-releases"
    rival = await api.org("sme")
    assert_problem(await client.post(url, json={"asset_ids": [a]}, headers=rival.headers), 404, "not_found")
    assert_problem(await client.post(url, json={"asset_ids": [a]}, headers=c.bank.headers), 403, "forbidden")
    assert_problem(await client.post(url, json={"asset_ids": [a, b]}, headers=c.sme.headers), 422, "validation_error")
    stranger = await api.asset(rival)
    assert_problem(await client.post(url, json={"asset_ids": [stranger["id"]]}, headers=c.sme.headers),
                   422, "validation_error")
    # Releasing one of two assets leaves about half the base: short of 90% of it lent.
    r = await client.post(url, json={"asset_ids": [a]}, headers=c.sme.headers)
    assert r.status_code == 201, r.text
    release = r.json()
    part = {p["asset_id"]: p["borrowing_base"] for p in valuation["per_asset"]}
    assert (release["status"], release["remaining_borrowing_base"]) == ("requested", part[b])
    assert_problem(await client.post(url, json={"asset_ids": [b]}, headers=c.sme.headers), 409, "invalid_state")
    approve = f"/collateral-releases/{release['id']}/approve"
    assert_problem(await client.post(approve, headers=c.sme.headers), 403, "forbidden")
    assert_problem(await client.post(approve, headers=(await api.org("bank")).headers), 404, "not_found")
    r = await client.post(approve, headers=c.bank.headers)
    problem = assert_problem(r, 409, "limit_exceeded")
    assert problem["borrowing_base"] == part[b] and problem["outstanding_principal"] == loan["principal"]
    assert await _encumbrances(client, c.sme, a) == [("pledge", loan["id"])]  # nothing changed
    r = await client.post(f"/collateral-releases/{release['id']}/reject", json={"note": "不足以覆盖本金"},
                          headers=c.bank.headers)
    assert r.json()["status"] == "rejected"
    # Substitution: release a, pledge a stronger patent in its place (certified on its own).
    sub = await api.asset(c.sme, title="一种固态电解质")
    assert_problem(await client.post(url, json={"asset_ids": [a], "substitute_asset_ids": [sub["id"]]},
                                     headers=c.sme.headers), 422, "validation_error")  # no valuation
    value = await mf.certified(api, c.sme, [sub["id"]], revenue=80_000_000 * Y)
    r = await client.post(url, json={"asset_ids": [a], "substitute_asset_ids": [sub["id"]],
                                     "valuation_id": value["id"]}, headers=c.sme.headers)
    assert r.status_code == 201, r.text
    release = r.json()
    assert release["remaining_borrowing_base"] == part[b] + value["borrowing_base"] >= loan["principal"]
    r = await client.post(f"/collateral-releases/{release['id']}/approve", headers=c.bank.headers)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "approved"
    got = await lf.loan(api, c.bank, loan["id"])
    assert sorted(got["asset_ids"]) == sorted([b, sub["id"]])
    assert got["collateral"]["borrowing_base"] == part[b] + value["borrowing_base"]
    assert await _encumbrances(client, c.sme, a) == []
    assert await _encumbrances(client, c.sme, sub["id"]) == [("pledge", loan["id"])]
    assert await _encumbrances(client, c.sme, b) == [("pledge", loan["id"])]
    assert_problem(await client.post(f"/collateral-releases/{release['id']}/approve", headers=c.bank.headers),
                   409, "invalid_state")
    types = [e["type"] for e in (await client.get("/events", params={"limit": 100}, headers=c.sme.headers)).json()["data"]]
    assert "collateral_release.approved" in types and "collateral_release.rejected" in types


async def test_partial_release_approved_when_the_rest_covers(api, client):
    c = await lf.cast(api, n_assets=3)
    loan, _valuation = await mf.valued_loan(api, c, share_bps=3000)
    a = c.assets[0]["id"]
    r = await client.post(f"/loans/{loan['id']}/collateral-releases", json={"asset_ids": [a]},
                          headers=c.sme.headers)
    assert r.status_code == 201, r.text
    r = await client.post(f"/collateral-releases/{r.json()['id']}/approve", json={"note": "同意解押"},
                          headers=c.bank.headers)
    assert r.status_code == 200, r.text
    assert r.json()["decision_note"] == "同意解押"
    got = await lf.loan(api, c.bank, loan["id"])
    assert a not in got["asset_ids"] and len(got["asset_ids"]) == 2
    assert await _encumbrances(client, c.sme, a) == []
    # The released asset is the borrower's to license again, without any consent.
    r = await client.post("/listings", json={"asset_ids": [a], "mode": "nonexclusive_license",
                                             "price": 10_000 * Y}, headers=c.sme.headers)
    assert r.status_code == 201, r.text
    # Paying the loan off releases the rest.
    out = await lf.repay(api, c.sme, loan["id"], got["payoff_amount"])
    assert out["loan"]["status"] == "repaid"
    for asset_id in got["asset_ids"]:
        assert await _encumbrances(client, c.sme, asset_id) == []
