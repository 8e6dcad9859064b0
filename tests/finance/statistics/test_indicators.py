"""The pilot zone's indicators (001_… table 1, tasks 5, 6, 10) on a small world checked by hand."""

from __future__ import annotations

import csv
import io

from tests.finance.loans.loan_flow import YUAN, Cast, active_loan
from tests.helpers import assert_problem, patent_number
from tests.market.test_geographical_indications import gi

REGION = "149900"


async def test_indicators_worked(api, client):
    admin = await api.admin()
    r = await client.post("/regions", json={"code": REGION, "name": "示范区", "population": 400_000},
                          headers=admin.headers)
    assert r.status_code in (200, 201), r.text
    regulator, bank = await api.org("regulator"), await api.org("bank")
    firm = await api.org("sme", region=REGION, ip_honours=["national_demonstration", "provincial_advantage"])
    listed = await api.org("sme", region=REGION)
    hv = [await api.asset(firm, strategic_emerging=True) for _ in range(2)]
    await api.asset(firm)  # an invention patent that is not high-value
    # A 2026 filing with a PCT application, and one without.
    await api.asset(firm, number=patent_number(year=2026), filing_date="2026-01-10", grant_date=None,
                    expiry_date=None, fees_paid_until=None, family_countries=["CN", "WO"])
    await api.asset(firm, number=patent_number(year=2026), filing_date="2026-01-12", grant_date=None,
                    expiry_date=None, fees_paid_until=None)
    await gi(api, firm)  # a collective mark
    await gi(api, firm, gi_form="certification_mark")
    await gi(api, firm, gi_form="gi_product", number="2020年第9号", nice_classes=None)
    await api.asset(firm, kind="trademark", number="7788991", title="驰名品牌", ipc_codes=None, claims_count=None,
                    filing_date=None, grant_date=None, expiry_date=None, fees_paid_until=None,
                    awards=["well_known_trademark"])
    # Two loans registered in 2026: ¥1,000,000 each, one to a white-listed firm.
    await active_loan(api, Cast(firm, bank, [hv[0]]))
    assert (await client.post("/whitelist-consents", headers=listed.headers)).status_code == 201
    r = await client.post("/whitelists", json={"name": "白名单", "year": 2026, "org_ids": [listed.org_id]},
                          headers=regulator.headers)
    assert r.status_code == 201, r.text
    await active_loan(api, Cast(listed, bank, [await api.asset(listed)]))

    r = await client.get("/stats/indicators", params={"year": 2026, "region": REGION}, headers=regulator.headers)
    assert r.status_code == 200, r.text
    body = r.json()
    rows = {x["indicator"]: x for x in body["data"]}
    pledge = rows["pledge_financing_amount"]
    # ¥2,000,000 = 0.02 亿元 against the 2025 target of 5 亿元 (2021: 2.8): not met.
    assert (pledge["figure"], pledge["amount"], pledge["baseline"], pledge["target"], pledge["met"]) == (
        0.02, 2_000_000 * YUAN, 2.8, 5.0, False)
    assert rows["pledge_financing_count"]["figure"] == 2
    # 2 high-value patents (the listed firm's patent is not one) / 400,000 people × 10,000 = 0.05 per 10,000,
    # against the 2025 target of 45.
    assert rows["high_value_patents"]["figure"] == 2
    assert rows["high_value_patents_per_10k"]["figure"] == 0.05
    assert (rows["high_value_patents_per_10k"]["target"], rows["high_value_patents_per_10k"]["met"]) == (45.0, False)
    assert rows["pct_applications"]["figure"] == 1
    assert rows["well_known_trademarks"]["figure"] == 1
    assert (rows["collective_marks"]["figure"], rows["certification_marks"]["figure"],
            rows["gi_products"]["figure"]) == (1, 1, 1)
    assert rows["enterprise_ip_index"]["figure"] == 3 + 1
    assert (rows["whitelisted_loans_count"]["figure"], rows["whitelisted_loans_amount"]["amount"]) == (
        1, 1_000_000 * YUAN)
    assert rows["licenses_count"]["figure"] == 0 and rows["licenses_count"]["target"] is None
    assert rows["licenses_count"]["met"] is None
    assert {x["indicator"] for x in body["not_from_records"]} >= {"high_tech_enterprises", "ip_service_agencies"}
    # The same as a CSV (money in 元) and a chart; a bank may not read it; a future year is refused.
    r = await client.get("/stats/indicators", params={"year": 2026, "region": REGION, "format": "csv"},
                         headers={**regulator.headers, "Accept-Language": "zh-CN"})
    assert r.status_code == 200
    text = r.content.decode("utf-8-sig")
    assert "知识产权质押融资登记金额" in text and "2000000.00" in text
    assert any(row and row[0] == "pledge_financing_amount" for row in csv.reader(io.StringIO(text)))
    r = await client.get("/stats/indicators", params={"year": 2026, "format": "png"}, headers=regulator.headers)
    assert r.status_code == 200 and r.content[:4] == b"\x89PNG"
    assert_problem(await client.get("/stats/indicators", headers=bank.headers), 403, "forbidden")
    assert_problem(await client.get("/stats/indicators", params={"year": 2030}, headers=regulator.headers), 422,
                   "validation_error")
    # Pledge financing says how much of it went to white-listed firms.
    r = await client.get("/stats/pledge-financing", params={"group_by": "region"}, headers=regulator.headers)
    assert r.json()["whitelisted"]["count"] >= 1
