"""Open licensing, licenses and royalty reports (use first, pay later) through HTTP."""

from __future__ import annotations

from datetime import date

from market.licensing.models import License
from market.licensing.service import royalty_for
from tests.helpers import assert_problem
from tests.market.helpers import pledge


async def _declare(client, owner, asset_id, **body):
    r = await client.post(f"/assets/{asset_id}/open-license", json={"term_months": 36, "rate_bps": 300, **body},
                          headers=owner.headers)
    assert r.status_code == 201, r.text
    return r.json()


async def test_declare_accept_withdraw(api, client):
    uni = await api.org("university")
    sme = await api.org("sme")
    sme2 = await api.org("sme")
    a = await api.asset(uni, title="一种石墨烯导热膜", abstract="高导热 graphene film")
    decl = await _declare(client, uni, a["id"], free_months=12, fixed_fee=100_000)
    assert decl["status"] == "active" and decl["warnings"] == [] and decl["annual_fee_reduction_bps"] == 1500
    listed = (await client.get("/open-licenses", params={"q": "石墨烯"}, headers=sme.headers)).json()["data"]
    assert [d["id"] for d in listed] == [decl["id"]]
    assert (await client.get("/open-licenses", params={"q": "锂电池"}, headers=sme.headers)).json()["data"] == []
    asset = (await client.get(f"/assets/{a['id']}", headers=sme.headers)).json()
    assert [e["kind"] for e in asset["encumbrances"]] == ["open_license"]
    # While open, no exclusive or sole license.
    for mode in ("exclusive_license", "sole_license"):
        r = await client.post("/listings", json={"asset_ids": [a["id"]], "mode": mode, "price": 9}, headers=uni.headers)
        assert_problem(r, 409, "asset_encumbered")
    # Accept by notice: a license of kind open at once, on the declared terms.
    r = await client.post(f"/assets/{a['id']}/open-license/accept", headers=sme.headers)
    assert r.status_code == 201, r.text
    lic = r.json()
    assert lic["kind"] == "open" and lic["status"] == "active" and lic["licensee_org_id"] == sme.org_id
    assert lic["royalty"]["rate_bps"] == 300 and lic["royalty"]["free_months"] == 12
    assert lic["starts_on"] == "2026-03-02" and lic["ends_on"] == "2029-03-01" and lic["free_until"] == "2027-03-02"
    deal = (await client.get(f"/deals/{lic['deal_id']}", headers=sme.headers)).json()
    assert deal["mode"] == "open_license" and deal["status"] == "recorded" and deal["amount"] == 100_000
    assert_problem(await client.post(f"/assets/{a['id']}/open-license/accept", headers=sme.headers),
                   409, "invalid_state")  # already holds one
    assert_problem(await client.post(f"/assets/{a['id']}/open-license/accept", headers=uni.headers),
                   409, "invalid_state")  # own patent
    assert_problem(await client.delete(f"/assets/{a['id']}/open-license", headers=sme.headers), 403, "forbidden")
    r = await client.delete(f"/assets/{a['id']}/open-license", headers=uni.headers)
    assert r.json()["status"] == "withdrawn"
    assert (await client.get("/open-licenses", headers=sme.headers)).json()["data"] == []
    # Licenses already granted stay; nobody new can take one.
    assert (await client.get(f"/licenses/{lic['id']}", headers=sme.headers)).json()["status"] == "active"
    assert_problem(await client.post(f"/assets/{a['id']}/open-license/accept", headers=sme2.headers),
                   404, "not_found")
    assert_problem(await client.get(f"/licenses/{lic['id']}", headers=sme2.headers), 404, "not_found")
    assert [x["id"] for x in (await client.get("/licenses", headers=uni.headers)).json()["data"]] == [lic["id"]]


async def test_declaration_refusals(api, app, client):
    uni = await api.org("university")
    sme = await api.org("sme")
    bank = await api.org("bank")
    a = await api.asset(uni)
    url = f"/assets/{a['id']}/open-license"
    assert_problem(await client.post(url, json={"term_months": 12, "rate_bps": 100}, headers=sme.headers),
                   403, "forbidden")
    for bad in ({"term_months": 12}, {"term_months": 0, "rate_bps": 1}, {"term_months": 12, "rate_bps": 10001},
                {"term_months": 12, "rate_bps": 1, "x": 1}, {"term_months": 12, "rate_bps": 1, "free_months": 12}):
        assert_problem(await client.post(url, json=bad, headers=uni.headers), 422, "validation_error")
    # Warnings, not refusals, for unusual terms.
    decl = await _declare(client, uni, a["id"], rate_bps=2500, fixed_fee=2_000_000_001)
    assert len(decl["warnings"]) == 2
    assert_problem(await client.post(url, json={"term_months": 12, "rate_bps": 1}, headers=uni.headers),
                   409, "invalid_state")  # already declared
    # Pledged without consent.
    b = await api.asset(uni)
    await pledge(app, [b["id"]], "loan_p", bank.org_id)
    assert_problem(await client.post(f"/assets/{b['id']}/open-license", json={"term_months": 12, "rate_bps": 1},
                                     headers=uni.headers), 409, "asset_encumbered")
    # Fees unpaid.
    c = await api.asset(uni, fees_paid_until="2026-03-01")
    assert_problem(await client.post(f"/assets/{c['id']}/open-license", json={"term_months": 12, "rate_bps": 1},
                                     headers=uni.headers), 409, "invalid_state")
    # Not valid (lapsed).
    d = await api.asset(uni)
    await client.patch(f"/assets/{d['id']}", json={"status": "lapsed"}, headers=uni.headers)
    assert_problem(await client.post(f"/assets/{d['id']}/open-license", json={"term_months": 12, "rate_bps": 1},
                                     headers=uni.headers), 409, "invalid_state")
    # A utility model needs an evaluation report; a trademark cannot be open-licensed.
    from tests.helpers import patent_number
    um = await api.asset(uni, number=patent_number(kind_digit="2"), kind="utility_model")
    um_url = f"/assets/{um['id']}/open-license"
    assert_problem(await client.post(um_url, json={"term_months": 12, "rate_bps": 1}, headers=uni.headers),
                   422, "validation_error")
    await _declare(client, uni, um["id"], evaluation_report_ref="PER-2026-001")
    tm = await api.asset(uni, kind="trademark", number="12345678", ipc_codes=[], nice_classes=[9])
    assert_problem(await client.post(f"/assets/{tm['id']}/open-license", json={"term_months": 12, "rate_bps": 1},
                                     headers=uni.headers), 409, "invalid_state")
    # An exclusive license in force blocks a declaration: see test_deals; here the declaration blocks it.


async def test_royalty_reports_use_first_pay_later(api, client):
    uni = await api.org("university")
    sme = await api.org("sme")
    a = await api.asset(uni)
    await _declare(client, uni, a["id"], rate_bps=500, free_months=1, term_months=24)
    lic = (await client.post(f"/assets/{a['id']}/open-license/accept", headers=sme.headers)).json()
    url = f"/licenses/{lic['id']}/royalty-reports"
    await api.advance(60)  # 2026-05-01
    # Inside the free period (2 March – 1 April): nothing due.
    r = await client.post(url, json={"period_start": "2026-03-02", "period_end": "2026-03-31",
                                     "net_sales": 10_000_000}, headers=sme.headers)
    assert r.status_code == 201, r.text
    assert r.json()["royalty_due"] == 0 and r.json()["due_on"] == "2026-04-30" and r.json()["status"] == "paid"
    # Straddling the end of the free period: 1 April free, 2–30 April chargeable → 29/30 of sales at 5%.
    r = await client.post(url, json={"period_start": "2026-04-01", "period_end": "2026-04-30",
                                     "net_sales": 3_000_001}, headers=sme.headers)
    body = r.json()
    assert body["chargeable_days"] == 29 and body["royalty_due"] == 145_000  # 3_000_001×29×0.05/30 = 145000.05
    assert body["due_on"] == "2026-05-30" and body["status"] == "due"
    # Refusals: the licensor does not report; overlap; future period; outside the term; bad input.
    good = {"period_start": "2026-04-15", "period_end": "2026-04-20", "net_sales": 1}
    assert_problem(await client.post(url, json=good, headers=uni.headers), 403, "forbidden")
    assert_problem(await client.post(url, json=good, headers=sme.headers), 409, "invalid_state")
    for bad in ({**good, "period_start": "2026-05-01", "period_end": "2026-05-02"},
                {**good, "period_start": "2026-03-01", "period_end": "2026-03-01"},
                {**good, "period_end": "2026-04-10"}, {**good, "net_sales": -1}, {**good, "x": 1}):
        assert_problem(await client.post(url, json=bad, headers=sme.headers), 422, "validation_error")
    outsider = await api.org("sme")
    assert_problem(await client.post(url, json=good, headers=outsider.headers), 404, "not_found")
    # Overdue after 30 May; then the licensor marks it paid.
    await api.advance(29)  # closes up to 29 May
    reports = (await client.get(url, headers=uni.headers)).json()
    assert reports[1]["status"] == "due"
    await api.advance(1)  # closes 30 May, the due date itself
    assert (await client.get(url, headers=uni.headers)).json()[1]["status"] == "due"
    await api.advance(1)
    assert (await client.get(url, headers=uni.headers)).json()[1]["status"] == "overdue"
    rid = reports[1]["id"]
    assert_problem(await client.post(f"/royalty-reports/{rid}/mark-paid", headers=sme.headers), 403, "forbidden")
    r = await client.post(f"/royalty-reports/{rid}/mark-paid", headers=uni.headers)
    assert r.json()["status"] == "paid" and r.json()["paid_on"] == "2026-06-01"
    assert_problem(await client.post(f"/royalty-reports/{rid}/mark-paid", headers=uni.headers), 409, "invalid_state")


def test_royalty_proration_half_up():
    lic = License(kind="open", asset_ids=[], licensor_org_id="a", licensee_org_id="b", rate_bps=250,
                  free_months=12, starts_on=date(2026, 1, 31), ends_on=date(2030, 1, 30))
    # Free until 2027-01-31; the whole of January 2027 but the last day is free.
    assert royalty_for(lic, date(2027, 1, 1), date(2027, 1, 31), 3_100_000) == (1, 2_500)
    assert royalty_for(lic, date(2026, 6, 1), date(2026, 6, 30), 99_999_999) == (0, 0)
    # 1 × 2.5% × 1/3 of 3 fen = 0.025 → 0; of 20 fen ⇒ 0.1666 → 0; 61 fen × 2.5% = 1.525 → 2 (half-up).
    assert royalty_for(lic, date(2027, 2, 1), date(2027, 2, 1), 61) == (1, 2)
    # An exclusive license in force refuses an open-license declaration (tested through deals below).


async def test_exclusive_license_in_force_refuses_declaration(api, app, client):
    from tests.market.helpers import listing, offer, settle
    uni = await api.org("university")
    sme = await api.org("sme")
    a = await api.asset(uni)
    lst = await listing(api, uni, [a["id"]], mode="sole_license", price=1_000)
    o = await offer(api, sme, lst["id"], 1_000)
    deal = (await client.post(f"/offers/{o['id']}/accept", headers=uni.headers)).json()["deal"]
    await settle(app, deal["id"])
    r = await client.post(f"/assets/{a['id']}/open-license", json={"term_months": 12, "rate_bps": 1},
                          headers=uni.headers)
    assert_problem(r, 409, "asset_encumbered")


async def test_minimum_annual_royalty_shortfall_charged_each_license_year(api, client):
    """A license from a listing: 5% of net sales, 2 free months, ¥120,000 minimum a year, 18 months."""
    from tests.market.helpers import listing, offer
    uni = await api.org("university")
    sme = await api.org("sme")
    a = await api.asset(uni)
    lst = await listing(api, uni, [a["id"]], mode="nonexclusive_license", price=1_000_000, rate_bps=500,
                        free_months=2, minimum_annual=12_000_000, term_months=18)
    o = await offer(api, sme, lst["id"], amount=1_000_000)
    deal = (await client.post(f"/offers/{o['id']}/accept", headers=uni.headers)).json()["deal"]
    r = await client.post(f"/deals/{deal['id']}/pay", headers=sme.headers)
    assert r.status_code == 201, r.text
    lic_id = (await client.get(f"/deals/{deal['id']}", headers=sme.headers)).json()["license_id"]
    lic = (await client.get(f"/licenses/{lic_id}", headers=sme.headers)).json()
    assert lic["royalty"] == {"fixed_fee": 1_000_000, "rate_bps": 500, "free_months": 2,
                              "minimum_annual": 12_000_000}
    assert (lic["starts_on"], lic["ends_on"], lic["status"]) == ("2026-03-02", "2027-09-01", "active")
    url = f"/licenses/{lic_id}/royalty-reports"
    await api.advance(364)  # 2027-03-01, the last day of the first license year, not yet closed
    r = await client.post(url, json={"period_start": "2026-05-02", "period_end": "2026-12-31",
                                     "net_sales": 100_000_000}, headers=sme.headers)
    assert r.json()["royalty_due"] == 5_000_000 and r.json()["kind"] == "sales"
    assert [x["kind"] for x in (await client.get(url, headers=uni.headers)).json()] == ["sales"]

    await api.advance(1)  # closes 2027-03-01: the year's minimum, prorated to 304 of 365 days outside the free period
    lines = (await client.get(url, headers=uni.headers)).json()
    short = [x for x in lines if x["kind"] == "minimum_shortfall"]
    assert len(short) == 1
    # 12,000,000 × 304/365 = 9,994,520.5 → 9,994,521 (half-up); less the 5,000,000 reported.
    assert (short[0]["royalty_due"], short[0]["period_start"], short[0]["period_end"]) == (
        4_994_521, "2026-03-02", "2027-03-01")
    assert (short[0]["due_on"], short[0]["status"], short[0]["chargeable_days"]) == ("2027-03-31", "due", 304)

    # Late sales for the settled year are credited against the shortfall: the year costs
    # max(minimum, royalties) = 5,000,000 + 6,000,000, of which 9,994,521 is already charged.
    r = await client.post(url, json={"period_start": "2027-01-01", "period_end": "2027-03-01",
                                     "net_sales": 120_000_000}, headers=sme.headers)
    assert r.status_code == 201, r.text
    assert r.json()["royalty_due"] == 1_005_479
    # A shortfall line is no sales period: it neither blocks nor overlaps sales reports of its year.
    assert_problem(await client.post(url, json={"period_start": "2026-12-01", "period_end": "2027-01-05",
                                                "net_sales": 1}, headers=sme.headers), 409, "invalid_state")

    # The short second year (2027-03-02 – 2027-09-01, 184 of 366 days) with no sales: the whole prorated minimum.
    await api.advance(184)  # closes 2027-09-01, the license's last day
    lines = (await client.get(url, headers=uni.headers)).json()
    short = [x for x in lines if x["kind"] == "minimum_shortfall"]
    assert [x["royalty_due"] for x in short] == [4_994_521, 6_032_787]  # 12,000,000 × 184/366 = 6,032,786.9
    assert (await client.get(f"/licenses/{lic_id}", headers=sme.headers)).json()["status"] == "ended"
    # The licensor confirms receipt of a shortfall like any royalty; running the day-end again charges nothing more.
    r = await client.post(f"/royalty-reports/{short[1]['id']}/mark-paid", headers=uni.headers)
    assert r.json()["status"] == "paid"
    await api.advance(400)
    assert len((await client.get(url, headers=uni.headers)).json()) == len(lines)


def test_license_years_and_minimum_proration():
    from market.licensing.service import license_years, year_minimum
    lic = License(kind="nonexclusive", asset_ids=[], licensor_org_id="o1", licensee_org_id="o2", rate_bps=100,
                  free_months=14, minimum_annual=1_000_000, starts_on=date(2024, 1, 31), ends_on=date(2026, 3, 15))
    years = license_years(lic)
    assert years == [(date(2024, 1, 31), date(2025, 1, 30), 366), (date(2025, 1, 31), date(2026, 1, 30), 365),
                     (date(2026, 1, 31), date(2026, 3, 15), 365)]
    # Chargeable from 2025-03-31: year one carries no minimum, year two only 306 of 365 days.
    assert year_minimum(lic, years[0]) == (0, 0)
    assert year_minimum(lic, years[1]) == (306, 838_356)  # 1,000,000 × 306/365 = 838,356.2
    assert year_minimum(lic, years[2]) == (44, 120_548)  # 1,000,000 × 44/365 = 120,547.9
    lic.minimum_annual = None
    assert year_minimum(lic, years[1]) == (306, 0)
