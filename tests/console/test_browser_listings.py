"""In Chromium: an SME lists a patent for sale (a malformed price refused at the field first), a buyer finds
it and offers, the seller accepts on the listing's page and the buyer pays; in Chinese, keyboard-submitted."""

from __future__ import annotations

from tests.console.browser import shot
from tests.helpers import needs_browser

pytestmark = needs_browser


async def test_sme_lists_a_patent_and_a_buyer_pays(api, chromium):
    seller, buyer = await api.org("sme", name="晋阳新材料"), await api.org("sme", name="龙城电池")
    asset = await api.asset(seller, title="一种固态电解质膜")
    page = await chromium.sign_in(seller)
    await page.get_by_role("navigation").get_by_role("link", name="挂牌").click()
    await page.get_by_label(asset["number"], exact=False).check()
    await page.get_by_label("挂牌方式").select_option(label="转让")
    await page.get_by_label("挂牌价格（元）").fill("三十万")
    await page.get_by_role("button", name="挂牌出售或许可").click()
    error = page.get_by_test_id("error-price")
    await error.wait_for()
    assert "请输入以元为单位的金额" in await error.inner_text()
    assert await page.get_by_label("挂牌价格（元）").get_attribute("aria-invalid") == "true"
    await shot(page, "sme-listing-price-refused-zh")
    await page.get_by_label(asset["number"], exact=False).check()
    await page.get_by_label("挂牌价格（元）").fill("300,000")
    await page.get_by_label("挂牌价格（元）").press("Enter")  # the keyboard submits the form
    await page.get_by_text("已挂牌").wait_for()
    assert "30.00 万元" in await page.get_by_test_id("listing-price").inner_text()
    listing_url = page.url.split("?")[0]

    shopper = await chromium.sign_in(buyer)
    await shopper.get_by_role("navigation").get_by_role("link", name="挂牌").click()
    await shopper.get_by_label("关键词").fill("固态电解质")
    await shopper.get_by_role("button", name="筛选").click()
    await shopper.get_by_role("link", name="查看：一种固态电解质膜").click()
    await shopper.get_by_label("报价金额（元）").fill("280,000")
    await shopper.get_by_role("button", name="提出购买报价").click()
    await shopper.get_by_text("报价已发出").wait_for()

    await page.goto(listing_url)
    offers = await page.get_by_test_id("listing-offers").inner_text()
    assert "龙城电池" in offers and "280,000.00 元" in offers
    await shot(page, "sme-listing-offers-zh")
    await page.get_by_role("button", name="接受：龙城电池").click()
    await page.get_by_text("操作已完成").wait_for()
    assert await page.get_by_test_id("listing-status").inner_text() == "签约中"

    await shopper.goto(listing_url)
    assert await shopper.get_by_test_id("deal-status").inner_text() == "待支付"
    await shopper.get_by_role("button", name="支付 280,000.00 元").click()
    await shopper.get_by_text("操作已完成").wait_for()
    assert "已备案" in await shopper.get_by_test_id("deals").inner_text()
    await shot(shopper, "sme-deal-paid-zh")
    await page.reload()
    assert await page.get_by_test_id("listing-status").inner_text() == "已成交"
    assert chromium.foreign == []
