import csv
import io
import struct

from tests.helpers import assert_problem, patent_number


async def _region(client, admin, code, name, population):
    r = await client.post("/regions", json={"code": code, "name": name, "population": population},
                          headers=admin.headers)
    assert r.status_code == 201, r.text


async def test_lpr_table_and_rate_in_force(api, client, app):
    admin = await api.admin()
    sme = await api.org("sme")
    for eff, one, five in [("2026-01-20", 300, 350), ("2026-02-20", 295, 345)]:
        r = await client.post("/lpr", json={"effective_on": eff, "one_year_bps": one, "five_year_bps": five},
                              headers=admin.headers)
        assert r.status_code == 201, r.text
    assert_problem(await client.post("/lpr", json={"effective_on": "2026-02-20", "one_year_bps": 1,
                                                   "five_year_bps": 1}, headers=admin.headers), 409, "already_exists")
    assert_problem(await client.post("/lpr", json={"effective_on": "2026-03-20", "one_year_bps": 300,
                                                   "five_year_bps": 350}, headers=sme.headers), 403, "forbidden")
    assert_problem(await client.post("/lpr", json={"effective_on": "2026-03-20", "one_year_bps": -1,
                                                   "five_year_bps": 350}, headers=admin.headers), 422,
                   "validation_error")
    listed = (await client.get("/lpr", headers=sme.headers)).json()
    assert [r["effective_on"] for r in listed] == ["2026-02-20", "2026-01-20"]

    from datetime import date

    from finance.rates.service import in_force
    async with app.state.session_factory() as session:
        assert (await in_force(session, date(2026, 2, 19))).one_year_bps == 300
        assert (await in_force(session, date(2026, 2, 20))).one_year_bps == 295
        assert await in_force(session, date(2025, 12, 31)) is None


async def test_high_value_per_10k_by_region(api, client):
    admin = await api.admin()
    regulator = await api.org("regulator")
    await _region(client, admin, "140100", "太原市", 5_430_000)
    await _region(client, admin, "140200", "大同市", 3_100_000)
    taiyuan = await api.org("university", region="140100")
    datong = await api.org("sme", region="140200")
    await api.asset(taiyuan, strategic_emerging=True)
    await api.asset(taiyuan, family_countries=["US", "EP"])
    await api.asset(taiyuan)  # filed 2019, nothing else: not high-value
    await api.asset(datong, awards=["china_patent_award"])
    await api.asset(datong, kind="utility_model", number=patent_number(2019, "2"), strategic_emerging=True)  # not invention

    r = await client.get("/stats/high-value-patents", headers=regulator.headers)
    assert r.status_code == 200, r.text
    rows = {row["region"]: row for row in r.json()["data"]}
    assert rows["140100"]["count"] == 2
    assert rows["140100"]["per_10k"] == round(2 * 10000 / 5_430_000, 4)
    assert rows["140200"]["count"] == 1
    assert r.json()["totals"]["count"] == 3

    one = (await client.get("/stats/high-value-patents?region=140200", headers=regulator.headers)).json()
    assert [row["region"] for row in one["data"]] == ["140200"]
    assert one["filters"]["region"] == "140200"

    sme = await api.org("sme")
    assert_problem(await client.get("/stats/high-value-patents", headers=sme.headers), 403, "forbidden")


async def test_enterprise_ip_index_and_csv(api, client):
    regulator = await api.org("regulator")
    await api.org("sme", region="140100", ip_honours=["national_demonstration", "standard_certified"])
    await api.org("sme", region="140100", ip_honours=["national_advantage"])
    await api.org("university", region="140100", ip_honours=["provincial_advantage"])
    r = await client.get("/stats/enterprise-ip-index?region=140100", headers=regulator.headers)
    row = r.json()["data"][0]
    # 1×3 + (1 + 0)×2 + (1 + 1)×1
    assert row["index"] == 7
    raw = (await client.get("/stats/enterprise-ip-index?region=140100&format=csv",
                            headers=regulator.headers)).content
    parsed = list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"))))
    assert parsed[0]["Index"] == "7" and parsed[0]["Region code"] == "140100"


async def test_innovation_efficiency(api, client):
    regulator = await api.org("regulator")
    firm = await api.org("sme", region="140100", rd_spending_last_year=5_000_000_000)  # ¥50m
    await api.asset(firm, filing_date="2023-01-05", grant_date="2025-03-01")
    await api.asset(firm, filing_date="2023-01-05", grant_date="2025-11-30")
    await api.asset(firm, filing_date="2023-01-05", grant_date="2026-01-15")  # this year: not counted
    r = await client.get("/stats/innovation-efficiency?year=2026&region=140100", headers=regulator.headers)
    row = r.json()["data"][0]
    assert row["invention_patents_granted"] == 2
    assert row["patents_per_100m_yuan"] == 4.0  # 2 patents / ¥0.5 (100m)
    assert r.json()["filters"]["counted_year"] == 2025
    assert_problem(await client.get("/stats/innovation-efficiency?year=1900", headers=regulator.headers), 422,
                   "validation_error")


async def test_charts_decode_with_expected_size(api, client):
    admin = await api.admin()
    regulator = await api.org("regulator")
    await _region(client, admin, "140100", "太原市", 5_430_000)
    uni = await api.org("university", region="140100")
    await api.asset(uni, strategic_emerging=True)
    png = await client.get("/stats/high-value-patents?format=png", headers=regulator.headers)
    assert png.headers["content-type"] == "image/png"
    assert png.content[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", png.content[16:24])
    assert (width, height) == (1000, 600)
    svg = await client.get("/stats/high-value-patents?format=svg", headers=regulator.headers)
    assert svg.headers["content-type"].startswith("image/svg+xml")
    assert b"<svg" in svg.content[:500]
    assert_problem(await client.get("/stats/high-value-patents?format=gif", headers=regulator.headers), 422,
                   "validation_error")
