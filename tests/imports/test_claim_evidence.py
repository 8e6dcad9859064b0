"""A programme that requires claim evidence: the fund cannot approve a claim until the bank attaches it."""

from __future__ import annotations

from finance.fund import claims as fund_claims
from finance.fund import cover as fund_cover
from tests.finance.fund.helpers import WAN, actor, agreement, claim_request, cover_request, in_tx, program
from tests.helpers import assert_problem
from tests.imports.test_documents import PDF, attach


async def test_claim_evidence_is_required_before_approval_when_the_programme_says_so(api, app):
    fund, bank, regulator, stranger = (await api.org("fund"), await api.org("bank"), await api.org("regulator"),
                                       await api.org("sme"))
    p = await program(api, fund)
    await agreement(api, fund, p["id"], bank)
    r = await api.client.patch(f"/fund/programs/{p['id']}/controls", json={"requires_claim_evidence": True},
                               headers=fund.headers)
    assert r.status_code == 200 and r.json()["requires_claim_evidence"] is True
    sme = await api.org("sme")
    req = cover_request(bank, sme, 100 * WAN)
    await in_tx(app, fund_cover.request_cover, actor(bank), p["id"], req)
    claim = await in_tx(app, fund_claims.open_claim, actor(bank), claim_request(req, 50 * WAN))
    url = f"/compensation-claims/{claim.id}/approve"
    r = await api.client.post(url, headers={**fund.headers, "Accept-Language": "zh-CN"})
    assert_problem(r, 409, "invalid_state")
    assert "代偿证据" in r.json()["detail"]
    assert (await attach(api, stranger, "compensation_claim", claim.id, kind="claim_evidence")).status_code == 404
    doc = await attach(api, bank, "compensation_claim", claim.id, PDF, "claim_evidence", "催收记录.pdf")
    assert doc.status_code == 201, doc.text
    listed = await api.client.get("/documents", params={"object_type": "compensation_claim",
                                                        "object_id": claim.id}, headers=regulator.headers)
    assert [d["kind"] for d in listed.json()["data"]] == ["claim_evidence"]  # the regulator sees the claim
    r = await api.client.post(url, headers=fund.headers)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "paid"
