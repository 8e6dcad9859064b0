"""A defaulted loan's disposal in GET /disposals, and its history and its claim's for the parties only."""

from __future__ import annotations

from tests.finance.loans.test_loan_disposal import _compensated
from tests.helpers import assert_problem


async def test_disposals_list_and_histories(api, client):
    c, insurer, loan, claim = await _compensated(api, client)
    r = await client.post(f"/loans/{loan['id']}/disposal", json={}, headers=c.bank.headers)
    assert r.status_code == 201, r.text
    disposal = r.json()
    for party in (c.bank, await api.admin()):
        rows = (await client.get("/disposals", headers=party.headers)).json()["data"]
        assert [(d["id"], d["loan_id"], d["auction_id"], d["status"]) for d in rows] == [
            (disposal["id"], loan["id"], disposal["auction_id"], "open")]
        assert rows[0]["bank_org_id"] == c.bank.org_id and rows[0]["borrower_name"]
    for outsider in (await api.org("bank"), await api.org("fund"), c.sme):
        assert (await client.get("/disposals", headers=outsider.headers)).json()["data"] == []
    assert (await client.get("/disposals", params={"status": "sold"}, headers=c.bank.headers)).json()["data"] == []

    r = await client.get(f"/loans/{loan['id']}/history", headers=c.sme.headers)
    assert r.status_code == 200, r.text
    actions = [e["action"] for e in r.json()["data"]]
    assert actions[0] == "loan_application.submitted"
    for action in ("loan_offer.accept", "loan.created", "loan.register_pledge", "loan.disburse",
                   "loan.fall_overdue", "loan.declare_default", "loan.compensate", "loan.dispose"):
        assert action in actions, (action, actions)
    assert actions.index("loan.disburse") < actions.index("loan.fall_overdue") < actions.index("loan.declare_default")
    first = r.json()["data"][0]
    assert first["actor_org_id"] == c.sme.org_id and first["actor_org_name"] and first["business_date"]
    default = next(e for e in r.json()["data"] if e["action"] == "loan.declare_default")
    assert default["before"] == {"status": "overdue"} and default["after"]["status"] == "defaulted"
    newest = (await client.get(f"/loans/{loan['id']}/history", params={"order": "newest", "limit": 1},
                               headers=insurer.headers)).json()
    assert newest["data"][0]["action"] == "loan.dispose" and newest["has_more"]
    assert_problem(await client.get(f"/loans/{loan['id']}/history", headers=(await api.org("bank")).headers),
                   404, "not_found")

    r = await client.get(f"/compensation-claims/{claim['id']}/history", headers=insurer.headers)
    assert r.json()["data"][0]["action"] == "compensation_claim.opened"
    assert_problem(await client.get(f"/compensation-claims/{claim['id']}/history",
                                    headers=(await api.org("insurer")).headers), 404, "not_found")

    asset_id = c.assets[0]["id"]
    r = await client.get(f"/assets/{asset_id}/history", headers=c.sme.headers)
    assert r.status_code == 200 and r.json()["data"][0]["action"] == "asset.registered"
    assert "asset.encumbered" in [e["action"] for e in r.json()["data"]]
    assert_problem(await client.get(f"/assets/{asset_id}/history", headers=c.bank.headers), 404, "not_found")
