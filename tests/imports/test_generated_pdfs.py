"""Generated PDFs: opened with pypdf and their Chinese text checked; each one's access."""

from __future__ import annotations

import io

from pypdf import PdfReader

from finance.fund import claims as fund_claims
from finance.fund import cover as fund_cover
from tests.finance.fund.helpers import WAN, actor, agreement, claim_request, cover_request, in_tx, program
from tests.finance.loans.loan_flow import active_loan, cast
from tests.valuation.helpers import VECTOR_INPUTS, value


def text_of(body: bytes) -> str:
    assert body.startswith(b"%PDF-")
    reader = PdfReader(io.BytesIO(body))
    return "\n".join(page.extract_text() for page in reader.pages)


async def test_the_appraisal_report_of_a_certified_valuation(api):
    sme, evaluator, bank = await api.org("sme"), await api.org("evaluator", name="晋评资产评估有限公司"), \
        await api.org("bank")
    asset = await api.asset(sme, title="一种锂电池负极材料的制备方法")
    v = await value(api, sme, [asset["id"]], inputs=VECTOR_INPUTS)
    url = f"/valuations/{v['id']}/report.pdf"
    draft = await api.client.get(url, headers=sme.headers)
    assert draft.status_code == 409  # a draft has no report yet
    assert (await api.client.post(f"/valuations/{v['id']}/certify", headers=evaluator.headers)).status_code == 200
    r = await api.client.get(url, headers=sme.headers)
    assert r.status_code == 200 and r.headers["content-type"] == "application/pdf"
    text = text_of(r.content)
    assert "知识产权资产评估报告" in text and "晋评资产评估有限公司" in text
    assert "一种锂电池负极材料的制备方法" in text and "收益法" in text
    value_yuan = f"{v['value'] / 100:,.2f}"
    assert value_yuan in text
    assert (await api.client.get(url, headers=bank.headers)).status_code == 200  # banks may see valuations
    stranger = await api.org("sme")
    assert (await api.client.get(url, headers=stranger.headers)).status_code == 404


async def test_the_repayment_schedule_pdf(api):
    c = await cast(api, n_assets=1)
    loan = await active_loan(api, c)
    r = await api.client.get(f"/loans/{loan['id']}/schedule.pdf", headers=c.sme.headers)
    assert r.status_code == 200, r.text
    text = text_of(r.content)
    assert "还款计划表" in text and "等额本息" in text
    schedule = (await api.client.get(f"/loans/{loan['id']}/schedule", headers=c.sme.headers)).json()
    first = schedule["installments"][0]
    assert f"{first['payment'] / 100:,.2f}" in text and first["due_on"] in text
    assert "1,000,000.00" in text  # the principal
    other_bank = await api.org("bank")
    assert (await api.client.get(f"/loans/{loan['id']}/schedule.pdf", headers=other_bank.headers)).status_code == 404


async def test_the_funds_monthly_report(api, app):
    fund, bank, regulator = await api.org("fund"), await api.org("bank", name="三晋银行"), await api.org("regulator")
    p = await program(api, fund, name="太原市知识产权质押融资风险补偿基金")
    await agreement(api, fund, p["id"], bank)
    sme = await api.org("sme")
    req = cover_request(bank, sme, 100 * WAN)
    await in_tx(app, fund_cover.request_cover, actor(bank), p["id"], req)
    claim = await in_tx(app, fund_claims.open_claim, actor(bank), claim_request(req, 50 * WAN))
    assert (await api.client.post(f"/compensation-claims/{claim.id}/approve", headers=fund.headers)).status_code == 200
    url = f"/fund/programs/{p['id']}/reports/2026-03.pdf"
    r = await api.client.get(url, headers=regulator.headers)
    assert r.status_code == 200, r.text
    text = text_of(r.content)
    assert "风险补偿基金月度报告" in text and "2026-03" in text and "三晋银行" in text
    flat = text.replace("\n", "")
    assert claim.id in flat and "已代偿" in text and "试算平衡表" in text and "借贷平衡" in text
    assert f"{claim.fund_amount / 100:,.2f}" in text
    assert (await api.client.get(url, headers=bank.headers)).status_code == 403
    assert (await api.client.get(url, headers=(await api.org("fund")).headers)).status_code == 404
    assert (await api.client.get(f"/fund/programs/{p['id']}/reports/2026-13.pdf",
                                 headers=fund.headers)).status_code == 422
