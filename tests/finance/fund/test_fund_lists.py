"""GET /fund/programs and GET /compensation-claims for each kind of organisation."""

from __future__ import annotations

from finance.fund import claims as fund_claims
from finance.fund import cover as fund_cover
from finance.fund.claims import Party
from tests.finance.fund.helpers import WAN, actor, agreement, claim_request, cover_request, in_tx, program
from tests.helpers import assert_problem


async def _ids(client, party, path, **params):
    r = await client.get(path, params=params, headers=party.headers)
    assert r.status_code == 200, r.text
    return [x["id"] for x in r.json()["data"]]


async def test_programmes_fund_own_bank_with_agreement_regulator_all(api, client):
    fund, other_fund = await api.org("fund", name="山西省知识产权质押融资风险补偿基金"), await api.org("fund")
    bank, stranger_bank = await api.org("bank"), await api.org("bank")
    p1 = await program(api, fund, name="太原试点")
    p2 = await program(api, fund, name="大同试点")
    p3 = await program(api, other_fund)
    deal = await agreement(api, fund, p2["id"], bank, deposit=100 * WAN, leverage=8)
    assert await _ids(client, fund, "/fund/programs") == [p2["id"], p1["id"]]
    assert await _ids(client, other_fund, "/fund/programs") == [p3["id"]]
    assert await _ids(client, stranger_bank, "/fund/programs") == []
    rows = (await client.get("/fund/programs", headers=bank.headers)).json()["data"]
    assert [r["id"] for r in rows] == [p2["id"]]
    assert rows[0]["agreement"] == {"id": deal["id"], "deposit": 100 * WAN, "leverage": 8, "quota": 800 * WAN}
    assert rows[0]["fund_name"] == "山西省知识产权质押融资风险补偿基金" and rows[0]["name"] == "大同试点"
    assert rows[0]["shares_bps"]["fund"] == 5000 and rows[0]["default_days"] == 90
    for reader in (await api.org("regulator"), await api.admin()):
        assert await _ids(client, reader, "/fund/programs", order="oldest") == [p1["id"], p2["id"], p3["id"]]
        row = (await client.get("/fund/programs", headers=reader.headers)).json()["data"][0]
        assert row["agreement"] is None
    for outsider in (await api.org("sme"), await api.org("guarantor")):
        assert_problem(await client.get("/fund/programs", headers=outsider.headers), 403, "forbidden")


async def test_claims_for_the_fund_the_bank_and_the_loss_bearers_only(api, app, client):
    fund, bank, insurer = await api.org("fund"), await api.org("bank"), await api.org("insurer")
    p = await program(api, fund, shares_bps={"fund": 5000, "insurer": 2000})
    await agreement(api, fund, p["id"], bank)
    sme = await api.org("sme", name="晋城光电科技有限公司")
    req = cover_request(bank, sme, 200 * WAN, insurer=insurer)
    await in_tx(app, fund_cover.request_cover, actor(bank), p["id"], req)
    covered = await in_tx(app, fund_claims.open_claim, actor(bank),
                          claim_request(req, 100 * WAN, [Party("insurer", insurer.org_id, 2000)]))
    # Another bank's uncovered loan: only that bank (and the regulator, admin) see its claim.
    other_bank = await api.org("bank")
    req2 = cover_request(other_bank, sme, 50 * WAN)
    uncovered = await in_tx(app, fund_claims.open_claim, actor(other_bank), claim_request(req2, 10 * WAN))
    for party in (fund, bank, insurer):
        assert await _ids(client, party, "/compensation-claims") == [covered.id]
    assert await _ids(client, other_bank, "/compensation-claims") == [uncovered.id]
    assert await _ids(client, await api.org("insurer"), "/compensation-claims") == []
    assert await _ids(client, await api.org("fund"), "/compensation-claims") == []
    assert await _ids(client, sme, "/compensation-claims") == []
    regulator = await api.org("regulator")
    assert await _ids(client, regulator, "/compensation-claims") == [uncovered.id, covered.id]
    assert await _ids(client, regulator, "/compensation-claims", program_id=p["id"]) == [covered.id]
    assert await _ids(client, regulator, "/compensation-claims", status="pending") == [uncovered.id, covered.id]
    assert await _ids(client, regulator, "/compensation-claims", status="paid") == []
    assert_problem(await client.get("/compensation-claims", params={"status": "bogus"}, headers=fund.headers),
                   422, "validation_error")
    row = (await client.get("/compensation-claims", headers=fund.headers)).json()["data"][0]
    assert row["borrower_name"] == "晋城光电科技有限公司" and row["bank_org_id"] == bank.org_id
    assert row["program_id"] == p["id"] and row["program_name"] == p["name"]
    assert sum(s["amount"] for s in row["shares"]) == row["loss"] == 100 * WAN
    r = await client.post(f"/compensation-claims/{covered.id}/approve", headers=fund.headers)
    assert r.status_code == 200, r.text
    paid = r.json()["status"]
    assert await _ids(client, fund, "/compensation-claims", status=paid) == [covered.id]
