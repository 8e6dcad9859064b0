"""The fund's risk page over HTTP: provisions by classification, scorecards with their files, and a stress
test whose loss distribution is drawn as SVG; a bad percentage shown at its field; Chinese and English."""

from __future__ import annotations

from finance.fund import cover as fund_cover
from tests.console.helpers import browser, csrf_of, sign_in
from tests.finance.fund.helpers import WAN, actor, agreement, cover_request, in_tx, program


async def covered_programme(api, app, loans: int = 12):
    fund, bank, sme = await api.org("fund", name="省风险补偿基金"), await api.org("bank"), await api.org("sme")
    p = await program(api, fund, capital=1000 * WAN, shares_bps={"fund": 5000}, name="省级风险补偿资金池")
    await agreement(api, fund, p["id"], bank, deposit=500 * WAN)
    for n in range(loans):
        await in_tx(app, fund_cover.request_cover, actor(bank), p["id"], cover_request(bank, sme, (50 + n) * WAN))
    return fund, bank, p


async def test_provisions_scorecards_and_a_stress_test_with_its_chart(api, app):
    fund, bank, p = await covered_programme(api, app)
    async with browser(app) as zh, browser(app) as en, browser(app) as other:
        await sign_in(zh, fund)
        page = await zh.get("/console/fund/risk")
        assert page.status_code == 200 and "省级风险补偿资金池" in page.text
        provisions = page.text.split('data-testid="provisions"')[1].split("</table>")[0]
        assert "正常" in provisions and "万元" in provisions and "1.00%" in provisions  # normal: 100 bps
        assert 'data-testid="scorecards"' in page.text
        csv_url = page.text.split('data-testid="scorecards-csv"')[0].rsplit('href="', 1)[1].split('"')[0]
        r = await zh.get(csv_url.replace("&amp;", "&"))
        assert r.status_code == 200 and "attachment" in r.headers["content-disposition"]
        action = f"/console/fund/risk/{p['id']}/stress-test"
        form = {"csrf_token": csrf_of(page), "scenarios": "2000", "seed": "7", "pd": "5", "lgd": "60",
                "correlation": "20"}
        r = await zh.post(action, data=form)
        assert r.status_code == 200, r.text[:500]
        result = r.text.split('data-testid="stress-result"')[1]
        assert '<svg class="chart"' in result and "P99.9" in result and "组合损失分布" in result
        assert result.count("<rect ") == 5  # one bar per percentile the API gives
        ours = (await api.client.post(f"/fund/programs/{p['id']}/stress-test", headers=fund.headers, json={
            "scenarios": 2000, "seed": 7, "pd_bps": 500, "lgd_bps": 6000, "correlation_bps": 2000})).json()
        assert f"{ours['portfolio_percentiles']['99.0'] / 1_000_000:,.2f} 万元" in result  # the API's figures
        # A rate typed wrong is shown at its field, and nothing is run; the API's own bound is shown too.
        r = await zh.post(action, data={**form, "pd": "五"})
        assert r.status_code == 422 and 'data-testid="error-pd"' in r.text and 'data-testid="stress-result"' not in r.text
        r = await zh.post(action, data={**form, "scenarios": "10"})
        assert r.status_code == 422 and 'data-testid="error-scenarios"' in r.text

        await sign_in(en, fund, lang="en")
        page = await en.get("/console/fund/risk")
        assert "Provisions by classification" in page.text and "Partner scorecards" in page.text
        r = await en.post(action, data={**form, "csrf_token": csrf_of(page)})
        assert "Portfolio loss distribution" in r.text and "¥" in r.text
        # A bank does not run the fund's stress test: the API refuses and the page shows it.
        await sign_in(other, bank)
        assert (await other.get("/console/fund/risk")).status_code in (403, 404)
