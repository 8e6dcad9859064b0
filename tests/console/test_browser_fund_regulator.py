"""In Chromium: the fund administrator reads the ledger and verifies it, runs a stress test and sees its
loss distribution drawn, reads the provisions; the regulator reads the indicators, downloads their file,
is refused a white list naming a firm that has not consented, and decides a reward claim."""

from __future__ import annotations

from tests.console.browser import shot
from tests.console.test_console_fund_risk import covered_programme
from tests.finance.subsidies.test_rewards import claim, hv_patent, reward_policy
from tests.helpers import needs_browser

pytestmark = needs_browser


async def test_fund_administrator_verifies_the_ledger_and_runs_a_stress_test(api, app, chromium):
    fund, _bank, _p = await covered_programme(api, app)
    page = await chromium.sign_in(fund)
    await page.get_by_role("navigation").get_by_role("link", name="基金账簿").click()
    await page.get_by_role("heading", name="记账凭证").wait_for()
    await page.get_by_role("link", name="核验账簿").click()
    verdict = page.get_by_test_id("verify-verdict")
    assert "核验通过" in await verdict.inner_text()
    await shot(page, "fund-ledger-verified-zh")
    await page.get_by_label("截至日期（空为最新）").fill("2026-03-01")
    await page.get_by_role("button", name="查询").click()
    await page.get_by_text("截至 2026-03-01").wait_for()

    await page.get_by_role("navigation").get_by_role("link", name="拨备与压力测试").click()
    assert "正常" in await page.get_by_test_id("provisions").inner_text()
    await page.get_by_label("违约概率（%）").fill("百分之五")
    await page.get_by_role("button", name="运行压力测试").click()
    await page.get_by_test_id("error-pd").wait_for()  # the refusal, at its field
    await page.get_by_label("违约概率（%）").fill("5")
    await page.get_by_role("button", name="运行压力测试").click()
    chart = page.get_by_test_id("stress-chart")
    await chart.wait_for()
    assert await chart.locator("rect").count() == 5
    assert "万元" in await page.get_by_test_id("stress-result").inner_text()
    await shot(page, "fund-stress-test-zh")
    await page.goto(chromium.base + "/console/fund/risk")  # the result was a POST's answer
    await page.get_by_test_id("switch-lang").click()
    await page.get_by_role("heading", name="Provisions by classification").wait_for()
    await shot(page, "fund-risk-en")
    phone = await chromium.sign_in(fund, width=390, height=844)
    await phone.goto(chromium.base + "/console/ledger/verify")
    await phone.get_by_test_id("verify-verdict").wait_for()
    await shot(phone, "fund-ledger-phone-zh")
    assert chromium.foreign == []


async def test_regulator_reads_indicators_is_refused_and_decides_a_claim(api, app, chromium):
    regulator = await api.org("regulator", name="山西省市场监督管理局")
    firm, stranger = await api.org("sme", name="高价值科技"), await api.org("sme", name="未同意科技")
    r = await api.client.post("/whitelist-consents", headers=firm.headers)
    assert r.status_code in (200, 201), r.text
    policy = await reward_policy(api, regulator, "high_value_patent", name="高价值发明专利奖励")
    r = await claim(api, firm, policy["id"], [(await hv_patent(api, firm))["id"]])
    assert r.status_code == 201, r.text
    claim_id = r.json()["id"]

    page = await chromium.sign_in(regulator)
    await page.get_by_role("navigation").get_by_role("link", name="发展指标").click()
    table = await page.get_by_test_id("indicators").inner_text()
    assert "每万人口高价值发明专利拥有量" in table
    await page.get_by_test_id("indicators-chart").scroll_into_view_if_needed()  # loaded lazily
    await page.wait_for_function("document.querySelector('[data-testid=indicators-chart]').naturalWidth > 0")
    await shot(page, "regulator-indicators-zh")
    async with page.expect_download() as info:
        await page.get_by_test_id("indicators-csv").click()
    download = await info.value
    assert (await download.path()).read_bytes().startswith(b"\xef\xbb\xbf")

    await page.get_by_role("navigation").get_by_role("link", name="白名单").click()
    await page.get_by_label("白名单名称").fill("2026年度推荐白名单")
    await page.get_by_label("高价值科技").check()
    await page.get_by_label("未同意科技").check()
    await page.get_by_role("button", name="发布白名单").click()
    error = page.get_by_test_id("form-error")
    await error.wait_for()
    assert await error.inner_text()
    await shot(page, "regulator-whitelist-refused-zh")
    await page.get_by_label("未同意科技").uncheck()
    await page.get_by_role("button", name="发布白名单").click()
    await page.get_by_text("白名单已发布").wait_for()

    await page.goto(f"{chromium.base}/console/subsidies/claims/{claim_id}")
    assert "符合条件" in await page.get_by_test_id("claim-items").inner_text()
    await shot(page, "regulator-subsidy-claim-zh")
    await page.get_by_role("button", name="批准").click()
    await page.get_by_text("操作已完成").wait_for()
    got = await api.client.get(f"/subsidy-claims/{claim_id}", headers=regulator.headers)
    assert got.json()["status"] == "paid"
    assert stranger.org_id not in str((await api.client.get("/whitelists", headers=regulator.headers)).json())
    assert chromium.foreign == []
