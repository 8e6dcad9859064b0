"""A geographical indication registered through the console: its form, product and region, shown on its page."""

from __future__ import annotations

from tests.console.helpers import browser, post_form, sign_in


async def test_register_a_gi_mark_in_the_console(api, app):
    association = await api.org("sme", name="运城市中药材协会", region="140800")
    async with browser(app) as c:
        await sign_in(c, association)
        form = (await c.get("/console/assets")).text
        assert "地理标志" in form and "集体商标" in form and 'name="region"' in form
        body = {"kind": "geographical_indication", "number": "52863499", "title": "运城黄芩",
                "gi_form": "collective_mark", "product": "黄芩", "region": "140800", "nice_classes": "5"}
        missing = await post_form(c, "/console/assets", "/console/assets", {**body, "product": ""})
        assert missing.status_code == 422 and 'value="52863499"' in missing.text
        r = await post_form(c, "/console/assets", "/console/assets", body)
        assert r.status_code == 303, r.text[:800]
        page = (await c.get(r.headers["location"])).text
        assert "运城黄芩" in page and "集体商标" in page and "140800" in page and "运城市中药材协会" in page


async def test_bank_sees_a_white_listed_applicant_marked(api, app):
    from tests.finance.loans.loan_flow import Cast, apply
    regulator, bank = await api.org("regulator"), await api.org("bank")
    listed, unlisted = await api.org("sme", name="白名单企业甲"), await api.org("sme", name="普通企业乙")
    assert (await api.client.post("/whitelist-consents", headers=listed.headers)).status_code == 201
    r = await api.client.post("/whitelists", json={"name": "推荐白名单", "year": 2026, "org_ids": [listed.org_id]},
                              headers=regulator.headers)
    assert r.status_code == 201, r.text
    await apply(api, Cast(listed, bank, [await api.asset(listed)]))
    await apply(api, Cast(unlisted, bank, [await api.asset(unlisted)]))
    async with browser(app) as c:
        await sign_in(c, bank)
        page = (await c.get("/console/applications")).text
    rows = [row for row in page.split("<tr>") if "白名单企业甲" in row or "普通企业乙" in row]
    assert len(rows) == 2
    assert all(('data-testid="whitelisted"' in row) == ("白名单企业甲" in row) for row in rows)
