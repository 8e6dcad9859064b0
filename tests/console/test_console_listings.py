"""Listings over HTTP: an SME lists a patent (a malformed price refused at its field), a buyer finds it and
offers, the seller accepts on the listing's page and the buyer pays the deal; in Chinese and in English."""

from __future__ import annotations

import re

from tests.console.helpers import browser, post_form, sign_in


async def test_sme_lists_a_patent_and_a_buyer_offers_and_pays(api, app):
    seller, buyer = await api.org("sme", name="晋阳新材料"), await api.org("sme", name="龙城电池")
    asset = await api.asset(seller, title="一种固态电解质膜")
    async with browser(app) as s, browser(app) as b:
        await sign_in(s, seller)
        page = (await s.get("/console/listings")).text
        assert "挂牌出售或许可" in page and asset["number"] in page and 'for="f-price"' in page
        form = {"asset_ids": asset["id"], "mode": "assignment", "price": "三十万", "title": ""}
        r = await post_form(s, "/console/listings", "/console/listings", form)
        assert r.status_code == 422 and 'data-testid="error-price"' in r.text and "请输入以元为单位的金额" in r.text
        r = await post_form(s, "/console/listings", "/console/listings", {**form, "price": "300,000"})
        assert r.status_code == 303, r.text[:800]
        path = r.headers["location"].split("?")[0]
        listing_id = path.rsplit("/", 1)[1]
        page = (await s.get(r.headers["location"])).text
        assert "已挂牌" in page and "30.00 万元" in page and "300,000.00 元" in page and "转让" in page
        assert 'action="/console/listings/' + listing_id + '/offers"' not in page  # no offer on one's own

        await sign_in(b, buyer)
        found = (await b.get("/console/listings", params={"q": "固态电解质"})).text
        assert f'href="{path}"' in found and "晋阳新材料" in found
        r = await post_form(b, path, f"{path}/offers", {"amount": "0"})
        assert r.status_code == 422 and 'data-testid="form-error"' in r.text  # the API refuses a zero amount
        r = await post_form(b, path, f"{path}/offers", {"amount": "280,000", "message": "可否尽快签约"})
        assert r.status_code == 303, r.text[:800]
        assert "报价已发出" in (await b.get(r.headers["location"])).text

        page = (await s.get(path)).text
        assert "龙城电池" in page and "280,000.00 元" in page and "可否尽快签约" in page
        offer_id = re.search(rf"{path}/offers/([^/]+)/accept", page).group(1)
        r = await post_form(s, path, f"{path}/offers/{offer_id}/accept", {})
        assert r.status_code == 303, r.text[:800]
        page = (await b.get(path)).text
        assert "待支付" in page and "/console/market/deals/" in page
        deal_id = page.split("/console/market/deals/")[1].split("/")[0]
        r = await post_form(b, path, f"/console/market/deals/{deal_id}/pay", {})
        assert r.status_code == 303, r.text[:800]
        deal = await api.client.get(f"/deals/{deal_id}", headers=buyer.headers)
        assert deal.json()["status"] == "recorded"
        assert 'data-testid="listing-status">已成交' in (await s.get(path)).text


async def test_listings_in_english(api, app):
    seller = await api.org("university", name="Taiyuan University of Technology")
    asset = await api.asset(seller, title="Solid electrolyte membrane")
    async with browser(app) as s:
        await sign_in(s, seller, lang="en")
        page = (await s.get("/console/listings")).text
        assert "IP listings" in page and "List for sale or license" in page and "Asking price (yuan)" in page
        r = await post_form(s, "/console/listings", "/console/listings",
                            {"asset_ids": asset["id"], "mode": "nonexclusive_license", "price": "50000.123"})
        assert r.status_code == 422 and "Enter an amount in yuan" in r.text
        r = await post_form(s, "/console/listings", "/console/listings",
                            {"asset_ids": asset["id"], "mode": "nonexclusive_license", "price": "50000",
                             "term_months": "36", "royalty": "3.5"})
        assert r.status_code == 303, r.text[:800]
        page = (await s.get(r.headers["location"])).text
        assert "The asset is listed" in page and "¥50,000.00" in page and "Non-exclusive license" in page
        assert "3.50%" in page and "Withdraw the listing" in page
        assert "挂牌" not in page.split("<main")[1]  # no Chinese label left on the page
        r = await post_form(s, r.headers["location"].split("?")[0],
                            r.headers["location"].split("?")[0] + "/withdraw", {})
        assert r.status_code == 303
        assert "withdrawn" in (await s.get(r.headers["location"])).text
