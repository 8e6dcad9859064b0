"""The loan story through the console's pages over HTTP: apply, two banks offer, the SME compares and
accepts, the bank registers the pledge and pays out, the SME repays; another bank sees nothing."""

from __future__ import annotations

import re

from tests.console.helpers import browser, post_form, sign_in
from tests.finance.loans import loan_flow as lf
from tests.helpers import count


async def test_loan_story_through_the_console(api, app):
    c = await lf.cast(api)
    rival, stranger = await api.org("bank", name="晋商银行"), await api.org("bank", name="无关银行")
    async with browser(app) as sme, browser(app) as bank, browser(app) as other, browser(app) as third:
        await sign_in(sme, c.sme)
        await sign_in(bank, c.bank)
        await sign_in(other, rival)
        await sign_in(third, stranger)
        # A malformed amount is refused at the field before anything reaches the API.
        form = {"asset_ids": c.assets[0]["id"], "amount": "一百万", "term_months": "12", "purpose": "流动资金",
                "repayment_method": "equal_installment"}
        r = await post_form(sme, "/console/applications", "/console/applications", form)
        assert r.status_code == 422 and 'data-testid="error-amount"' in r.text
        r = await post_form(sme, "/console/applications", "/console/applications", {**form, "amount": "1,000,000"})
        assert r.status_code == 303, r.text
        app_path = r.headers["location"].split("?")[0]
        application_id = app_path.rsplit("/", 1)[1]
        assert "1,000,000.00 元" in (await sme.get(app_path)).text
        # The banks see it and offer; a rate typed as 4.35 (%) is 435 bps.
        assert application_id in (await bank.get("/console/applications")).text
        offer = {"amount": "1000000", "annual_rate": "4.35", "term_months": "12",
                 "repayment_method": "equal_installment", "expires_on": "2026-04-01"}
        r = await post_form(bank, app_path, f"{app_path}/offers", {**offer, "annual_rate": "99"})
        assert r.status_code == 422 and 'data-testid="error-annual_rate"' in r.text
        assert (await post_form(bank, app_path, f"{app_path}/offers", offer)).status_code == 303
        r = await post_form(other, app_path, f"{app_path}/offers", {**offer, "annual_rate": "3.95",
                                                                    "requires_guarantee": "on"})
        assert r.status_code == 303
        # The SME sees both side by side with their total interest; a bank sees only its own.
        page = (await sme.get(app_path)).text
        assert "4.35%" in page and "3.95%" in page and "晋商银行" in page and "利息合计" in page
        assert "3.95%" not in (await bank.get(app_path)).text
        totals = re.findall(r'<td class="num">([\d,]+\.\d\d) 元</td>', page)
        assert len(totals) == 2 and all(float(x.replace(",", "")) > 0 for x in totals)
        offers = (await api.client.get(f"/loan-applications/{application_id}/offers", headers=c.sme.headers)).json()
        mine = next(o for o in offers["data"] if o["bank_org_id"] == c.bank.org_id)
        r = await post_form(sme, app_path, f"/console/offers/{mine['id']}/accept", {"application_id": application_id})
        assert r.status_code == 303, r.text
        loan_path = r.headers["location"].split("?")[0]
        loan_id = loan_path.rsplit("/", 1)[1]
        # Another bank cannot open the loan: the console's page is a 404, as the API's is.
        r = await third.get(loan_path)
        assert r.status_code == 404 and "未找到" in r.text
        assert loan_id in (await bank.get("/console/loans")).text
        # The bank registers the pledge and pays out; what comes next follows the loan workflow.
        page = await bank.get(loan_path)
        assert f"{loan_path}/steps/register_pledge" in page.text and f"{loan_path}/steps/disburse" not in page.text
        assert "steps/" not in (await sme.get(loan_path)).text  # the borrower has no bank steps
        r = await post_form(bank, loan_path, f"{loan_path}/steps/register_pledge",
                            {"registration_no": "Y2026990000123", "registered_on": "2026-03-02"})
        assert r.status_code == 303, r.text
        assert f"{loan_path}/steps/disburse" in (await bank.get(loan_path)).text
        r = await post_form(bank, loan_path, f"{loan_path}/steps/disburse", {})
        assert r.status_code == 303, r.text
        got = await lf.loan(api, c.sme, loan_id)
        assert got["status"] == "active"
        # The SME reads its schedule and next due, and pays the first instalment.
        page = (await sme.get(loan_path)).text
        rows = await lf.schedule(api, c.sme, loan_id)
        first = rows[0]["payment"]
        assert f"{first // 100:,}.{first % 100:02d} 元" in page and rows[0]["due_on"] in page
        await lf.advance_to(api, lf.date.fromisoformat(rows[0]["due_on"]))
        amount = f"{first // 100}.{first % 100:02d}"
        r = await post_form(sme, loan_path, f"{loan_path}/repay", {"amount": amount})
        assert r.status_code == 303, r.text
        paid_page = (await sme.get(r.headers["location"])).text
        assert "还款已入账" in paid_page
        schedule = await lf.schedule(api, c.sme, loan_id)
        assert schedule[0]["status"] == "paid"
        # The payment is listed with its allocation on the loan's page.
        listed = paid_page.split('data-testid="repayments"')[1].split("</table>")[0]
        assert f"{first // 100:,}.{first % 100:02d} 元" in listed and "借款人还款" in listed and "已成功" in listed


async def test_a_repayment_form_submitted_twice_pays_once(api, app):
    c = await lf.cast(api)
    loan = await lf.active_loan(api, c)
    rows = await lf.schedule(api, c.sme, loan["id"])
    async with browser(app) as sme:
        await sign_in(sme, c.sme)
        path = f"/console/loans/{loan['id']}"
        page = await sme.get(path)
        key = re.search(r'name="idempotency_key" value="([^"]+)"', page.text).group(1)
        token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
        amount = f"{rows[0]['payment'] // 100}.{rows[0]['payment'] % 100:02d}"
        outstanding = []
        for _ in range(2):
            r = await sme.post(f"{path}/repay", data={"csrf_token": token, "idempotency_key": key, "amount": amount})
            assert r.status_code == 303, r.text
            outstanding.append((await lf.loan(api, c.sme, loan["id"]))["outstanding_principal"])
    assert outstanding[0] == outstanding[1] < loan["principal"]
    from finance.loans.models import LoanRepayment
    assert await count(app, LoanRepayment) == 1
