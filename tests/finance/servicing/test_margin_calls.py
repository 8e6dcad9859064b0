"""Revaluation and margin calls over HTTP: who may revalue, the call and its shortfall, cure by more
collateral, by prepayment or by revaluation, expiry at the cure-by date (the floor and the fund), and a
patent lapsing for fees more than 6 months overdue."""

from __future__ import annotations

from datetime import date, timedelta

from tests.finance.fund import helpers as fh
from tests.finance.loans import loan_flow as lf
from tests.finance.servicing import margin_flow as mf
from tests.helpers import assert_problem

Y = lf.YUAN


async def test_revaluation_issues_a_call_and_a_second_patent_cures_it(api, client):
    c = await lf.cast(api)
    loan, valuation = await mf.valued_loan(api, c)
    bundle = [a["id"] for a in c.assets]
    lower = await mf.certified(api, c.sme, bundle, revenue=20_000_000 * Y)
    assert lower["borrowing_base"] < loan["principal"]
    url = f"/loans/{loan['id']}/revaluations"
    rival = await api.org("bank")
    assert_problem(await client.post(url, json={"valuation_id": lower["id"]}, headers=rival.headers), 404, "not_found")
    assert_problem(await client.post(url, json={"valuation_id": lower["id"]}, headers=c.sme.headers), 403, "forbidden")
    # A draft is no appraisal report; a valuation of other assets does not value this bundle.
    r = await client.post("/valuations", json={"asset_ids": bundle, "scenario": "financing",
                                               "inputs": {"annual_revenue": 10_000_000 * Y}}, headers=c.bank.headers)
    draft = r.json()
    assert_problem(await client.post(url, json={"valuation_id": draft["id"]}, headers=c.bank.headers),
                   409, "invalid_state")
    stranger = await api.asset(c.sme)
    other = await mf.certified(api, c.sme, [stranger["id"]])
    assert_problem(await client.post(url, json={"valuation_id": other["id"]}, headers=c.bank.headers),
                   422, "validation_error")
    assert await mf.calls(api, c.bank, loan["id"]) == []

    r = await client.post(url, json={"valuation_id": lower["id"]}, headers=c.bank.headers)
    assert r.status_code == 201, r.text
    reval = r.json()
    assert (reval["borrowing_base_before"], reval["borrowing_base"]) == (valuation["borrowing_base"],
                                                                         lower["borrowing_base"])
    [call] = await mf.calls(api, c.sme, loan["id"])
    assert reval["margin_call_id"] == call["id"]
    shortfall = loan["principal"] - lower["borrowing_base"]
    assert (call["status"], call["shortfall"], call["trigger"]) == ("open", shortfall, "revaluation")
    assert call["cure_by"] == str(date(2026, 3, 2) + timedelta(days=30))
    got = await lf.loan(api, c.bank, loan["id"])
    assert got["collateral"]["shortfall"] == shortfall and got["collateral"]["valuation_id"] == lower["id"]
    # Borrower and bank both see it in their inbox; a rival neither sees the call nor the list.
    inbox = (await client.get("/inbox", headers=c.sme.headers)).json()
    mine = [i for i in inbox["data"] if i["kind"] == "margin_call.open"] if isinstance(inbox, dict) else \
        [i for i in inbox if i["kind"] == "margin_call.open"]
    assert [i["object_id"] for i in mine] == [call["id"]]
    bank_inbox = (await client.get("/inbox", headers=c.bank.headers)).json()
    items = bank_inbox["data"] if isinstance(bank_inbox, dict) else bank_inbox
    assert call["id"] in {i["object_id"] for i in items}
    assert_problem(await client.get(f"/loans/{loan['id']}/margin-calls", headers=rival.headers), 404, "not_found")
    assert_problem(await client.get(f"/margin-calls/{call['id']}", headers=rival.headers), 404, "not_found")

    # A second patent, valued and certified, is offered and its pledge registered: the call is cured.
    second = await api.asset(c.sme, title="一种电池包液冷板")
    assert_problem(await client.post(f"/loans/{loan['id']}/collateral", json={"asset_ids": [second["id"]]},
                                     headers=c.bank.headers), 403, "forbidden")
    assert_problem(await client.post(f"/loans/{loan['id']}/collateral", json={"asset_ids": [bundle[0]]},
                                     headers=c.sme.headers), 422, "validation_error")
    value2 = await mf.certified(api, c.sme, [second["id"]])
    assert value2["borrowing_base"] >= shortfall
    r = await client.post(f"/loans/{loan['id']}/collateral",
                          json={"asset_ids": [second["id"]], "valuation_id": value2["id"]}, headers=c.sme.headers)
    assert r.status_code == 201, r.text
    assert r.json()["status"] == "requested"
    assert (await mf.calls(api, c.sme, loan["id"]))[0]["status"] == "open"  # not yet registered
    r = await client.post(f"/loans/{loan['id']}/pledge-registration",
                          json={"registration_no": "Y2026990000777", "registered_on": "2026-03-02"},
                          headers=c.bank.headers)
    assert r.status_code == 200, r.text
    got = r.json()
    assert set(got["asset_ids"]) == {*bundle, second["id"]}
    assert got["collateral"]["borrowing_base"] == lower["borrowing_base"] + value2["borrowing_base"]
    assert got["collateral"]["shortfall"] == 0
    [call] = await mf.calls(api, c.sme, loan["id"])
    assert (call["status"], call["cured_by"], call["cured_on"]) == ("cured", "collateral", "2026-03-02")
    asset = (await client.get(f"/assets/{second['id']}", headers=c.sme.headers)).json()
    assert [(e["kind"], e["ref_id"]) for e in asset["encumbrances"]] == [("pledge", loan["id"])]
    # Nothing more awaits registration.
    assert_problem(await client.post(f"/loans/{loan['id']}/pledge-registration",
                                     json={"registration_no": "Y1", "registered_on": "2026-03-02"},
                                     headers=c.bank.headers), 409, "invalid_state")
    events = (await client.get("/events", params={"limit": 100}, headers=c.sme.headers)).json()["data"]
    types = {e["type"] for e in events}
    assert {"margin_call.issued", "margin_call.cured", "loan.revalued", "collateral.added"} <= types


async def test_uncured_call_expires_flags_the_loan_and_a_late_prepayment_lifts_it(api, client):
    c = await lf.cast(api)
    loan, _ = await mf.valued_loan(api, c)
    lower = await mf.certified(api, c.sme, [a["id"] for a in c.assets], revenue=30_000_000 * Y)
    r = await client.post(f"/loans/{loan['id']}/revaluations", json={"valuation_id": lower["id"], "margin_bps": 1000},
                          headers=c.bank.headers)
    assert r.status_code == 201, r.text
    [call] = await mf.calls(api, c.bank, loan["id"])
    # The bank's 10% margin: the base must reach 110% of the outstanding principal.
    margin = (loan["principal"] * 1000 + 5000) // 10000  # half-up to the fen
    assert call["shortfall"] == loan["principal"] + margin - lower["borrowing_base"]
    await lf.advance_to(api, date.fromisoformat(call["cure_by"]))
    assert (await mf.calls(api, c.bank, loan["id"]))[0]["status"] == "open"
    assert (await lf.loan(api, c.bank, loan["id"]))["classification"] == "normal"
    await api.advance(1)
    [call] = await mf.calls(api, c.bank, loan["id"])
    assert call["status"] == "expired"
    got = await lf.loan(api, c.bank, loan["id"])
    assert (got["classification"], got["classification_floor"], got["days_past_due"]) == (
        "special_mention", "special_mention", 0)
    assert "margin_call.expired" in {e["type"] for e in (await client.get("/events", params={"limit": 100}, headers=c.bank.headers))
                                     .json()["data"]}
    # Instalment 1 (due today) and a prepayment that restores the cover: cured late, the flag lifted.
    first = (await lf.schedule(api, c.sme, loan["id"]))[0]
    assert first["due_on"] == str(await lf.today(api))
    need = call["shortfall"] * 10000 // 11000 + 2 * Y
    out = await lf.repay(api, c.sme, loan["id"], first["payment"] + need)
    assert out["allocation"]["prepaid_principal"] > 0
    [call] = await mf.calls(api, c.bank, loan["id"])
    assert (call["status"], call["cured_by"]) == ("cured", "prepayment")
    got = await lf.loan(api, c.bank, loan["id"])
    assert (got["classification"], got["classification_floor"]) == ("normal", None)


async def test_revaluation_back_up_cures_and_a_covered_loan_gets_no_call(api, client):
    c = await lf.cast(api)
    loan, _valuation = await mf.valued_loan(api, c, share_bps=5000)
    bundle = [a["id"] for a in c.assets]
    # Half the base lent: a somewhat lower valuation still covers it, no call.
    lower = await mf.certified(api, c.sme, bundle, revenue=40_000_000 * Y)
    assert lower["borrowing_base"] >= loan["principal"]
    r = await client.post(f"/loans/{loan['id']}/revaluations", json={"valuation_id": lower["id"]},
                          headers=c.bank.headers)
    assert r.status_code == 201 and r.json()["margin_call_id"] is None, r.text
    assert await mf.calls(api, c.bank, loan["id"]) == []
    crash = await mf.certified(api, c.sme, bundle, revenue=5_000_000 * Y)
    r = await client.post(f"/loans/{loan['id']}/revaluations", json={"valuation_id": crash["id"]},
                          headers=c.bank.headers)
    assert r.json()["margin_call_id"] is not None
    again = await mf.certified(api, c.sme, bundle)
    r = await client.post(f"/loans/{loan['id']}/revaluations", json={"valuation_id": again["id"]},
                          headers=c.bank.headers)
    assert r.json()["margin_call_id"] is None
    [call] = await mf.calls(api, c.bank, loan["id"])
    assert (call["status"], call["cured_by"]) == ("cured", "revaluation")
    r = await client.get(f"/loans/{loan['id']}/revaluations", headers=c.sme.headers)
    assert [x["valuation_id"] for x in r.json()["data"]] == [lower["id"], crash["id"], again["id"]]


async def test_patent_lapsing_for_unpaid_fees_triggers_a_call(api, client):
    c = await lf.cast(api)
    c.assets[0] = await api.asset(c.sme, fees_paid_until="2025-09-01")
    loan, valuation = await mf.valued_loan(api, c)
    lapsing = c.assets[0]["id"]
    # Fees due 2025-09-01 may be paid until 2026-03-01 + grace; the day-end of 2026-03-02 lapses it.
    await api.advance(1)
    asset = (await client.get(f"/assets/{lapsing}", headers=c.sme.headers)).json()
    assert asset["status"] == "lapsed"
    assert (await client.get(f"/assets/{c.assets[1]['id']}", headers=c.sme.headers)).json()["status"] == "valid"
    [call] = await mf.calls(api, c.bank, loan["id"])
    part = {p["asset_id"]: p["borrowing_base"] for p in valuation["per_asset"]}
    assert (call["trigger"], call["asset_id"], call["shortfall"]) == ("patent_lapse", lapsing, part[lapsing])
    got = await lf.loan(api, c.bank, loan["id"])
    assert got["collateral"]["lost_assets"] == [lapsing]


async def test_the_programme_margin_applies_to_a_covered_loan(api, client):
    c = await lf.cast(api)
    fund = await api.org("fund")
    program = await fh.program(api, fund, collateral_margin_bps=2000)
    assert program["collateral_margin_bps"] == 2000
    await fh.agreement(api, fund, program["id"], c.bank)
    valuation = await mf.certified(api, c.sme, [a["id"] for a in c.assets])
    amount = valuation["borrowing_base"] * 9 // 10
    application = await lf.apply(api, c, valuation_id=valuation["id"], amount=amount)
    o = await lf.offer(api, c.bank, application["id"], amount=amount)
    loan = (await client.post(f"/loan-offers/{o['id']}/accept", headers=c.sme.headers)).json()
    r = await client.post(f"/loans/{loan['id']}/fund-cover", json={"program_id": program["id"]}, headers=c.bank.headers)
    assert r.status_code == 201, r.text
    await lf.register(api, c, loan["id"])
    assert (await client.post(f"/loans/{loan['id']}/disburse", headers=c.bank.headers)).status_code == 200
    # The same certified report, cited again: 90% lent is within the base but not within base / 1.2.
    r = await client.post(f"/loans/{loan['id']}/revaluations", json={"valuation_id": valuation["id"]},
                          headers=c.bank.headers)
    assert r.status_code == 201, r.text
    assert r.json()["margin_bps"] == 0  # the bank named none: the programme's applies
    [call] = await mf.calls(api, fund, loan["id"])
    required = amount + (amount * 2000 + 5000) // 10000
    assert call["shortfall"] == required - valuation["borrowing_base"] > 0
    got = await lf.loan(api, c.bank, loan["id"])
    assert (got["collateral"]["margin_bps"], got["collateral"]["required"]) == (2000, required)
    events = (await client.get("/events", params={"limit": 100}, headers=fund.headers)).json()["data"]
    assert "margin_call.issued" in {e["type"] for e in events}
