"""GET /loans/{id}/payoff by daily accrual, prepayments with reduce_payment|reduce_term, charges and waivers."""

from datetime import date

from sqlmodel import select

from kernel.audit import AuditEvent
from tests.finance.loans import loan_flow as lf
from tests.helpers import assert_problem

Y = lf.YUAN


async def test_payoff_by_daily_accrual_and_refusals(api, client):
    c = await lf.cast(api)
    loan = await lf.active_loan(api, c)
    url = f"/loans/{loan['id']}/payoff"
    r = await client.get(url, headers=c.sme.headers)
    assert r.status_code == 200, r.text
    # A payoff on the disbursement day is the principal (servicing_vectors.json payoff_daily_accrual).
    assert r.json() == {"loan_id": loan["id"], "on": "2026-03-02", "principal": 1_000_000 * Y, "interest": 0,
                        "penalty": 0, "charges": 0, "total": 1_000_000 * Y}
    assert loan["payoff_amount"] == 1_000_000 * Y
    r = await client.get(url, params={"on": "2026-03-17"}, headers=c.bank.headers)
    assert (r.json()["interest"], r.json()["total"]) == (1812_50, 1_001_812_50)
    assert_problem(await client.get(url, params={"on": "2026-03-01"}, headers=c.sme.headers), 422, "validation_error")
    assert_problem(await client.get(url, headers=(await api.org("sme")).headers), 404, "not_found")
    assert_problem(await client.get(url, headers=(await api.org("bank")).headers), 404, "not_found")
    # After instalment 1, ten days into period 2: 918,315.10 × 4.35% / 360 × 10 = 1,109.63.
    rows = await lf.schedule(api, c.sme, loan["id"])
    await lf.advance_to(api, date(2026, 4, 2))
    await lf.repay(api, c.sme, loan["id"], rows[0]["payment"])
    await lf.advance_to(api, date(2026, 4, 12))
    got = (await client.get(url, headers=c.sme.headers)).json()
    assert (got["principal"], got["interest"], got["total"]) == (918_315_10, 1109_63, 919_424_73)
    # A projected payoff includes the interest accrued up to that date.
    later = (await client.get(url, params={"on": "2026-04-22"}, headers=c.sme.headers)).json()
    assert later["interest"] == 2219_26 and later["total"] == 918_315_10 + 2219_26
    out = await lf.repay(api, c.sme, loan["id"], got["total"])
    assert out["loan"]["status"] == "repaid" and out["allocation"]["interest"] == 1109_63


async def test_prepayment_reduce_term_keeps_the_old_schedule_as_a_version(api, client):
    c = await lf.cast(api)
    loan = await lf.active_loan(api, c)
    before = await lf.schedule(api, c.sme, loan["id"])
    await lf.advance_to(api, date(2026, 3, 17))
    r = await client.post(f"/loans/{loan['id']}/repayments", json={"amount": 200_000 * Y, "prepayment": "reduce_term"},
                          headers=c.sme.headers)
    assert r.status_code == 201, r.text
    # servicing_vectors.json prepayment_reduce_term
    assert r.json()["allocation"] == {"penalty": 0, "charges": 0, "interest": 1812_50,
                                      "principal": 198_187_50, "prepaid_principal": 116_502_60}
    sched = (await client.get(f"/loans/{loan['id']}/schedule", headers=c.sme.headers)).json()
    assert sched["version"] == sched["current_version"] == 2
    rows = sched["installments"]
    assert len(rows) == 11 and rows[-1]["due_on"] == "2027-02-02" and rows[-1]["payment"] == 49_516_29
    assert [x["payment"] for x in rows[2:10]] == [before[0]["payment"]] * 8
    assert sum(x["principal"] for x in rows) == loan["principal"]
    assert r.json()["loan"]["maturity_on"] == "2027-02-02"
    old = (await client.get(f"/loans/{loan['id']}/schedule", params={"version": 1}, headers=c.bank.headers)).json()
    assert old["superseded_by"] == "prepayment" and len(old["installments"]) == 12
    assert [x["payment"] for x in old["installments"]] == [x["payment"] for x in before]
    assert_problem(await client.get(f"/loans/{loan['id']}/schedule", params={"version": 3}, headers=c.sme.headers),
                   404, "not_found")
    assert_problem(await client.post(f"/loans/{loan['id']}/repayments", json={"amount": 1, "prepayment": "sooner"},
                                     headers=c.sme.headers), 422, "validation_error")


async def test_charges_within_the_disclosure_paid_first_and_waived(api, app, client):
    c = await lf.cast(api)
    loan = await lf.active_loan(api, c, disclosed_charges={"processing_fee": 5000 * Y})
    url = f"/loans/{loan['id']}/charges"
    body = {"kind": "processing_fee", "amount": 3000 * Y, "due_on": "2026-03-02"}
    rival = await api.org("bank")
    assert_problem(await client.post(url, json=body, headers=rival.headers), 404, "not_found")
    assert_problem(await client.post(url, json=body, headers=c.sme.headers), 403, "forbidden")
    assert_problem(await client.post(url, json={**body, "kind": "appraisal_fee"}, headers=c.bank.headers),
                   409, "limit_exceeded")
    assert_problem(await client.post(url, json={**body, "due_on": "2026-03-01"}, headers=c.bank.headers),
                   422, "validation_error")
    r = await client.post(url, json=body, headers=c.bank.headers)
    assert r.status_code == 201, r.text
    charge = r.json()
    assert charge["status"] == "due" and charge["paid"] == 0
    assert_problem(await client.post(url, json={**body, "amount": 2000 * Y + 1}, headers=c.bank.headers),
                   409, "limit_exceeded")
    quote = (await client.get(f"/loans/{loan['id']}/payoff", headers=c.sme.headers)).json()
    assert quote["charges"] == 3000 * Y and quote["total"] == 1_000_000 * Y + 3000 * Y
    # A repayment pays the charge due before any interest or principal.
    out = await lf.repay(api, c.sme, loan["id"], 1000 * Y)
    assert out["allocation"] == {"penalty": 0, "charges": 1000 * Y, "interest": 0, "principal": 0,
                                 "prepaid_principal": 0}
    assert (await client.get(url, headers=c.sme.headers)).json()[0]["paid"] == 1000 * Y
    waive = f"/loan-charges/{charge['id']}/waive"
    assert_problem(await client.post(waive, headers=rival.headers), 404, "not_found")
    assert_problem(await client.post(waive, headers=c.sme.headers), 403, "forbidden")
    r = await client.post(waive, json={"reason": "goodwill"}, headers=c.bank.headers)
    assert r.status_code == 200 and r.json()["status"] == "waived" and r.json()["waived_reason"] == "goodwill"
    assert_problem(await client.post(waive, headers=c.bank.headers), 409, "invalid_state")
    quote = (await client.get(f"/loans/{loan['id']}/payoff", headers=c.sme.headers)).json()
    assert quote["charges"] == 0 and quote["total"] == 1_000_000 * Y
    async with app.state.session_factory() as session:
        actions = (await session.exec(select(AuditEvent.action, AuditEvent.actor_org_id).where(
            AuditEvent.object_id == charge["id"]).order_by(AuditEvent.at))).all()
    assert ("loan_charge.waive", c.bank.org_id) in actions
    closed = await lf.repay(api, c.sme, loan["id"], quote["total"])
    assert closed["loan"]["status"] == "repaid"


async def test_two_charges_due_at_once_are_paid_and_the_loan_closes(api, client):
    """Each charge is read on a row of the first instalment: with two, that instalment must still count once
    (it once counted twice, and the settlement broke the loan's outstanding-principal check)."""
    c = await lf.cast(api)
    loan = await lf.active_loan(api, c, disclosed_charges={"processing_fee": 5000 * Y})
    url = f"/loans/{loan['id']}/charges"
    for amount in (1000 * Y, 2000 * Y):
        r = await client.post(url, json={"kind": "processing_fee", "amount": amount, "due_on": "2026-03-02"},
                              headers=c.bank.headers)
        assert r.status_code == 201, r.text
    quote = (await client.get(f"/loans/{loan['id']}/payoff", headers=c.sme.headers)).json()
    assert quote["charges"] == 3000 * Y and quote["total"] == 1_000_000 * Y + 3000 * Y
    out = await lf.repay(api, c.sme, loan["id"], 1500 * Y)
    assert out["status"] == "succeeded" and out["allocation"]["charges"] == 1500 * Y
    assert out["loan"]["outstanding_principal"] == 1_000_000 * Y
    quote = (await client.get(f"/loans/{loan['id']}/payoff", headers=c.sme.headers)).json()
    assert quote["charges"] == 1500 * Y and quote["total"] == 1_000_000 * Y + 1500 * Y
    out = await lf.repay(api, c.sme, loan["id"], quote["total"])
    assert out["status"] == "succeeded" and out["loan"]["status"] == "repaid"
    assert out["loan"]["outstanding_principal"] == 0
    assert [ch["status"] for ch in (await client.get(url, headers=c.sme.headers)).json()] == ["paid", "paid"]
