"""In Chromium: an SME signs in, sees its inbox, registers an asset (a wrong check digit refused at the
field first), and reads the console in English; everything loads from the app alone."""

from __future__ import annotations

from tests.console.browser import shot
from tests.helpers import needs_browser, patent_number

pytestmark = needs_browser


async def test_sme_registers_an_asset_after_a_check_digit_refusal(api, chromium):
    sme = await api.org("sme", name="太原锂电科技有限公司")
    page = await chromium.sign_in(sme)
    await page.get_by_test_id("org-name").wait_for()
    assert await page.get_by_test_id("org-name").inner_text() == "太原锂电科技有限公司"
    assert await page.get_by_test_id("role").inner_text() == "机构管理员"
    assert "目前没有需要您处理的事项" in await page.inner_text("main")
    await shot(page, "sme-inbox-zh")

    await page.get_by_role("navigation").get_by_role("link", name="我的知识产权").click()
    good = patent_number()
    bad = good[:-1] + ("0" if good[-1] != "0" else "1")
    await page.get_by_label("申请号/注册号").fill(bad)
    await page.get_by_label("名称").fill("一种锂电池热管理装置")
    await page.get_by_role("button", name="登记知识产权").click()
    error = page.get_by_test_id("error-number")
    await error.wait_for()
    assert "校验位应为" in await error.inner_text()
    assert await page.get_by_label("申请号/注册号").get_attribute("aria-invalid") == "true"
    await shot(page, "sme-asset-check-digit-zh")

    await page.get_by_label("申请号/注册号").fill(good)
    await page.get_by_label("IPC 分类号").fill("H01M 10/613")
    await page.get_by_role("button", name="登记知识产权").click()
    await page.get_by_text("知识产权已登记").wait_for()
    assert good in await page.inner_text("main")

    await page.get_by_test_id("switch-lang").click()
    await page.get_by_text("Invention patent").wait_for()
    await page.get_by_role("navigation").get_by_role("link", name="My IP assets").click()
    await page.get_by_role("heading", name="Register an IP asset").wait_for()
    assert "Organisation admin" in await page.get_by_test_id("role").inner_text()
    await shot(page, "sme-assets-en")
    assert chromium.foreign == []


async def test_sign_in_works_on_a_phone_sized_screen(api, chromium):
    sme = await api.org("sme")
    page = await chromium.sign_in(sme, width=390, height=844)
    await page.get_by_role("navigation").get_by_role("link", name="我的知识产权").click()
    await page.get_by_role("heading", name="登记知识产权").wait_for()
    width = await page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390  # nothing wider than the screen
    await shot(page, "sme-assets-phone")
