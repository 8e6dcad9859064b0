"""Restructuring over HTTP: who may propose and accept, the new schedule from the effective date
(servicing_vectors.json restructure_reschedule), the old schedule as a version, the 2023 floors."""

from datetime import date

from tests.finance.loans import loan_flow as lf
from tests.helpers import assert_problem

Y = lf.YUAN


async def test_reschedule_after_three_instalments_matches_the_vector(api, client):
    c = await lf.cast(api)
    loan = await lf.active_loan(api, c)
    rows = await lf.schedule(api, c.sme, loan["id"])
    for row in rows[:3]:
        await lf.advance_to(api, date.fromisoformat(row["due_on"]))
        await lf.repay(api, c.sme, loan["id"], row["payment"])
    await lf.advance_to(api, date(2026, 6, 10))
    url = f"/loans/{loan['id']}/restructures"
    body = {"kind": "reschedule", "term_months": 18, "annual_rate_bps": 400, "repayment_method": "equal_principal",
            "effective_on": "2026-06-17", "reason": "订单回款周期拉长，调整还款计划"}
    rival, other_sme = await api.org("bank"), await api.org("sme")
    assert_problem(await client.post(url, json=body, headers=rival.headers), 404, "not_found")
    assert_problem(await client.post(url, json=body, headers=c.sme.headers), 403, "forbidden")
    assert_problem(await client.post(url, json={**body, "effective_on": "2026-06-09"}, headers=c.bank.headers),
                   422, "validation_error")
    assert_problem(await client.post(url, json={**body, "kind": "extension", "term_months": 3},
                                     headers=c.bank.headers), 422, "validation_error")
    r = await client.post(url, json=body, headers=c.bank.headers)
    assert r.status_code == 201, r.text
    proposal = r.json()
    assert proposal["status"] == "proposed" and proposal["borrower_in_difficulty"] is False
    assert proposal["classification_floor"] == "special_mention"
    assert_problem(await client.post(url, json=body, headers=c.bank.headers), 409, "invalid_state")
    accept = f"/loan-restructures/{proposal['id']}/accept"
    assert_problem(await client.post(accept, headers=other_sme.headers), 404, "not_found")
    assert_problem(await client.get(f"/loan-restructures/{proposal['id']}", headers=rival.headers), 404, "not_found")
    assert_problem(await client.post(accept, headers=c.bank.headers), 403, "forbidden")
    r = await client.post(accept, headers=c.sme.headers)
    assert r.status_code == 200, r.text
    done = r.json()
    assert done["status"] == "accepted" and done["observation_until"] == "2027-06-10"
    assert (done["principal"], done["carried_interest"]) == (754_055_90, 1366_73)
    assert_problem(await client.post(accept, headers=c.sme.headers), 409, "invalid_state")
    sched = (await client.get(f"/loans/{loan['id']}/schedule", headers=c.sme.headers)).json()
    assert sched["version"] == 2
    new = [x for x in sched["installments"] if x["n"] >= 4]
    assert len(sched["installments"]) == 21 and new[0]["due_on"] == "2026-07-17"
    assert (new[0]["payment"], new[0]["interest"], new[1]["payment"], new[-1]["principal"]) == (
        45_772_24, 3880_25, 44_265_87, 41_892_07)
    assert sum(x["principal"] for x in sched["installments"]) == loan["principal"]
    old = (await client.get(f"/loans/{loan['id']}/schedule", params={"version": 1}, headers=c.sme.headers)).json()
    assert old["superseded_by"] == "restructure" and len(old["installments"]) == 12
    got = await lf.loan(api, c.bank, loan["id"])
    assert (got["annual_rate_bps"], got["repayment_method"], got["maturity_on"]) == (400, "equal_principal",
                                                                                     "2027-12-17")
    # Not overdue when restructured: at least special mention through the observation period.
    assert got["classification"] == "special_mention" and got["classification_floor"] == "special_mention"
    assert got["classification_history"][-1]["to_classification"] == "special_mention"


async def test_observation_ends_upgrade_only_if_paid_on_time(api, app, client):
    from sqlmodel import select

    from finance.loans.models import Loan
    from finance.servicing.models import LoanRestructure
    from finance.servicing.restructures import observation_day_end

    loans = []
    for _ in range(2):
        c = await lf.cast(api)
        loan = await lf.active_loan(api, c)
        r = await client.post(f"/loans/{loan['id']}/restructures", json={
            "kind": "reschedule", "effective_on": "2026-03-02", "reason": "调整"}, headers=c.bank.headers)
        assert (await client.post(f"/loan-restructures/{r.json()['id']}/accept", headers=c.sme.headers)).status_code == 200
        loans.append((c, loan["id"]))
    async with app.state.session_factory() as session:
        rows = (await session.exec(select(LoanRestructure).order_by(LoanRestructure.id))).all()
        assert [r.observation_until for r in rows] == [date(2027, 3, 2)] * 2
        late = next(r for r in rows if r.loan_id == loans[1][1])
        late.paid_late = True  # as the day-end records a loan overdue during the period
        session.add(late)
        await session.commit()
    async with app.state.session_factory() as session:
        await observation_day_end(session, date(2027, 3, 1))
        await session.commit()
    async with app.state.session_factory() as session:
        on_time = await session.get(Loan, loans[0][1])
        paid_late = await session.get(Loan, loans[1][1])
        # (Run on a date the loans never saw, so their days past due are what the rows say then.)
        assert on_time.classification_floor is None
        assert paid_late.classification_floor == "special_mention"
        renewed = await session.get(LoanRestructure, late.id)
        assert renewed.observation_until == date(2028, 3, 1) and renewed.paid_late is False
