"""An evaluator-certified report is what a loan can rely on: cited by an application, lent against by a
bank whose policy requires a certified valuation, and refused once it has expired, gone stale or been
superseded (``valuation.service.current_certified``, through ``finance.loans``)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.finance.loans import loan_flow as lf
from tests.helpers import assert_problem
from tests.valuation.helpers import VECTOR_INPUTS, value


async def _certified_application(api, client, valid_days: int = 365):
    c = await lf.cast(api)
    evaluator = await api.org("evaluator")
    v = await value(api, c.sme, [a["id"] for a in c.assets], inputs=VECTOR_INPUTS)
    r = await client.post(f"/valuations/{v['id']}/certify", json={"valid_days": valid_days},
                          headers=evaluator.headers)
    assert r.status_code == 200, r.text
    application = await lf.apply(api, c, valuation_id=v["id"])
    return c, evaluator, r.json(), application


async def _policy_offer(api, client, c, application_id: str, amount: int):
    body = {"amount": amount, "annual_rate_bps": 435, "term_months": 12, "repayment_method": "equal_installment",
            "expires_on": str(await lf.today(api) + timedelta(days=10)), "requires_certified_valuation": True}
    return await client.post(f"/loan-applications/{application_id}/offers", json=body, headers=c.bank.headers)


async def _offers(client, c, application_id: str) -> list[dict]:
    r = await client.get(f"/loan-applications/{application_id}/offers", headers=c.sme.headers)
    assert r.status_code == 200, r.text
    return r.json()["data"]


async def test_a_certified_report_is_cited_and_lent_against(api, client):
    c, evaluator, report, application = await _certified_application(api, client)
    assert application["valuation_id"] == report["id"]
    cited = application["valuation"]
    assert cited["status"] == "certified" and cited["certified_by"] == evaluator.org_id
    assert cited["valid_until"] == report["valid_until"] and cited["borrowing_base"] == report["borrowing_base"]
    seen = (await client.get(f"/loan-applications/{application['id']}", headers=c.bank.headers)).json()
    assert seen["valuation"]["id"] == report["id"]
    base = report["borrowing_base"]
    assert 0 < base < application["amount"]
    assert_problem(await _policy_offer(api, client, c, application["id"], base + 1), 409, "limit_exceeded")
    r = await _policy_offer(api, client, c, application["id"], base)
    assert r.status_code == 201, r.text
    assert r.json()["valuation_id"] == report["id"] and r.json()["borrowing_base"] == base
    r = await client.post(f"/loan-offers/{r.json()['id']}/accept", headers=c.sme.headers)
    assert r.status_code == 201, r.text
    assert r.json()["valuation_id"] == report["id"]


async def test_an_expired_report_is_refused(api, client):
    c, _, report, application = await _certified_application(api, client, valid_days=2)
    await api.advance(2)  # the last day of validity: still citable
    r = await _policy_offer(api, client, c, application["id"], report["borrowing_base"])
    assert r.status_code == 201, r.text
    await api.advance(1)  # the day after valid_until
    refused = await _policy_offer(api, client, c, application["id"], report["borrowing_base"])
    assert_problem(refused, 409, "limit_exceeded")
    assert len(await _offers(client, c, application["id"])) == 1  # the refusal wrote nothing


@pytest.mark.parametrize("how", ["lapsed", "invalidated", "superseded"])
async def test_a_stale_or_superseded_report_is_refused(api, client, how):
    c, _, report, application = await _certified_application(api, client)
    if how == "superseded":
        newer = await value(api, c.sme, [a["id"] for a in c.assets], inputs=VECTOR_INPUTS)
        assert newer["supersedes_id"] == report["id"]
    else:
        r = await client.patch(f"/assets/{c.assets[0]['id']}", json={"status": how}, headers=c.sme.headers)
        assert r.status_code == 200, r.text
    cited = (await client.get(f"/loan-applications/{application['id']}", headers=c.bank.headers)).json()
    assert cited["valuation"]["status"] == ("superseded" if how == "superseded" else "stale")
    refused = await _policy_offer(api, client, c, application["id"], report["borrowing_base"])
    assert_problem(refused, 409, "limit_exceeded")
    assert await _offers(client, c, application["id"]) == []


@pytest.mark.parametrize("how", ["expired", "stale", "superseded"])
async def test_a_new_application_cannot_cite_a_report_that_no_longer_holds(api, client, how):
    c = await lf.cast(api)
    evaluator = await api.org("evaluator")
    ids = [a["id"] for a in c.assets]
    v = await value(api, c.sme, ids, inputs=VECTOR_INPUTS)
    r = await client.post(f"/valuations/{v['id']}/certify", json={"valid_days": 1}, headers=evaluator.headers)
    assert r.status_code == 200, r.text
    if how == "expired":
        await api.advance(2)
    elif how == "stale":
        assert (await client.patch(f"/assets/{ids[0]}", json={"status": "lapsed"}, headers=c.sme.headers)).is_success
    else:
        await value(api, c.sme, ids, inputs=VECTOR_INPUTS)
    body = {"asset_ids": ids, "amount": 100_000_000, "term_months": 12, "purpose": "流动资金",
            "repayment_method": "equal_installment", "valuation_id": v["id"]}
    refused = await client.post("/loan-applications", json=body, headers=c.sme.headers)
    assert_problem(refused, 409, "invalid_state")
    listed = (await client.get("/loan-applications", headers=c.sme.headers)).json()["data"]
    assert listed == []
