"""Review round: LPR + spread fixed at signing, month-end due dates, paying an instalment a few days early,
the classification history, the collateral shortfall and who sees applications."""

from datetime import date, timedelta

from finance.loans.shortfall import bundle_shortfall, shortfall_amount
from tests.finance.loans import loan_flow as lf
from tests.helpers import assert_problem


async def _publish_lpr(api, client, effective_on: str, one: int, five: int) -> None:
    r = await client.post("/lpr", json={"effective_on": effective_on, "one_year_bps": one, "five_year_bps": five},
                          headers=(await api.admin()).headers)
    assert r.status_code == 201, r.text


async def test_lpr_and_spread_are_fixed_when_the_contract_is_signed(api, client):
    await _publish_lpr(api, client, "2026-02-20", 300, 350)
    c = await lf.cast(api)
    app = await lf.apply(api, c)
    offer = await lf.offer(api, c.bank, app["id"], annual_rate_bps=435)
    assert (offer["lpr_tenor"], offer["lpr_effective_on"], offer["lpr_bps"], offer["spread_bps"]) == (
        "1y", "2026-02-20", 300, 135)
    # A new LPR is published before the SME signs: the contract fixes the one in force on signing.
    await _publish_lpr(api, client, "2026-03-03", 290, 340)
    await api.advance(1)
    r = await client.post(f"/loan-offers/{offer['id']}/accept", headers=c.sme.headers)
    assert r.status_code == 201, r.text
    loan = r.json()
    assert loan["signed_on"] == "2026-03-03" and loan["annual_rate_bps"] == 435
    assert (loan["lpr_tenor"], loan["lpr_effective_on"], loan["lpr_bps"], loan["spread_bps"]) == (
        "1y", "2026-03-03", 290, 145)
    # A later LPR never changes a signed contract.
    await _publish_lpr(api, client, "2026-03-05", 250, 300)
    await api.advance(3)
    got = await lf.loan(api, c.sme, loan["id"])
    assert (got["lpr_bps"], got["spread_bps"], got["annual_rate_bps"]) == (290, 145, 435)


async def test_long_loans_price_off_the_five_year_lpr_and_spreads_may_be_negative(api, client):
    await _publish_lpr(api, client, "2026-02-20", 300, 350)
    c = await lf.cast(api)
    app = await lf.apply(api, c, term_months=120)
    offer = await lf.offer(api, c.bank, app["id"], annual_rate_bps=330, term_months=120)
    assert (offer["lpr_tenor"], offer["lpr_bps"], offer["spread_bps"]) == ("5y", 350, -20)


async def test_without_a_published_lpr_the_loan_carries_on_with_nulls(api, client):
    c = await lf.cast(api)
    loan = await lf.active_loan(api, c)
    assert loan["signed_on"] == "2026-03-02"
    assert [loan[k] for k in ("lpr_tenor", "lpr_effective_on", "lpr_bps", "spread_bps")] == [None] * 4


async def test_disbursed_on_the_31st_falls_due_on_each_month_end(api, client):
    c = await lf.cast(api)
    loan = await lf.accepted_loan(api, c, term_months=4)
    await lf.register(api, c, loan["id"])
    await lf.advance_to(api, date(2026, 3, 31))
    r = await client.post(f"/loans/{loan['id']}/disburse", headers=c.bank.headers)
    assert r.status_code == 200, r.text
    assert r.json()["disbursed_on"] == "2026-03-31" and r.json()["maturity_on"] == "2026-07-31"
    rows = await lf.schedule(api, c.sme, loan["id"])
    assert [x["due_on"] for x in rows] == ["2026-04-30", "2026-05-31", "2026-06-30", "2026-07-31"]


async def test_an_instalment_paid_days_early_is_paid_with_interest_to_that_day(api, client):
    """Domain §6 Servicing: interest to a prepayment date accrues daily. The instalment paid four days
    early is paid (closed today); its interest is the 27 days accrued, what that saves prepays principal,
    and the remaining balance's four days to the due date are carried into instalment 2."""
    c = await lf.cast(api)
    loan = await lf.active_loan(api, c)
    before = await lf.schedule(api, c.sme, loan["id"])
    await lf.advance_to(api, date(2026, 3, 29))  # four days before the first due date
    out = await lf.repay(api, c.sme, loan["id"], before[0]["payment"])
    # 1,000,000.00 × 4.35% / 360 × 27 = 3,262.50
    assert out["allocation"] == {"penalty": 0, "charges": 0, "interest": 3_262_50,
                                 "principal": before[0]["payment"] - 3_262_50, "prepaid_principal": 362_50}
    after = await lf.schedule(api, c.sme, loan["id"])
    assert after[0]["status"] == "paid" and after[0]["paid_on"] == "2026-03-29"
    # 917,952.60 × 4.35% / 360 × 4 = 443.68 carried into instalment 2
    assert after[1]["carried_interest"] == 443_68 and after[1]["accrues_from"] == "2026-03-29"
    assert sum(x["principal"] for x in after) == loan["principal"]
    assert out["loan"]["next_due"]["n"] == 2 and out["loan"]["next_due"]["amount"] == after[1]["payment"]
    await lf.advance_to(api, date(2026, 4, 10))  # past the first due date: nothing is late
    got = await lf.loan(api, c.bank, loan["id"])
    assert got["status"] == "active" and got["days_past_due"] == 0 and got["penalty_outstanding"] == 0


async def test_early_repayment_pays_this_instalment_then_shrinks_the_later_ones(api, client):
    c = await lf.cast(api)
    loan = await lf.active_loan(api, c, repayment_method="equal_principal")
    before = await lf.schedule(api, c.sme, loan["id"])
    extra = 300_000 * lf.YUAN
    out = await lf.repay(api, c.sme, loan["id"], before[0]["payment"] + extra)
    # On the disbursement day no interest has accrued: all of it is principal.
    assert out["allocation"]["interest"] == 0 and out["allocation"]["principal"] == before[0]["payment"] + extra
    after = await lf.schedule(api, c.sme, loan["id"])
    assert after[0]["status"] == "paid" and after[0]["paid_principal"] == before[0]["payment"] + extra
    assert len(after) == 12 and [x["due_on"] for x in after] == [x["due_on"] for x in before]
    remaining = loan["principal"] - before[0]["payment"] - extra
    assert after[0]["balance_after"] == remaining == out["loan"]["outstanding_principal"]
    assert sum(x["principal"] for x in after[1:]) == remaining and after[-1]["balance_after"] == 0
    assert all(a["payment"] < b["payment"] for a, b in zip(after[1:], before[1:], strict=True))


async def test_day_end_classification_history(api, client):
    c = await lf.cast(api)
    loan = await lf.active_loan(api, c)
    assert [(h["from_classification"], h["to_classification"]) for h in loan["classification_history"]] == [
        (None, "normal")]
    await lf.advance_to(api, date(2026, 7, 2))  # first instalment 91 days past due
    got = await lf.loan(api, c.bank, loan["id"])
    assert got["days_past_due"] == 91 and got["classification"] == "substandard" and got["status"] == "overdue"
    assert [(h["business_date"], h["from_classification"], h["to_classification"], h["days_past_due"])
            for h in got["classification_history"]] == [
        ("2026-03-02", None, "normal", 0),
        ("2026-04-03", "normal", "special_mention", 1),
        ("2026-07-02", "special_mention", "substandard", 91)]
    out = await lf.repay(api, c.sme, loan["id"], got["payoff_amount"])
    assert out["loan"]["status"] == "repaid" and out["loan"]["classification"] == "normal"
    assert out["loan"]["classification_history"][-1] == {
        "business_date": "2026-07-02", "from_classification": "substandard", "to_classification": "normal",
        "days_past_due": 0}


async def test_collateral_shortfall_when_a_pledged_asset_lapses(api, client):
    c = await lf.cast(api)
    r = await client.post("/valuations", json={"asset_ids": [a["id"] for a in c.assets], "scenario": "financing",
                                               "inputs": {"annual_revenue": 50_000_000 * lf.YUAN}},
                          headers=c.sme.headers)
    assert r.status_code == 201, r.text
    valuation = r.json()
    per_asset = {p["asset_id"]: p for p in valuation["per_asset"]}
    base = sum(p["borrowing_base"] for p in per_asset.values())
    amount = base  # lend the whole borrowing base: losing any asset leaves it short
    application = await lf.apply(api, c, valuation_id=valuation["id"], amount=amount)
    o = await lf.offer(api, c.bank, application["id"], amount=amount)
    loan = (await client.post(f"/loan-offers/{o['id']}/accept", headers=c.sme.headers)).json()
    await lf.register(api, c, loan["id"])
    await client.post(f"/loans/{loan['id']}/disburse", headers=c.bank.headers)
    got = await lf.loan(api, c.bank, loan["id"])
    assert got["collateral"]["shortfall"] == 0 and got["collateral"]["borrowing_base"] == base
    lapsed = c.assets[0]["id"]
    r = await client.patch(f"/assets/{lapsed}", json={"status": "lapsed"}, headers=c.sme.headers)
    assert r.status_code == 200, r.text
    got = await lf.loan(api, c.bank, loan["id"])
    left = base - per_asset[lapsed]["borrowing_base"]
    assert got["collateral"]["lost_assets"] == [lapsed]
    assert got["collateral"]["borrowing_base"] == left
    assert got["collateral"]["shortfall"] == max(0, amount - left) > 0
    assert {a["kind"] for a in got["collateral_alerts"]} >= {"asset_status"}


def test_bundle_shortfall_matches_the_single_security_vector() -> None:
    assert bundle_shortfall(100_000_000, [(80_000_000, 5000)]) == shortfall_amount(100_000_000, 80_000_000, 5000)
    assert bundle_shortfall(100_000_000, [(50_000_000, 2500), (60_000_000, 5000)]) == 100_000_000 - 12_500_000 - 30_000_000
    assert bundle_shortfall(10, [(100, 5000)]) == 0
    assert bundle_shortfall(10, []) == 10


async def test_who_lists_loan_applications(api, client):
    c = await lf.cast(api)
    mine = await lf.apply(api, c)
    other = await lf.cast(api)
    theirs = await lf.apply(api, other)
    fund = await api.org("fund")
    admin = await api.admin()
    regulator = await api.org("regulator")

    async def ids(party):
        r = await client.get("/loan-applications", headers=party.headers)
        assert r.status_code == 200, r.text
        return {a["id"] for a in r.json()["data"]}

    assert await ids(c.sme) == {mine["id"]}
    assert await ids(other.sme) == {theirs["id"]}
    assert {mine["id"], theirs["id"]} <= await ids(c.bank)
    assert {mine["id"], theirs["id"]} <= await ids(fund)
    assert {mine["id"], theirs["id"]} <= await ids(admin)
    assert_problem(await client.get("/loan-applications", headers=regulator.headers), 403, "forbidden")
    # Once accepted, an application leaves the banks' list, except for the banks that offered on it.
    o = await lf.offer(api, c.bank, mine["id"], expires_on=str(await lf.today(api) + timedelta(days=5)))
    assert (await client.post(f"/loan-offers/{o['id']}/accept", headers=c.sme.headers)).status_code == 201
    assert mine["id"] in await ids(c.bank)
    assert mine["id"] not in await ids(other.bank)
    assert mine["id"] in await ids(fund)


async def test_certificate_lapsing_before_signing_refuses_acceptance(api, client):
    c = await lf.cast(api)
    evaluator = await api.org("evaluator")
    r = await client.post("/valuations", json={"asset_ids": [a["id"] for a in c.assets], "scenario": "financing",
                                               "inputs": {"annual_revenue": 50_000_000 * lf.YUAN}},
                          headers=c.sme.headers)
    valuation = r.json()
    r = await client.post(f"/valuations/{valuation['id']}/certify", json={"valid_days": 1}, headers=evaluator.headers)
    assert r.status_code == 200, r.text
    base = r.json()["borrowing_base"]
    app = await lf.apply(api, c, valuation_id=valuation["id"], amount=base)
    o = await lf.offer(api, c.bank, app["id"], amount=base, requires_certified_valuation=True)
    assert o["borrowing_base"] == base
    await api.advance(2)  # the one-day certificate has run out; the offer has not
    assert_problem(await client.post(f"/loan-offers/{o['id']}/accept", headers=c.sme.headers), 409, "limit_exceeded")
    got = (await client.get(f"/loan-applications/{app['id']}", headers=c.sme.headers)).json()
    assert got["status"] == "submitted" and got["loan_id"] is None
