"""The default-to-compensation story from the bank's and the fund's side through the console over HTTP:
a quota refusal shown, fund cover, default, the claim, the fund's approval with a second person, the
dashboard; the regulator's statistics and their files."""

from __future__ import annotations

from finance.fund import claims as fund_claims
from finance.fund import cover as fund_cover
from tests.console.helpers import browser, post_form, sign_in
from tests.console.scenes import four_eyes, overdue_90_days, programme
from tests.finance.fund.helpers import WAN, actor, agreement, claim_request, cover_request, in_tx, program
from tests.finance.loans import loan_flow as lf


async def test_default_to_compensation_from_the_banks_and_the_funds_side(api, app):
    c = await lf.cast(api)
    fund = await api.org("fund", name="山西省知识产权质押融资风险补偿基金")
    checker = await api.user(fund.org_id, "fund", role="checker")
    small = await programme(api, fund, c.bank, "小额试点", deposit_yuan=50_000)  # quota ¥500,000
    big = await programme(api, fund, c.bank, "省级风险补偿", deposit_yuan=1_000_000)
    loan = await lf.accepted_loan(api, c)
    path = f"/console/loans/{loan['id']}"
    async with browser(app) as bank, browser(app) as admin, browser(app) as second:
        await sign_in(bank, c.bank)
        # The quota refusal, in Chinese, and nothing changes.
        r = await post_form(bank, path, f"{path}/fund-cover", {"program_id": small["id"]})
        assert r.status_code == 409 and "将超出限额、上限、额度或预算" in r.text
        assert (await lf.loan(api, c.bank, loan["id"]))["fund_cover"] is None
        r = await post_form(bank, path, f"{path}/fund-cover", {"program_id": big["id"]})
        assert r.status_code == 303, r.text
        await post_form(bank, path, f"{path}/steps/register_pledge",
                        {"registration_no": "Y2026990000123", "registered_on": "2026-03-02"})
        assert (await post_form(bank, path, f"{path}/steps/disburse", {})).status_code == 303
        await overdue_90_days(api)
        page = await bank.get("/console/loans")
        assert '<span class="badge bad">90</span>' in page.text and "<td>逾期</td>" in page.text
        assert (await post_form(bank, path, f"{path}/steps/declare_default", {})).status_code == 303
        r = await post_form(bank, path, f"{path}/steps/compensate", {})
        assert r.status_code == 303, r.text
        claim_id = (await lf.loan(api, c.bank, loan["id"]))["claim_id"]
        assert claim_id

        # The fund requires a second person: the administrator's approval waits for the checker.
        await four_eyes(api, fund, compensation_approval=True)
        await sign_in(admin, fund)
        assert f'href="/console/claims/{claim_id}"' in (await admin.get("/console/")).text  # the inbox
        claim_path = f"/console/claims/{claim_id}"
        r = await post_form(admin, claim_path, f"{claim_path}/approve", {})
        assert r.status_code == 303
        assert "待另一位复核人批准" in (await admin.get(r.headers["location"])).text
        got = await api.client.get(f"/compensation-claims/{claim_id}", headers=fund.headers)
        assert got.json()["status"] == "pending"
        await sign_in(second, checker)
        inbox = (await second.get("/console/")).text
        assert "/console/approvals/" in inbox
        approval_path = inbox.split('href="/console/approvals/')[1].split('"')[0]
        approval_path = f"/console/approvals/{approval_path}"
        r = await post_form(second, approval_path, f"{approval_path}/approve", {})
        assert r.status_code == 303, r.text
        got = await api.client.get(f"/compensation-claims/{claim_id}", headers=fund.headers)
        assert got.json()["status"] == "paid"
        assert "已支付" in (await admin.get(claim_path)).text

        # The dashboard: the programme's figures in 万元, by bank with its quota use and NPL ratio.
        dash = await admin.get("/console/fund")
        assert dash.status_code == 200 and "省级风险补偿" in dash.text and "万元" in dash.text
        chart = await admin.get(f"/console/files/fund/programs/{big['id']}/exposure?format=svg")
        assert chart.status_code == 200 and chart.headers["content-type"].startswith("image/svg")
        # Only the listed reports pass through the console's file route.
        assert (await admin.get("/console/files/loans?format=csv")).status_code == 404


async def test_regulator_reads_statistics_with_files(api, app):
    regulator, sme = await api.org("regulator", name="山西省市场监督管理局"), await api.org("sme")
    async with browser(app) as reg, browser(app) as other:
        await sign_in(reg, regulator)
        page = await reg.get("/console/stats")
        assert page.status_code == 200
        assert "知识产权质押融资" in page.text and "每万人高价值发明专利" in page.text
        r = await reg.get("/console/files/stats/pledge-financing?format=csv&group_by=region")
        assert r.status_code == 200 and "attachment" in r.headers["content-disposition"]
        r = await reg.get("/console/files/stats/transactions?format=xlsx")
        assert r.status_code == 200 and r.content[:2] == b"PK"
        # An SME is not a statistics reader: the API says no, the console shows its not-found page.
        await sign_in(other, sme)
        assert (await other.get("/console/stats")).status_code in (403, 404)
        assert (await other.get("/console/files/stats/transactions?format=csv")).status_code == 404


async def test_the_fund_rejects_a_claim_with_its_reason(api, app):
    fund, bank, sme = await api.org("fund"), await api.org("bank"), await api.org("sme")
    p = await program(api, fund, npl_pause_bps=10000)
    await agreement(api, fund, p["id"], bank)
    req = cover_request(bank, sme, 100 * WAN)
    await in_tx(app, fund_cover.request_cover, actor(bank), p["id"], req)
    claim = await in_tx(app, fund_claims.open_claim, actor(bank), claim_request(req, 50 * WAN))
    path = f"/console/claims/{claim.id}"
    async with browser(app) as admin, browser(app) as officer:
        await sign_in(admin, fund)
        await sign_in(officer, bank)
        assert 'data-testid="reject-claim"' in (await admin.get(path)).text
        assert 'data-testid="reject-claim"' not in (await officer.get(path)).text  # the bank cannot refuse
        r = await post_form(admin, path, f"{path}/reject", {"reason": " "})
        assert r.status_code == 422 and 'data-testid="form-error"' in r.text
        assert f'name="next" value="{path}"' in r.text  # the language switch returns to the claim's page
        r = await post_form(admin, path, f"{path}/reject", {"reason": "贷后管理未按协议执行"})
        assert r.status_code == 303, r.text
        page = (await officer.get(path)).text
        assert "已拒绝" in page and "贷后管理未按协议执行" in page
        assert 'data-testid="reject-claim"' not in (await admin.get(path)).text
