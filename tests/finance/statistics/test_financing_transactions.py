"""Pledge-financing and transaction statistics match the records made through the API; CSV and charts."""

import csv
import io
import xml.etree.ElementTree as ET

from PIL import Image

from tests.finance.loans.loan_flow import YUAN
from tests.finance.subsidies.helpers import loan
from tests.helpers import assert_problem
from tests.market.helpers import listing, offer

M = 1_000_000 * YUAN


async def _region(client, admin, code, name, population):
    r = await client.post("/regions", json={"code": code, "name": name, "population": population},
                          headers=admin.headers)
    assert r.status_code == 201, r.text


async def _book(api, client):
    admin = await api.admin()
    await _region(client, admin, "140100", "太原市", 5_430_000)
    await _region(client, admin, "140200", "大同市", 3_100_000)
    a = await api.org("sme", region="140100", industry="新能源")
    b = await api.org("sme", region="140200", industry="生物医药")
    bank1, bank2 = await api.org("bank", name="晋商银行"), await api.org("bank", name="太原农商行")
    await loan(api, a, bank1, amount=1 * M)  # registered 2026-03-02
    await loan(api, b, bank2, amount=2 * M)
    await loan(api, b, bank1, amount=7 * M, disburse=False)  # accepted, never registered: not counted
    await api.advance(35)  # 2026-04-06
    await loan(api, a, bank2, amount=3 * M)
    return a, b, bank1, bank2


async def test_pledge_financing_by_month_region_industry_bank(api, client):
    regulator, fund = await api.org("regulator"), await api.org("fund")
    _a, _b, bank1, bank2 = await _book(api, client)
    q = "/stats/pledge-financing?from=2026-03-01&to=2026-04-30"

    r = await client.get(q, headers=regulator.headers)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["filters"] == {"from": "2026-03-01", "to": "2026-04-30", "group_by": "month"}
    assert body["data"] == [{"month": "2026-03", "count": 2, "amount": 3 * M},
                            {"month": "2026-04", "count": 1, "amount": 3 * M}]
    assert body["totals"] == {"count": 3, "amount": 6 * M}

    rows = (await client.get(q + "&group_by=region", headers=fund.headers)).json()["data"]
    assert rows == [{"region": "140100", "region_name": "太原市", "count": 2, "amount": 4 * M},
                    {"region": "140200", "region_name": "大同市", "count": 1, "amount": 2 * M}]
    rows = (await client.get(q + "&group_by=industry", headers=regulator.headers)).json()["data"]
    assert {r["industry"]: (r["count"], r["amount"]) for r in rows} == {"新能源": (2, 4 * M), "生物医药": (1, 2 * M)}
    rows = (await client.get(q + "&group_by=bank", headers=(await api.admin()).headers)).json()["data"]
    assert {r["bank_name"]: (r["bank_org_id"], r["count"], r["amount"]) for r in rows} == {
        "晋商银行": (bank1.org_id, 1, 1 * M), "太原农商行": (bank2.org_id, 2, 5 * M)}

    april = (await client.get("/stats/pledge-financing?from=2026-04-01&to=2026-04-06",
                              headers=regulator.headers)).json()
    assert april["totals"] == {"count": 1, "amount": 3 * M}
    # Defaults: this year up to the business date.
    default = (await client.get("/stats/pledge-financing", headers=regulator.headers)).json()
    assert default["filters"]["from"] == "2026-01-01" and default["filters"]["to"] == "2026-04-06"
    assert default["totals"]["count"] == 3 and default["data"][0]["month"] == "2026-01"

    raw = (await client.get(q + "&group_by=region&format=csv", headers=regulator.headers)).content
    assert raw.startswith("\ufeff".encode()) and not raw.decode("utf-8-sig").startswith("#")
    parsed = list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"))))
    assert parsed[0] == {"Region code": "140100", "Region": "太原市", "Count": "2", "Amount (yuan)": f"{4 * M // 100}.00"}
    assert parsed[-1]["Region code"] == "Total" and parsed[-1]["Amount (yuan)"] == f"{6 * M // 100}.00"
    zh = (await client.get(q + "&group_by=region&format=csv", headers={**regulator.headers,
                                                                      "Accept-Language": "zh-CN"})).content
    assert next(csv.reader(io.StringIO(zh.decode("utf-8-sig")))) == ["地区代码", "地区", "笔数", "金额（元）"]

    png = await client.get(q + "&format=png", headers=regulator.headers)
    assert png.headers["content-type"] == "image/png"
    image = Image.open(io.BytesIO(png.content))
    image.load()
    assert image.format == "PNG" and image.size == (1000, 600)
    svg = await client.get(q + "&group_by=bank&format=svg", headers=regulator.headers)
    root = ET.fromstring(svg.content)
    assert root.tag.endswith("svg") and (root.get("width"), root.get("height")) == ("720pt", "432pt")


async def test_pledge_financing_bad_input_and_roles(api, client):
    regulator, sme, bank = await api.org("regulator"), await api.org("sme"), await api.org("bank")
    assert_problem(await client.get("/stats/pledge-financing?from=2026-05-01&to=2026-04-01",
                                    headers=regulator.headers), 422, "validation_error")
    assert_problem(await client.get("/stats/pledge-financing?group_by=quarter", headers=regulator.headers), 422,
                   "validation_error")
    assert_problem(await client.get("/stats/pledge-financing?from=2026-13-01", headers=regulator.headers), 422,
                   "validation_error")
    assert_problem(await client.get("/stats/transactions?from=2026-05-01&to=2026-04-01",
                                    headers=regulator.headers), 422, "validation_error")
    for who in (sme, bank):
        assert_problem(await client.get("/stats/pledge-financing", headers=who.headers), 403, "forbidden")
        assert_problem(await client.get("/stats/transactions", headers=who.headers), 403, "forbidden")


async def _deal(api, client, app, mode, price, amount, *, region=None, industry=None, **extra):
    uni, buyer = await api.org("university", region=region), await api.org("sme")
    a = await api.asset(uni, **({"industry": industry} if industry else {}))
    lst = await listing(api, uni, [a["id"]], mode=mode, price=price, **extra)
    o = await offer(api, buyer, lst["id"], amount)
    deal = (await client.post(f"/offers/{o['id']}/accept", headers=uni.headers)).json()["deal"]
    paid = await client.post(f"/deals/{deal['id']}/pay", headers=buyer.headers)
    assert paid.status_code in (200, 201), paid.text
    got = (await client.get(f"/deals/{deal['id']}", headers=buyer.headers)).json()
    assert got["status"] == "recorded", got
    return got


async def test_transactions_count_licenses_and_transfers(api, client, app):
    regulator = await api.org("regulator")
    await _deal(api, client, app, "assignment", 50 * M // 100, 40 * M // 100)  # ¥400,000 transfer
    await _deal(api, client, app, "nonexclusive_license", 10 * M // 100, 8 * M // 100, term_months=24)
    # An open license by notice, ¥30,000 fixed fee.
    owner, taker = await api.org("university"), await api.org("sme")
    asset = await api.asset(owner)
    r = await client.post(f"/assets/{asset['id']}/open-license", json={"term_months": 36, "fixed_fee": 3 * M // 100},
                          headers=owner.headers)
    assert r.status_code == 201, r.text
    assert (await client.post(f"/assets/{asset['id']}/open-license/accept", headers=taker.headers)).status_code == 201
    # Agreed but never paid: not recorded, not counted.
    uni, buyer = await api.org("university"), await api.org("sme")
    lst = await listing(api, uni, [(await api.asset(uni))["id"]], price=9 * M // 100)
    o = await offer(api, buyer, lst["id"], 9 * M // 100)
    assert (await client.post(f"/offers/{o['id']}/accept", headers=uni.headers)).status_code == 200
    await api.advance(31)  # 2026-04-02
    await _deal(api, client, app, "assignment", 2 * M, 2 * M)

    r = await client.get("/stats/transactions?from=2026-03-01&to=2026-04-30", headers=regulator.headers)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["filters"] == {"from": "2026-03-01", "to": "2026-04-30", "group_by": "month"}
    march, april = body["data"]
    assert (march["month"], march["licenses_count"], march["licenses_amount"]) == ("2026-03", 2, 11 * M // 100)
    assert (march["transfers_count"], march["transfers_amount"]) == (1, 40 * M // 100)
    assert (april["licenses_count"], april["transfers_count"], april["transfers_amount"]) == (0, 1, 2 * M)
    assert body["totals"]["licenses_count"] == 2 and body["totals"]["transfers_amount"] == 240 * M // 100
    assert body["totals"]["total_count"] == 4
    assert {m["mode"]: (m["kind"], m["count"], m["amount"]) for m in body["by_mode"]} == {
        "assignment": ("transfers", 2, 240 * M // 100), "nonexclusive_license": ("licenses", 1, 8 * M // 100),
        "open_license": ("licenses", 1, 3 * M // 100)}

    raw = (await client.get("/stats/transactions?from=2026-03-01&to=2026-04-30&format=csv",
                            headers=regulator.headers)).content
    parsed = list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"))))
    assert [p["Month"] for p in parsed] == ["2026-03", "2026-04", "Total"]
    assert parsed[0]["Licenses amount (yuan)"] == f"{11 * M // 100 // 100}.00"
    png = await client.get("/stats/transactions?from=2026-03-01&to=2026-04-30&format=png", headers=regulator.headers)
    image = Image.open(io.BytesIO(png.content))
    image.load()
    assert image.size == (1000, 600)


async def test_transactions_by_region_and_industry(api, client, app):
    admin, regulator = await api.admin(), await api.org("regulator")
    r = await client.post("/regions", json={"code": "140100", "name": "太原市", "population": 5_430_000},
                          headers=admin.headers)
    assert r.status_code == 201, r.text
    await _deal(api, client, app, "assignment", 50 * M // 100, 40 * M // 100, region="140100", industry="新材料")
    await _deal(api, client, app, "nonexclusive_license", 10 * M // 100, 8 * M // 100, region="140100",
                industry="生物医药", term_months=24)
    await _deal(api, client, app, "assignment", 2 * M, 2 * M, region="140200", industry="新材料")
    by_region = (await client.get("/stats/transactions?group_by=region", headers=regulator.headers)).json()
    assert by_region["filters"]["group_by"] == "region"
    rows = {row["region"]: row for row in by_region["data"]}
    assert (rows["140100"]["region_name"], rows["140100"]["transfers_amount"], rows["140100"]["licenses_count"]) == (
        "太原市", 40 * M // 100, 1)
    assert (rows["140200"]["transfers_count"], rows["140200"]["transfers_amount"]) == (1, 2 * M)
    by_industry = (await client.get("/stats/transactions?group_by=industry", headers=regulator.headers)).json()
    rows = {row["industry"]: row for row in by_industry["data"]}
    assert rows["新材料"]["transfers_amount"] == 240 * M // 100 and rows["生物医药"]["licenses_amount"] == 8 * M // 100
    assert by_industry["totals"]["total_count"] == 3
    assert_problem(await client.get("/stats/transactions?group_by=bank", headers=regulator.headers), 422,
                   "validation_error")
