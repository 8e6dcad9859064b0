"""In Chromium, each role's story through the console: the loan from application to repayment (SME and
banks), default to compensation from the fund's side (a quota refusal shown to the bank), the regulator's
figures; in Chinese, with English where the person switches."""

from __future__ import annotations

from datetime import date

from tests.console.browser import shot
from tests.console.scenes import overdue_90_days, programme
from tests.finance.loans import loan_flow as lf
from tests.helpers import needs_browser

pytestmark = needs_browser


def yuan_text(fen: int) -> str:
    return f"{fen // 100:,}.{fen % 100:02d}"


async def test_loan_story_from_application_to_repayment(api, chromium):
    c = await lf.cast(api, n_assets=1)
    rival = await api.org("bank", name="晋商银行")
    sme = await chromium.sign_in(c.sme)
    await sme.get_by_role("navigation").get_by_role("link", name="贷款申请").click()
    await sme.get_by_label(c.assets[0]["number"], exact=False).check()
    await sme.get_by_label("金额（元）").fill("1,000,000")
    await sme.get_by_label("期限（月）").fill("12")
    await sme.get_by_label("用途").fill("流动资金")
    await sme.get_by_role("button", name="申请质押贷款").click()
    await sme.get_by_text("贷款申请已提交").wait_for()
    application_url = sme.url.split("?")[0]
    assert "100.00 万元" in await sme.inner_text("main")

    bank = await chromium.sign_in(c.bank)
    await bank.get_by_role("navigation").get_by_role("link", name="贷款申请").click()
    await bank.get_by_role("link", name="查看").first.click()
    await bank.get_by_label("年利率（%）").fill("4.35")
    await bank.get_by_role("button", name="提出报价").click()
    await bank.get_by_text("报价已提交").wait_for()
    await shot(bank, "bank-application-offer-zh")
    await lf.offer(api, rival, application_url.rsplit("/", 1)[1], annual_rate_bps=395, requires_guarantee=True)

    await sme.goto(application_url)
    rows = sme.get_by_test_id("offers").locator("tbody tr")
    assert await rows.count() == 2
    table = await sme.get_by_test_id("offers").inner_text()
    assert "4.35%" in table and "3.95%" in table and "晋商银行" in table
    await shot(sme, "sme-offers-side-by-side-zh")
    await sme.get_by_test_id("switch-lang").click()
    await sme.get_by_role("heading", name="Offers side by side").wait_for()
    await shot(sme, "sme-offers-side-by-side-en")
    await sme.get_by_test_id("switch-lang").click()
    await sme.get_by_role("heading", name="报价对比").wait_for()
    bank_name = (await api.client.get(f"/orgs/{c.bank.org_id}", headers=c.bank.headers)).json()["name"]
    await sme.get_by_role("button", name=f"接受此报价：{bank_name}").click()
    await sme.get_by_test_id("loan-status").wait_for()
    assert await sme.get_by_test_id("loan-status").inner_text() == "待落实担保"
    loan_url = sme.url.split("?")[0]

    await bank.goto(loan_url)
    await bank.get_by_label("质押登记号").fill("Y2026990000123")
    await bank.get_by_role("button", name="登记质押").click()
    await bank.get_by_role("button", name="放款").click()
    await bank.get_by_text("操作已完成").wait_for()
    assert await bank.get_by_test_id("loan-status").inner_text() == "生效中"
    await shot(bank, "bank-loan-zh")

    loan_id = loan_url.rsplit("/", 1)[1]
    rows = await lf.schedule(api, c.sme, loan_id)
    await lf.advance_to(api, date.fromisoformat(rows[0]["due_on"]))
    await sme.goto(loan_url)
    assert rows[0]["due_on"] in await sme.get_by_test_id("next-due").inner_text()
    await sme.get_by_label("还款金额（元）").fill(yuan_text(rows[0]["payment"]))
    await sme.get_by_role("button", name="还款", exact=True).click()
    await sme.get_by_text("还款已入账").wait_for()
    first = sme.get_by_test_id("schedule").locator("tbody tr").first
    assert "已支付" in await first.inner_text()
    await shot(sme, "sme-loan-repaid-zh")
    assert chromium.foreign == []


async def test_default_to_compensation_from_the_funds_side(api, chromium):
    c = await lf.cast(api, n_assets=1)
    fund = await api.org("fund", name="山西省风险补偿基金")
    small = await programme(api, fund, c.bank, "小额试点", deposit_yuan=50_000)
    await programme(api, fund, c.bank, "省级风险补偿", deposit_yuan=1_000_000)
    loan = await lf.accepted_loan(api, c)
    bank = await chromium.sign_in(c.bank)
    await bank.goto(f"{chromium.base}/console/loans/{loan['id']}")
    await bank.get_by_label("基金项目").select_option(small["id"])
    await bank.get_by_role("button", name="申请基金增信").click()
    error = bank.get_by_test_id("form-error")
    await error.wait_for()
    assert "将超出限额、上限、额度或预算" in await error.inner_text()
    await shot(bank, "bank-quota-refused-zh")
    await bank.get_by_label("基金项目").select_option(label="省级风险补偿")
    await bank.get_by_role("button", name="申请基金增信").click()
    await bank.get_by_text("操作已完成").wait_for()
    await lf.register(api, c, loan["id"])
    await bank.reload()
    await bank.get_by_role("button", name="放款").click()
    await bank.get_by_text("操作已完成").wait_for()
    await overdue_90_days(api)
    await bank.reload()
    await bank.get_by_role("button", name="宣告违约").click()
    await bank.get_by_text("操作已完成").wait_for()
    await bank.get_by_role("button", name="申请代偿").click()
    await bank.get_by_text("操作已完成").wait_for()

    admin = await chromium.sign_in(fund)
    await admin.get_by_test_id("inbox").get_by_role("link", name="查看").first.click()
    await admin.get_by_role("button", name="批准代偿").click()
    await admin.get_by_text("操作已完成").wait_for()
    assert await admin.get_by_test_id("claim-status").inner_text() == "已支付"
    await shot(admin, "fund-claim-paid-zh")
    await admin.get_by_role("navigation").get_by_role("link", name="基金看板").click()
    await admin.get_by_test_id("by-bank").first.wait_for()
    assert "省级风险补偿" in await admin.inner_text("main")
    # The API's own chart, fetched through the console with the session cookie, is drawn.
    await admin.wait_for_function("() => { const i = document.querySelector('img.chart');"
                                  " return i && i.complete && i.naturalWidth > 0; }", timeout=60_000)
    await shot(admin, "fund-dashboard-zh")
    assert chromium.foreign == []


async def test_regulator_reads_the_figures_in_english(api, chromium):
    regulator = await api.org("regulator", name="山西省市场监督管理局")
    page = await chromium.sign_in(regulator)
    await page.get_by_role("navigation").get_by_role("link", name="统计").click()
    await page.get_by_role("heading", name="知识产权质押融资").wait_for()
    await page.get_by_test_id("switch-lang").click()
    await page.get_by_role("heading", name="IP pledge financing").wait_for()
    assert "Regulator" in await page.get_by_test_id("who").inner_text()
    async with page.expect_download() as info:
        await page.get_by_role("link", name="CSV").first.click()
    download = await info.value
    assert download.suggested_filename.endswith(".csv")
    await shot(page, "regulator-stats-en")
