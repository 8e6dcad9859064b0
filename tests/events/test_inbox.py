"""The inbox through whole stories: an item appears when someone must act, and the action clears it."""

from __future__ import annotations

from datetime import timedelta

from finance.fund import claims as fund_claims
from finance.fund import cover as fund_cover
from finance.fund.claims import Party
from tests.finance.fund.helpers import WAN, actor, agreement, claim_request, cover_request, in_tx, program
from tests.finance.loans import loan_flow as lf
from tests.valuation.helpers import VECTOR_INPUTS


async def _inbox(client, party, lang=None):
    headers = {**party.headers, **({"Accept-Language": lang} if lang else {})}
    r = await client.get("/inbox", headers=headers)
    assert r.status_code == 200, r.text
    return r.json()["data"]


def _kinds(items):
    return [(i["kind"], i["object_id"]) for i in items]


async def test_bank_and_sme_work_a_loan_from_their_inboxes(api, client):
    c = await lf.cast(api)
    other_bank = await api.org("bank")
    assert await _inbox(client, c.bank) == [] and await _inbox(client, c.sme) == []
    application = await lf.apply(api, c)
    for bank in (c.bank, other_bank):
        items = await _inbox(client, bank)
        assert _kinds(items) == [("application.to_answer", application["id"])]
        assert items[0]["action"] == {"method": "POST", "path": f"/loan-applications/{application['id']}/offers"}
        assert "awaits your offer" in items[0]["title"]
    expires = (await lf.today(api)) + timedelta(days=2)
    o = await lf.offer(api, c.bank, application["id"], expires_on=expires.isoformat())
    assert _kinds(await _inbox(client, c.bank)) == [("offer.expiring", o["id"])]  # answered; the offer expires soon
    assert _kinds(await _inbox(client, other_bank)) == [("application.to_answer", application["id"])]
    items = await _inbox(client, c.sme, "zh-CN,zh;q=0.9,en;q=0.5")
    assert _kinds(items) == [("offer.received", o["id"])] and items[0]["due_on"] == expires.isoformat()
    assert "报价" in items[0]["title"] and "4.35%" in items[0]["title"]
    assert items[0]["action"] == {"method": "POST", "path": f"/loan-offers/{o['id']}/accept"}
    assert "offers" in (await _inbox(client, c.sme, "en-GB"))[0]["title"]
    loan = (await client.post(items[0]["action"]["path"], headers=c.sme.headers)).json()
    assert await _inbox(client, c.sme) == [] and await _inbox(client, other_bank) == []
    item = (await _inbox(client, c.bank))[0]
    assert (item["kind"], item["action"]["path"]) == ("loan.pledge_to_register",
                                                      f"/loans/{loan['id']}/pledge-registration")
    await lf.register(api, c, loan["id"])
    assert _kinds(await _inbox(client, c.bank)) == [("loan.to_disburse", loan["id"])]
    await client.post(f"/loans/{loan['id']}/disburse", headers=c.bank.headers)
    assert await _inbox(client, c.bank) == []
    rows = await lf.schedule(api, c.sme, loan["id"])
    first_due = rows[0]["due_on"]
    await lf.advance_to(api, lf.START + timedelta(days=20))
    assert await _inbox(client, c.sme) == []  # not yet within 7 days
    await lf.advance_to(api, lf.START + timedelta(days=26))
    items = await _inbox(client, c.sme)
    assert [(i["kind"], i["due_on"], i["action"]["path"]) for i in items] == [
        ("installment.due", first_due, f"/loans/{loan['id']}/repayments")]
    await lf.repay(api, c.sme, loan["id"], rows[0]["payment"])
    assert await _inbox(client, c.sme) == []
    # The second instalment is left unpaid: overdue for the borrower, newly overdue for the bank.
    await lf.advance_to(api, lf.START + timedelta(days=65))
    items = await _inbox(client, c.sme)
    assert [i["kind"] for i in items] == ["installment.overdue"] and items[0]["due_on"] == rows[1]["due_on"]
    assert _kinds(await _inbox(client, c.bank)) == [("loan.newly_overdue", loan["id"])]
    owed = (await lf.loan(api, c.sme, loan["id"]))["overdue_amount"] + \
        (await lf.loan(api, c.sme, loan["id"]))["penalty_outstanding"]
    await lf.repay(api, c.sme, loan["id"], owed)
    assert await _inbox(client, c.sme) == [] and await _inbox(client, c.bank) == []


async def test_fund_guarantor_and_quota_items(api, client, app):
    fund, bank, insurer = await api.org("fund"), await api.org("bank"), await api.org("insurer")
    p = await program(api, fund, shares_bps={"fund": 5000, "insurer": 2000})
    await agreement(api, fund, p["id"], bank, deposit=21 * WAN, leverage=10)  # quota ¥2.1m
    sme = await api.org("sme")
    req = cover_request(bank, sme, 200 * WAN, insurer=insurer)
    await in_tx(app, fund_cover.request_cover, actor(bank), p["id"], req)
    items = await _inbox(client, fund)
    assert [i["kind"] for i in items] == ["quota.nearly_used"] and "95.2%" in items[0]["title"]
    claim = await in_tx(app, fund_claims.open_claim, actor(bank),
                        claim_request(req, 100 * WAN, [Party("insurer", insurer.org_id, 2000)]))
    kinds = {(i["kind"], i["object_id"]) for i in await _inbox(client, fund)}
    assert ("claim.to_approve", claim.id) in kinds
    # The claimed cover no longer uses the quota; its bank is paused (the claim counts as non-performing).
    assert "quota.nearly_used" not in {k for k, _ in kinds} and "bank.paused" in {k for k, _ in kinds}
    share = await _inbox(client, insurer)
    assert _kinds(share) == [("claim.share", claim.id)] and "¥200,000.00" in share[0]["title"]
    assert await _inbox(client, await api.org("insurer")) == []
    r = await client.post(f"/compensation-claims/{claim.id}/approve", headers=fund.headers)
    assert r.status_code == 200, r.text
    if r.json()["status"] == "paid":
        assert await _inbox(client, insurer) == []
    assert "claim.to_approve" not in [i["kind"] for i in await _inbox(client, fund)]


async def test_evaluator_certifies_what_a_loan_application_waits_for(api, client):
    c = await lf.cast(api, n_assets=1)
    evaluator = await api.org("evaluator")
    r = await client.post("/valuations", json={"asset_ids": [c.assets[0]["id"]], "scenario": "financing",
                                               "inputs": VECTOR_INPUTS}, headers=c.sme.headers)
    valuation = r.json()
    assert await _inbox(client, evaluator) == []  # nobody relies on it yet
    await lf.apply(api, c, valuation_id=valuation["id"])
    items = await _inbox(client, evaluator)
    assert _kinds(items) == [("valuation.to_certify", valuation["id"])]
    r = await client.post(items[0]["action"]["path"], json={}, headers=evaluator.headers)
    assert r.status_code == 200, r.text
    assert await _inbox(client, evaluator) == []
