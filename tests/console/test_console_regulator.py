"""The regulator's pages over HTTP: the zone's indicators with their chart and files, publishing a white
list (a firm without consent refused, shown), and a reward claim's items with their verdicts, rejected
with a reason; in Chinese and English."""

from __future__ import annotations

from tests.console.helpers import browser, post_form, sign_in
from tests.finance.subsidies.test_rewards import claim, hv_patent, reward_policy


async def test_indicators_against_targets_with_chart_and_files(api, app):
    regulator, sme = await api.org("regulator", name="山西省市场监督管理局"), await api.org("sme")
    async with browser(app) as zh, browser(app) as en, browser(app) as other:
        await sign_in(zh, regulator)
        page = await zh.get("/console/indicators")
        assert page.status_code == 200 and "每万人口高价值发明专利拥有量" in page.text and "是否达标" in page.text
        chart = page.text.split('data-testid="indicators-chart"')[0].rsplit('src="', 1)[1].split('"')[0]
        r = await zh.get(chart.replace("&amp;", "&"))
        assert r.status_code == 200 and r.headers["content-type"].startswith("image/svg")
        for fmt, magic in (("csv", b"\xef\xbb\xbf"), ("xlsx", b"PK")):
            link = page.text.split(f'data-testid="indicators-{fmt}"')[0].rsplit('href="', 1)[1].split('"')[0]
            r = await zh.get(link.replace("&amp;", "&"))
            assert r.status_code == 200 and r.content.startswith(magic), fmt
        bad = await zh.get("/console/indicators?year=1999")
        assert bad.status_code == 422 and 'data-testid="form-error"' in bad.text
        await sign_in(en, regulator, lang="en")
        page = await en.get("/console/indicators")
        assert "Pilot zone IP indicators" in page.text and "Target met" in page.text
        assert "high value patents per 10k" in page.text
        await sign_in(other, sme)
        assert (await other.get("/console/indicators")).status_code in (403, 404)


async def test_the_regulator_publishes_a_white_list_of_consenting_firms(api, app):
    regulator = await api.org("regulator")
    willing, unwilling = await api.org("sme", name="同意科技"), await api.org("sme", name="未同意科技")
    r = await api.client.post("/whitelist-consents", headers=willing.headers)
    assert r.status_code in (200, 201), r.text
    async with browser(app) as zh, browser(app) as en:
        await sign_in(zh, regulator)
        page = await zh.get("/console/whitelists")
        assert page.status_code == 200 and "同意科技" in page.text and "发布白名单" in page.text
        form = {"name": "2026年度推荐白名单", "year": "2026"}
        r = await post_form(zh, "/console/whitelists", "/console/whitelists",
                            {**form, "org_ids": [willing.org_id, unwilling.org_id]})
        assert r.status_code == 409 and 'data-testid="form-error"' in r.text
        assert (await api.client.get("/whitelists", headers=regulator.headers)).json()["data"] == []
        r = await post_form(zh, "/console/whitelists", "/console/whitelists", {**form, "org_ids": willing.org_id})
        assert r.status_code == 303, r.text
        page = await zh.get(r.headers["location"])
        assert "白名单已发布" in page.text and "同意科技" in page.text and "未同意科技" not in page.text
        assert "2026年度推荐白名单" in (await zh.get("/console/whitelists")).text
        await sign_in(en, regulator, lang="en")
        assert "Publish a white list" in (await en.get("/console/whitelists")).text


async def test_a_reward_claims_items_and_verdicts_rejected_with_a_reason(api, app):
    regulator, firm = await api.org("regulator"), await api.org("sme", name="高价值科技")
    p = await reward_policy(api, regulator, "high_value_patent", name="高价值发明专利奖励")
    good, plain = await hv_patent(api, firm), await api.asset(firm)
    r = await claim(api, firm, p["id"], [good["id"], plain["id"]])
    assert r.status_code == 201, r.text
    claim_id = r.json()["id"]
    path = f"/console/subsidies/claims/{claim_id}"
    async with browser(app) as zh, browser(app) as en, browser(app) as own:
        await sign_in(zh, regulator)
        assert f'href="{path}"' in (await zh.get("/console/subsidies")).text
        page = await zh.get(path)
        items = page.text.split('data-testid="claim-items"')[1].split("</table>")[0]
        assert "符合条件" in items and "不符合条件" in items and "5,000.00 元" in items
        await sign_in(en, regulator, lang="en")
        items = (await en.get(path)).text.split('data-testid="claim-items"')[1].split("</table>")[0]
        assert "Qualifies" in items and "Does not qualify" in items
        r = await post_form(zh, path, f"/console/subsidies/claims/{claim_id}/reject", {"reason": "证明材料不全"})
        assert r.status_code == 303, r.text
        page = await zh.get(path)
        assert "证明材料不全" in page.text and 'name="reason"' not in page.text  # decided: no form
        got = (await api.client.get(f"/subsidy-claims/{claim_id}", headers=regulator.headers)).json()
        assert got["status"] == "rejected" and got["reject_reason"] == "证明材料不全"
        # The claimant reads its claim, without the regulator's decision forms.
        await sign_in(own, firm)
        mine = await own.get(path)
        assert mine.status_code == 200 and "审核决定" not in mine.text
