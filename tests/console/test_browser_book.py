"""In Chromium: the bank's loan book filtered and one loan's page (in Chinese, and on a phone); the whole
guarantee story in English: the bank invites a guarantor, which answers from its desk (a malformed share
refused first, in English) and then sees the loan it covers."""

from __future__ import annotations

from tests.console.browser import shot
from tests.console.test_console_book import book
from tests.finance.loans import loan_flow as lf
from tests.helpers import needs_browser

pytestmark = needs_browser


async def test_bank_filters_its_loan_book_and_opens_a_loan(api, chromium):
    c, late, _ = await book(api)
    page = await chromium.sign_in(c.bank)
    await page.get_by_role("navigation").get_by_role("link", name="贷款", exact=True).click()
    await page.get_by_role("heading", name="贷款台账").wait_for()
    rows = page.get_by_test_id("loans").locator("tbody tr")
    assert await rows.count() == 2
    assert await rows.first.get_attribute("data-status") == "overdue"  # overdue first
    assert late["id"] in await rows.first.get_by_role("link").get_attribute("href")
    await page.get_by_label("仅看逾期").check()
    await page.get_by_role("button", name="筛选").click()
    await page.wait_for_url("**overdue=1**")
    assert await rows.count() == 1
    await page.get_by_label("五级分类").select_option(label="正常")
    await page.get_by_role("button", name="筛选").click()
    await page.get_by_text("暂无").wait_for()  # no overdue loan is still normal
    await page.get_by_label("五级分类").select_option(label="全部")
    await page.get_by_role("button", name="筛选").click()
    await rows.first.wait_for()
    await shot(page, "bank-loan-book-overdue-zh")
    await rows.first.get_by_role("link").click()
    await page.get_by_test_id("schedule").wait_for()
    assert await page.get_by_test_id("loan-status").inner_text() == "逾期"
    assert await page.get_by_test_id("loan-classification").inner_text() in ("关注", "次级", "可疑", "损失")
    main = await page.inner_text("main")
    assert "还款计划" in main and "历史记录" in main and "逾期金额" in main and "宣告违约" in main
    await shot(page, "bank-loan-overdue-zh")

    phone = await chromium.sign_in(c.bank, width=390, height=844)
    await phone.goto(f"{chromium.base}/console/loans?overdue=1")
    await phone.get_by_test_id("loans").wait_for()
    assert await phone.evaluate("document.documentElement.scrollWidth") <= 390
    await shot(phone, "bank-loan-book-phone")
    assert chromium.foreign == []


async def test_guarantee_story_in_english(api, chromium):
    c = await lf.cast(api, n_assets=1)
    guarantor = await api.org("guarantor", name="Jinrong Guarantee")
    loan = await lf.accepted_loan(api, c)
    bank = await chromium.sign_in(c.bank)
    await bank.get_by_test_id("switch-lang").click()
    await bank.get_by_role("heading", name="What needs me").wait_for()
    await bank.goto(f"{chromium.base}/console/loans/{loan['id']}")
    await bank.get_by_label("Cover", exact=True).select_option(label="Guarantee")
    await bank.get_by_label("Invited organisation").select_option(label="Jinrong Guarantee")
    await bank.get_by_role("button", name="Send the invitation").click()
    await bank.get_by_text("The invitation is sent").wait_for()
    assert "Jinrong Guarantee" in await bank.get_by_test_id("invitations").inner_text()
    await shot(bank, "bank-invitation-sent-en")

    desk = await chromium.sign_in(guarantor)
    await desk.get_by_test_id("switch-lang").click()
    await desk.get_by_role("navigation").get_by_role("link", name="My cover").click()
    await desk.get_by_role("heading", name="Invitations to answer").wait_for()
    assert "You are invited to join loan" in await desk.get_by_test_id("cover-invitations").inner_text()
    await shot(desk, "guarantor-desk-invited-en")
    await desk.get_by_role("link", name="Answer").click()
    await desk.get_by_label("Loss share (%)").fill("thirty")
    await desk.get_by_label("Guarantee fee rate (%)").fill("1.5")
    await desk.get_by_role("button", name="Guarantee the loan").click()
    error = desk.get_by_test_id("error-share")
    await error.wait_for()
    assert "Enter a percentage" in await error.inner_text()
    await shot(desk, "guarantor-share-refused-en")
    await desk.get_by_label("Loss share (%)").fill("30")
    await desk.get_by_role("button", name="Guarantee the loan").click()
    await desk.get_by_text("Done", exact=True).wait_for()
    assert await desk.get_by_test_id("loan-status").inner_text() == "pending security"
    await desk.get_by_role("navigation").get_by_role("link", name="My cover").click()
    covered = desk.get_by_test_id("covered-loans")
    await covered.wait_for()
    text = await covered.inner_text()
    assert "30.00%" in text and "¥1,000,000.00" in text
    assert await desk.get_by_test_id("cover-invitations").count() == 0
    assert "Guarantor" in await desk.get_by_test_id("who").inner_text()
    await shot(desk, "guarantor-desk-covered-en")
    assert chromium.foreign == []
