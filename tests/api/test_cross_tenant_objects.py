"""The same outsider sweep as test_cross_tenant.py over the objects made further along: auctions, licenses
and royalty reports, payments, compensation and subsidy claims, subsidy policies, approval requests, and a
loan's servicing (pledge consents, escrow, restructures, charges). Every operation on them by an
organisation with nothing to do with them answers 404 (403 where the object is public), and changes nothing.
"""

from datetime import timedelta

from finance.fund import claims as fund_claims
from finance.fund import cover as fund_cover
from finance.fund.models import FundProgram
from finance.ledger import service as ledger
from finance.ledger.core import Chart, Recipes
from kernel.actor import SYSTEM
from tests.api.test_cross_tenant import ANY_USER, OPEN, check_outsiders
from tests.finance.fund.helpers import actor, agreement, claim_request, cover_request, in_tx, program
from tests.finance.loans import loan_flow as lf
from tests.finance.subsidies import helpers as sh
from tests.market import helpers as mh

Y = lf.YUAN
OPEN_HERE = {
    **OPEN,
    ("GET", "/auctions/{auction_id}"): ANY_USER,               # the market is public to users
    ("POST", "/auctions/{auction_id}/bids"): ANY_USER,         # another organisation bids
    ("GET", "/subsidy-policies/{policy_id}"): ANY_USER,        # policies are published for applicants
    ("GET", "/loan-restructures/{restructure_id}"): {"fund"},  # the fund sees every loan and its servicing
}
NEW_IDS = {"auction_id", "license_id", "report_id", "payment_id", "claim_id", "policy_id", "request_id",
           "consent_id", "escrow_id", "restructure_id", "charge_id"}


async def _licence_with_report(api, client):
    uni, sme = await api.org("university"), await api.org("sme")
    asset = await api.asset(uni)
    r = await client.post(f"/assets/{asset['id']}/open-license", json={"term_months": 24, "rate_bps": 500},
                          headers=uni.headers)
    assert r.status_code == 201, r.text
    lic = (await client.post(f"/assets/{asset['id']}/open-license/accept", headers=sme.headers)).json()
    await api.advance(31)
    r = await client.post(f"/licenses/{lic['id']}/royalty-reports", headers=sme.headers,
                          json={"period_start": "2026-03-02", "period_end": "2026-03-31", "net_sales": 1_000_000})
    assert r.status_code == 201, r.text
    return lic["id"], r.json()["id"]


async def _auction(api, client):
    owner = await api.org("university")
    asset = await api.asset(owner)
    ends = (await lf.today(api)) + timedelta(days=10)
    r = await client.post("/auctions", headers=owner.headers, json={
        "asset_ids": [asset["id"]], "start_price": 1_000_000, "reserve_price": 2_000_000, "min_increment": 100_000,
        "ends_on": str(ends)})
    assert r.status_code == 201, r.text
    return r.json()["id"]


async def _paid_deal_payment(api, client):
    seller, buyer = await api.org("sme"), await api.org("sme")
    asset = await api.asset(seller)
    listing = await mh.listing(api, seller, [asset["id"]])
    offer = await mh.offer(api, buyer, listing["id"])
    deal = (await client.post(f"/offers/{offer['id']}/accept", headers=seller.headers)).json()["deal"]
    r = await client.post(f"/deals/{deal['id']}/pay", headers=buyer.headers)
    assert r.status_code == 201, r.text
    return r.json()["payment"]["id"]


async def _compensation_claim(api, app):
    fund, bank, sme = await api.org("fund"), await api.org("bank"), await api.org("sme")
    p = await program(api, fund)
    await agreement(api, fund, p["id"], bank)
    req = cover_request(bank, sme, 100 * 10_000 * Y)
    await in_tx(app, fund_cover.request_cover, actor(bank), p["id"], req)
    claim = await in_tx(app, fund_claims.open_claim, actor(bank), claim_request(req, 100 * 10_000 * Y))
    return claim.id


async def _subsidy(api):
    regulator, sme, bank = await api.org("regulator"), await api.org("sme"), await api.org("bank")
    await sh.publish_lpr(api)
    policy = await sh.policy(api, regulator)
    loan = await sh.loan(api, sme, bank)
    claim = await sh.filed(api, sme, policy["id"], loan["id"])
    return policy["id"], claim["id"]


async def _approval_request(api, client, app):
    maker = await api.org("fund")
    program_id = "prg_outsiders"
    async with app.state.session_factory() as s:
        await ledger.ensure_program_accounts(s, program_id)
        await ledger.post(s, SYSTEM, idempotency_key="cap-outsiders", lines=Recipes.capital_in(program_id, 100_000),
                          description="capital", kind="capital_in")
        s.add(FundProgram(id=program_id, fund_org_id=maker.org_id, name="四眼计划", capital=0))
        await s.commit()
    r = await client.patch(f"/orgs/{maker.org_id}", json={"approval_policy": {"ledger_entries": True}},
                           headers=maker.headers)
    assert r.status_code == 200, r.text
    entry = {"lines": [{"account": Chart.compensation_expense(program_id), "side": "debit", "amount": 500},
                       {"account": Chart.cash(program_id), "side": "credit", "amount": 500}],
             "description": "write-down"}
    r = await client.post("/fund/ledger/entries", json=entry, headers={**maker.headers, "Idempotency-Key": "4eyes"})
    assert r.status_code == 202, r.text
    return r.json()["approval_request"]["id"]


async def _servicing(api, client):
    c = await lf.cast(api)
    loan = await lf.active_loan(api, c, disclosed_charges={"processing_fee": 5000 * Y})
    asset = c.assets[0]["id"]
    r = await client.post("/pledge-consents", headers=c.sme.headers, json={
        "loan_id": loan["id"], "action": "listing", "proceeds": "escrow", "asset_ids": [asset]})
    assert r.status_code == 201, r.text
    consent = r.json()
    r = await client.post(f"/loans/{loan['id']}/charges", headers=c.bank.headers,
                          json={"kind": "processing_fee", "amount": 1000 * Y, "due_on": str(await lf.today(api))})
    assert r.status_code == 201, r.text
    charge = r.json()
    r = await client.post(f"/loans/{loan['id']}/restructures", headers=c.bank.headers, json={
        "kind": "reschedule", "effective_on": str(await lf.today(api)), "reason": "调整还款计划"})
    assert r.status_code == 201, r.text
    return consent["id"], charge["id"], r.json()["id"]


async def _escrow(api, client):
    """Proceeds of a consented license of a pledged patent, held in escrow for the bank."""
    c = await lf.cast(api)
    loan = await lf.active_loan(api, c)
    asset = c.assets[0]["id"]
    r = await client.post("/pledge-consents", headers=c.sme.headers, json={
        "loan_id": loan["id"], "action": "listing", "proceeds": "escrow", "asset_ids": [asset]})
    assert (await client.post(f"/pledge-consents/{r.json()['id']}/approve", headers=c.bank.headers)).status_code == 200
    listing = await mh.listing(api, c.sme, [asset], mode="nonexclusive_license", price=50_000 * Y)
    buyer = await api.org("sme")
    offer = await mh.offer(api, buyer, listing["id"], amount=50_000 * Y)
    deal = (await client.post(f"/offers/{offer['id']}/accept", headers=c.sme.headers)).json()["deal"]
    assert (await client.post(f"/deals/{deal['id']}/pay", headers=buyer.headers)).status_code == 201
    [held] = (await client.get(f"/loans/{loan['id']}/escrows", headers=c.bank.headers)).json()
    return held["id"]


async def test_later_objects_are_404_to_outsiders_and_change_nothing(api, client, app):
    license_id, report_id = await _licence_with_report(api, client)
    consent_id, charge_id, restructure_id = await _servicing(api, client)
    policy_id, subsidy_claim_id = await _subsidy(api)
    ids = {"auction_id": await _auction(api, client), "license_id": license_id, "report_id": report_id,
           "payment_id": await _paid_deal_payment(api, client), "policy_id": policy_id,
           "/subsidy-claims/": subsidy_claim_id, "/compensation-claims/": await _compensation_claim(api, app),
           "request_id": await _approval_request(api, client, app), "consent_id": consent_id,
           "charge_id": charge_id, "restructure_id": restructure_id, "escrow_id": await _escrow(api, client)}
    checked = await check_outsiders(api, client, app, ids, open_to=OPEN_HERE, only=NEW_IDS)
    assert checked >= 120
