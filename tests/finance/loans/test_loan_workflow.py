"""Security, disbursement and repayment over HTTP: the steps in and out of order, the wrong parties."""

from datetime import date

from tests.finance.loans import loan_flow as lf
from tests.helpers import assert_problem


async def test_steps_out_of_order_and_wrong_parties(api, client):
    c = await lf.cast(api)
    loan = await lf.accepted_loan(api, c)
    url = f"/loans/{loan['id']}"
    rival = await api.org("bank")
    other_sme = await api.org("sme")
    assert_problem(await client.post(f"{url}/disburse", headers=c.bank.headers), 409, "invalid_state")
    assert_problem(await client.post(f"{url}/disburse", headers=rival.headers), 404, "not_found")
    assert_problem(await client.post(f"{url}/disburse", headers=c.sme.headers), 403, "forbidden")
    assert_problem(await client.get(url, headers=other_sme.headers), 404, "not_found")
    assert_problem(await client.get(url, headers=rival.headers), 404, "not_found")
    reg = {"registration_no": "Y1", "registered_on": "2026-03-02"}
    assert_problem(await client.post(f"{url}/pledge-registration", json=reg, headers=rival.headers), 404, "not_found")
    assert_problem(await client.post(f"{url}/pledge-registration", json={**reg, "registered_on": "2027-01-01"},
                                     headers=c.bank.headers), 422, "validation_error")
    assert_problem(await client.post(f"{url}/repayments", json={"amount": 100}, headers=c.sme.headers),
                   409, "invalid_state")
    assert_problem(await client.post(f"{url}/guarantee", json={"share_bps": 5000, "fee_rate_bps": 100},
                                     headers=c.bank.headers), 403, "forbidden")
    got = await lf.loan(api, c.sme, loan["id"])
    assert got["status"] == "pending_security" and got["pledge"] is None
    asset = (await client.get(f"/assets/{c.assets[0]['id']}", headers=c.sme.headers)).json()
    assert asset["encumbrances"] == []
    await lf.register(api, c, loan["id"])
    assert_problem(await client.post(f"{url}/pledge-registration", json=reg, headers=c.bank.headers),
                   409, "invalid_state")
    r = await client.post(f"{url}/disburse", headers=c.bank.headers)
    assert r.status_code == 200 and r.json()["status"] == "active"
    assert_problem(await client.post(f"{url}/disburse", headers=c.bank.headers), 409, "invalid_state")
    payments = (await client.get("/payments", headers=c.bank.headers)).json()["data"]
    assert [(p["purpose"], p["amount"]) for p in payments] == [("disbursement", loan["principal"])]


async def test_guarantee_required_before_registration(api, client):
    c = await lf.cast(api)
    loan = await lf.accepted_loan(api, c, requires_guarantee=True)
    url = f"/loans/{loan['id']}"
    reg = {"registration_no": "Y2", "registered_on": "2026-03-02"}
    assert_problem(await client.post(f"{url}/pledge-registration", json=reg, headers=c.bank.headers),
                   409, "invalid_state")
    guarantor = await api.org("guarantor")
    insurer = await api.org("insurer")
    await lf.invite(api, c.bank, loan["id"], guarantor, "guarantee")
    await lf.invite(api, c.bank, loan["id"], insurer, "insurance")
    assert_problem(await client.post(f"{url}/guarantee", json={"share_bps": 0, "fee_rate_bps": 100},
                                     headers=guarantor.headers), 422, "validation_error")
    r = await client.post(f"{url}/guarantee", json={"share_bps": 6000, "fee_rate_bps": 150}, headers=guarantor.headers)
    assert r.status_code == 201, r.text
    assert r.json()["guarantee"]["fee"] == 1_000_000 * lf.YUAN * 150 // 10000
    assert_problem(await client.post(f"{url}/guarantee", json={"share_bps": 1000, "fee_rate_bps": 100},
                                     headers=guarantor.headers), 409, "invalid_state")
    assert_problem(await client.post(f"{url}/insurance", json={"share_bps": 4001, "premium": 100},
                                     headers=insurer.headers), 422, "validation_error")
    r = await client.post(f"{url}/insurance", json={"share_bps": 2000, "premium": 5000_00}, headers=insurer.headers)
    assert r.status_code == 201 and r.json()["insurance"]["share_bps"] == 2000
    # The guarantor and insurer are parties now and see the loan.
    assert (await lf.loan(api, guarantor, loan["id"]))["guarantee"]["guarantor_org_id"] == guarantor.org_id
    r = await client.post(f"{url}/pledge-registration", json=reg, headers=c.bank.headers)
    assert r.status_code == 200 and r.json()["status"] == "secured"


async def test_repaid_on_time_releases_the_pledge(api, client):
    c = await lf.cast(api)
    loan = await lf.active_loan(api, c)
    rows = await lf.schedule(api, c.sme, loan["id"])
    assert len(rows) == 12 and rows[0]["due_on"] == "2026-04-02" and rows[-1]["due_on"] == "2027-03-02"
    assert sum(r["principal"] for r in rows) == loan["principal"]
    for i, row in enumerate(rows):
        await lf.advance_to(api, date.fromisoformat(row["due_on"]))
        out = await lf.repay(api, c.sme, loan["id"], row["payment"])
        assert out["allocation"] == {"penalty": 0, "charges": 0, "interest": row["interest"], "principal": row["principal"],
                                 "prepaid_principal": 0}
        assert out["loan"]["days_past_due"] == 0
        if i < 11:
            assert out["loan"]["status"] == "active"
            assert out["loan"]["outstanding_principal"] == row["balance_after"]
    assert out["loan"]["status"] == "repaid" and out["loan"]["outstanding_principal"] == 0
    for a in c.assets:
        asset = (await client.get(f"/assets/{a['id']}", headers=c.sme.headers)).json()
        assert asset["encumbrances"] == []
    assert_problem(await client.post(f"/loans/{loan['id']}/repayments", json={"amount": 1}, headers=c.sme.headers),
                   409, "invalid_state")
    assert all(r["status"] == "paid" for r in await lf.schedule(api, c.sme, loan["id"]))


async def test_late_repayment_pays_penalty_first_and_cures(api, client):
    c = await lf.cast(api)
    loan = await lf.active_loan(api, c)
    first = (await lf.schedule(api, c.sme, loan["id"]))[0]
    await lf.advance_to(api, date(2026, 4, 12))  # ten days late
    got = await lf.loan(api, c.bank, loan["id"])
    assert got["status"] == "overdue" and got["days_past_due"] == 10
    assert got["classification"] == "special_mention"
    assert got["penalty_outstanding"] == 15462  # vectors/penalty.json: 154.62
    assert got["overdue_amount"] == first["payment"]
    out = await lf.repay(api, c.sme, loan["id"], first["payment"] + 15462)
    assert out["allocation"] == {"penalty": 15462, "charges": 0, "interest": first["interest"], "principal": first["principal"],
                                 "prepaid_principal": 0}
    assert out["loan"]["status"] == "active" and out["loan"]["days_past_due"] == 0
    assert out["loan"]["classification"] == "normal"
    row = (await lf.schedule(api, c.sme, loan["id"]))[0]
    assert row["status"] == "paid" and row["paid_penalty"] == 15462


async def test_partial_repayment_goes_penalty_interest_principal(api, client):
    c = await lf.cast(api)
    loan = await lf.active_loan(api, c)
    first = (await lf.schedule(api, c.sme, loan["id"]))[0]
    await lf.advance_to(api, date(2026, 4, 12))
    out = await lf.repay(api, c.sme, loan["id"], 15462 + 1000)
    assert out["allocation"] == {"penalty": 15462, "charges": 0, "interest": 1000, "principal": 0,
                                 "prepaid_principal": 0}
    assert out["loan"]["status"] == "overdue"
    row = (await lf.schedule(api, c.sme, loan["id"]))[0]
    assert row["paid_interest"] == 1000 and row["status"] == "overdue"
    assert out["loan"]["overdue_amount"] == first["payment"] - 1000
    second = await lf.repay(api, c.sme, loan["id"], 2000)
    # The loan's repayments, oldest first with their allocations, for its parties; 404 to anyone else.
    r = await client.get(f"/loans/{loan['id']}/repayments", headers=c.bank.headers)
    assert r.status_code == 200, r.text
    assert [(p["id"], p["amount"], p["status"], p["source"], p["paid_on"]) for p in r.json()] == [
        (out["id"], 16462, "succeeded", "borrower", "2026-04-12"), (second["id"], 2000, "succeeded", "borrower",
                                                                    "2026-04-12")]
    assert r.json()[0]["allocation"] == out["allocation"]
    stranger = await api.org("bank")
    assert_problem(await client.get(f"/loans/{loan['id']}/repayments", headers=stranger.headers), 404, "not_found")


async def test_early_repayment_shrinks_the_rest_over_the_same_term(api, client):
    c = await lf.cast(api)
    loan = await lf.active_loan(api, c)
    before = await lf.schedule(api, c.sme, loan["id"])
    out = await lf.repay(api, c.sme, loan["id"], before[0]["interest"] + 500_000 * lf.YUAN)
    # On the disbursement day no interest has accrued (daily accrual): the whole amount is principal.
    amount = before[0]["interest"] + 500_000 * lf.YUAN
    assert out["allocation"] == {"penalty": 0, "charges": 0, "interest": 0, "principal": amount,
                                 "prepaid_principal": amount - before[0]["principal"]}
    after = await lf.schedule(api, c.sme, loan["id"])
    assert len(after) == 12 and [r["due_on"] for r in after] == [r["due_on"] for r in before]
    assert after[1]["payment"] < before[1]["payment"]
    assert sum(r["principal"] for r in after) == loan["principal"]
    assert out["loan"]["outstanding_principal"] == sum(r["principal"] - r["paid_principal"] for r in after)
    # Paying off everything that is left closes the loan at once.
    payoff = out["loan"]["payoff_amount"]
    assert_problem(await client.post(f"/loans/{loan['id']}/repayments", json={"amount": payoff + 1},
                                     headers=c.sme.headers), 422, "validation_error")
    closed = await lf.repay(api, c.sme, loan["id"], payoff)
    assert closed["loan"]["status"] == "repaid"


async def test_repayment_refusals_and_idempotent_retry(api, client):
    c = await lf.cast(api)
    loan = await lf.active_loan(api, c)
    url = f"/loans/{loan['id']}/repayments"
    other_sme = await api.org("sme")
    assert_problem(await client.post(url, json={"amount": 100}, headers=other_sme.headers), 404, "not_found")
    assert_problem(await client.post(url, json={"amount": 100}, headers=c.bank.headers), 403, "forbidden")
    for bad in (0, -1, 10**20, "100", 1.5):
        assert_problem(await client.post(url, json={"amount": bad}, headers=c.sme.headers), 422, "validation_error")
    headers = {**c.sme.headers, "Idempotency-Key": "repay-1"}
    first = await client.post(url, json={"amount": 100_00}, headers=headers)
    again = await client.post(url, json={"amount": 100_00}, headers=headers)
    assert first.status_code == again.status_code == 201
    assert first.json() == again.json() and again.headers.get("Idempotent-Replayed") == "true"
    assert_problem(await client.post(url, json={"amount": 200_00}, headers=headers), 409, "idempotency_conflict")
    payments = (await client.get("/payments", headers=c.sme.headers)).json()["data"]
    assert sorted(p["amount"] for p in payments if p["purpose"] == "repayment") == [100_00]
    row = (await lf.schedule(api, c.sme, loan["id"]))[0]
    assert row["paid_interest"] == 100_00


async def test_lapsed_pledged_asset_raises_a_collateral_alert(api, client):
    c = await lf.cast(api)
    loan = await lf.active_loan(api, c)
    r = await client.patch(f"/assets/{c.assets[0]['id']}", json={"status": "lapsed"}, headers=c.sme.headers)
    assert r.status_code == 200, r.text
    got = await lf.loan(api, c.bank, loan["id"])
    assert [(a["kind"], a["asset_id"], a["cleared_on"]) for a in got["collateral_alerts"]] == [
        ("asset_status", c.assets[0]["id"], None)]
    await api.advance(1)  # the day-end check does not raise it twice
    assert len((await lf.loan(api, c.bank, loan["id"]))["collateral_alerts"]) == 1
    r = await client.patch(f"/assets/{c.assets[0]['id']}", json={"status": "valid"}, headers=c.sme.headers)
    got = await lf.loan(api, c.bank, loan["id"])
    assert got["collateral_alerts"][0]["cleared_on"] is not None


async def test_a_repayment_by_anyone_but_the_borrower_changes_nothing(api, client):
    """The loan is read with its rows before anyone is judged (in one statement on SQLite): a stranger and a
    missing loan get 404, the lending bank 403, and none of them leaves a repayment or a payment behind."""
    c = await lf.cast(api)
    loan = await lf.active_loan(api, c)
    url = f"/loans/{loan['id']}/repayments"
    stranger, other_sme = await api.org("bank"), await api.org("sme")
    for who in (stranger, other_sme):
        assert_problem(await client.post(url, json={"amount": 100}, headers=who.headers), 404, "not_found")
    assert_problem(await client.post("/loans/loan_nope/repayments", json={"amount": 100}, headers=c.sme.headers),
                   404, "not_found")
    assert_problem(await client.post(url, json={"amount": 100}, headers=c.bank.headers), 403, "forbidden")
    assert (await client.get(url, headers=c.bank.headers)).json() == []
    out = await lf.repay(api, c.sme, loan["id"], 100)
    assert out["amount"] == 100 and out["loan"]["id"] == loan["id"]
    assert [r["id"] for r in (await client.get(url, headers=c.bank.headers)).json()] == [out["id"]]
