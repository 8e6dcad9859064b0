"""The other roles' pages over HTTP: the invited guarantor joins a loan; an SME sells on the market and
its buyer pays the deal; a borrower claims a subsidy that the regulator approves."""

from __future__ import annotations

from tests.console.helpers import browser, post_form, sign_in
from tests.finance.loans import loan_flow as lf
from tests.finance.subsidies.helpers import loan as subsidy_loan
from tests.finance.subsidies.helpers import policy, publish_lpr


async def test_the_invited_guarantor_joins_and_a_stranger_cannot(api, app):
    c = await lf.cast(api, n_assets=1)
    guarantor, stranger = await api.org("guarantor", name="晋融担保"), await api.org("guarantor")
    loan = await lf.accepted_loan(api, c)
    await lf.invite(api, c.bank, loan["id"], guarantor, "guarantee")
    path = f"/console/loans/{loan['id']}"
    async with browser(app) as g, browser(app) as s:
        await sign_in(g, guarantor)
        assert f'href="{path}"' in (await g.get("/console/")).text  # the invitation in the inbox
        r = await post_form(g, path, f"{path}/join/guarantee", {"share": "三成", "fee_rate": "2"})
        assert r.status_code == 422 and 'data-testid="error-share"' in r.text
        r = await post_form(g, path, f"{path}/join/guarantee", {"share": "30", "fee_rate": "2"})
        assert r.status_code == 303, r.text
        got = await lf.loan(api, c.bank, loan["id"])
        assert (got["guarantee"]["share_bps"], got["guarantee"]["fee_rate_bps"]) == (3000, 200)
        await sign_in(s, stranger)
        assert (await s.get(path)).status_code == 404


async def test_sme_accepts_an_offer_and_the_buyer_pays_the_deal(api, app):
    seller, buyer = await api.org("sme", name="卖方科技"), await api.org("sme", name="买方科技")
    asset = await api.asset(seller)
    r = await api.client.post("/listings", json={"asset_ids": [asset["id"]], "mode": "assignment",
                                                 "price": 300_000 * lf.YUAN}, headers=seller.headers)
    assert r.status_code == 201, r.text
    r = await api.client.post(f"/listings/{r.json()['id']}/offers", json={"amount": 280_000 * lf.YUAN},
                              headers=buyer.headers)
    assert r.status_code == 201, r.text
    offer_id = r.json()["id"]
    async with browser(app) as s, browser(app) as b:
        await sign_in(s, seller)
        page = (await s.get("/console/market")).text
        assert "280,000.00 元" in page and "买方科技" in page and "30.00 万元" in page
        assert f"/console/market/offers/{offer_id}/withdraw" not in page  # only the buyer withdraws
        r = await post_form(s, "/console/market", f"/console/market/offers/{offer_id}/accept", {})
        assert r.status_code == 303, r.text
        await sign_in(b, buyer)
        page = (await b.get("/console/market")).text
        deal_id = page.split("/console/market/deals/")[1].split("/")[0]
        r = await post_form(b, "/console/market", f"/console/market/deals/{deal_id}/pay", {})
        assert r.status_code == 303, r.text
        deal = await api.client.get(f"/deals/{deal_id}", headers=buyer.headers)
        assert deal.json()["status"] == "recorded"
        # Paying again is refused by the API and shown, in Chinese.
        r = await post_form(b, "/console/market", f"/console/market/deals/{deal_id}/pay", {})
        assert r.status_code == 409 and "当前状态下不允许此操作" in r.text


async def test_borrower_claims_a_subsidy_and_the_regulator_approves(api, app):
    regulator, sme, bank = await api.org("regulator"), await api.org("sme"), await api.org("bank")
    await publish_lpr(api)
    p = await policy(api, regulator, name="贷款贴息")
    loan = await subsidy_loan(api, sme, bank)
    async with browser(app) as s, browser(app) as reg:
        await sign_in(s, sme)
        r = await post_form(s, "/console/subsidies", "/console/subsidies/claims",
                            {"policy_id": p["id"], "loan_id": loan["id"]})
        assert r.status_code == 303, r.text
        await sign_in(reg, regulator)
        page = (await reg.get("/console/subsidies")).text
        claim_id = page.split("/console/subsidies/claims/")[1].split("/")[0]
        r = await post_form(reg, "/console/subsidies", f"/console/subsidies/claims/{claim_id}/approve", {})
        assert r.status_code == 303, r.text
        got = await api.client.get(f"/subsidy-claims/{claim_id}", headers=regulator.headers)
        assert got.json()["status"] == "paid" and got.json()["amount_paid"] == got.json()["amount"] > 0, got.json()


async def test_sme_posts_a_need_and_reads_its_matches(api, app):
    sme, owner = await api.org("sme"), await api.org("university")
    await api.asset(owner, title="一种锂电池热管理装置", ipc_codes=["H01M 10/613"])
    async with browser(app) as s:
        await sign_in(s, sme)
        r = await post_form(s, "/console/needs", "/console/needs", {"title": "", "description": "x"})
        assert r.status_code == 422 and 'data-testid="error-title"' in r.text
        r = await post_form(s, "/console/needs", "/console/needs",
                            {"title": "电池热管理技术", "description": "寻求锂电池热管理 battery thermal management 专利",
                             "ipc_codes": "H01M 10/613"})
        assert r.status_code == 303, r.text
        page = (await s.get(r.headers["location"])).text
        assert 'data-testid="matches"' in page and "一种锂电池热管理装置" in page
        assert "电池热管理技术" in (await s.get("/console/needs")).text
