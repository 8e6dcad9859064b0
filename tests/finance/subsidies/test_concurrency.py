"""Races on PostgreSQL: one claim is paid once; approvals of different claims never exceed the budget."""

import asyncio

import httpx
import pytest

from tests.finance.loans.loan_flow import YUAN
from tests.finance.subsidies.helpers import budget_balance, filed, loan, policy, publish_lpr

pytestmark = pytest.mark.postgres


async def _race(app, calls):
    clients = [httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test/api/v1")
               for _ in calls]
    try:
        return await asyncio.gather(*[call(cl) for cl, call in zip(clients, calls, strict=True)])
    finally:
        for cl in clients:
            await cl.aclose()


async def test_concurrent_approvals_of_one_claim_pay_once(api, app, client):
    await publish_lpr(api)
    regulator = await api.org("regulator")
    sme, bank = await api.org("sme"), await api.org("bank")
    p = await policy(api, regulator)
    c = await filed(api, sme, p["id"], (await loan(api, sme, bank))["id"])
    results = await _race(app, [lambda cl: cl.post(f"/subsidy-claims/{c['id']}/approve", headers=regulator.headers)
                                for _ in range(8)])
    codes = sorted(r.status_code for r in results)
    assert codes.count(200) == 1 and codes.count(409) == 7, [r.text for r in results]
    payments = (await client.get("/payments", headers=sme.headers)).json()["data"]
    assert [x["amount"] for x in payments if x["purpose"] == "subsidy"] == [6_000 * YUAN]
    assert await budget_balance(app, p["id"]) == 1_000_000 * YUAN - 6_000 * YUAN


@pytest.mark.parametrize("over_budget", ["refuse", "prorate"])
async def test_concurrent_approvals_of_different_claims_never_exceed_the_budget(api, app, client, over_budget):
    await publish_lpr(api)
    regulator = await api.org("regulator")
    bank = await api.org("bank")
    p = await policy(api, regulator, budget=20_000 * YUAN, over_budget=over_budget)
    claims = []
    for _ in range(5):  # 5 × ¥6,000 against ¥20,000
        sme = await api.org("sme")
        claims.append(await filed(api, sme, p["id"], (await loan(api, sme, bank))["id"]))
    results = await _race(app, [lambda cl, c=c: cl.post(f"/subsidy-claims/{c['id']}/approve",
                                                        headers=regulator.headers) for c in claims])
    ok = [r.json() for r in results if r.status_code == 200]
    refused = [r for r in results if r.status_code == 409]
    assert all(r.json()["code"] == "limit_exceeded" for r in refused)
    paid = sum(x["amount_paid"] for x in ok)
    if over_budget == "refuse":
        assert len(ok) == 3 and paid == 18_000 * YUAN
    else:
        assert len(ok) == 4 and paid == 20_000 * YUAN
        assert sorted(x["amount_paid"] for x in ok) == [2_000 * YUAN] + [6_000 * YUAN] * 3
    got = (await client.get(f"/subsidy-policies/{p['id']}", headers=regulator.headers)).json()
    assert got["paid_total"] == paid
    assert await budget_balance(app, p["id"]) == 20_000 * YUAN - paid
    assert (await client.get("/fund/ledger/verify", headers=regulator.headers)).json()["balanced"] is True


async def test_concurrent_filings_for_one_loan_make_one_claim(api, app, client):
    await publish_lpr(api)
    regulator = await api.org("regulator")
    sme, bank = await api.org("sme"), await api.org("bank")
    p = await policy(api, regulator)
    lo = await loan(api, sme, bank)
    body = {"policy_id": p["id"], "loan_id": lo["id"]}
    results = await _race(app, [lambda cl: cl.post("/subsidy-claims", json=body, headers=sme.headers)
                                for _ in range(6)])
    codes = sorted(r.status_code for r in results)
    assert codes == [201] + [409] * 5, [r.text for r in results]
    assert {r.json()["code"] for r in results if r.status_code == 409} == {"invalid_state"}
    mine = (await client.get("/subsidy-claims", headers=sme.headers)).json()["data"]
    assert len(mine) == 1 and mine[0]["amount"] == 6_000 * YUAN
