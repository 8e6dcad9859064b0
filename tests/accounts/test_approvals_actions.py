"""Four-eyes on each protected action through HTTP: a disbursement above the bank's amount, a compensation claim's
approval by the fund, a subsidy claim's approval by the regulator. Held with 202 until another user approves,
then run once as the maker asked."""

from __future__ import annotations

import pytest
from sqlmodel import select

from finance.fund import claims, cover
from finance.payments.gateway import GatewayResult, PayoutRequest
from finance.payments.local import LocalGateway
from finance.payments.providers import use_gateway
from kernel.audit import AuditEvent
from tests.finance.fund.helpers import (
    WAN,
    actor,
    agreement,
    cash,
    claim_request,
    cover_request,
    in_tx,
    program,
)
from tests.finance.loans.loan_flow import accepted_loan, cast, loan, register
from tests.finance.subsidies.helpers import filed, policy, publish_lpr
from tests.finance.subsidies.helpers import loan as subsidy_loan
from tests.helpers import assert_problem


async def _policy(client, party, **policy) -> None:
    r = await client.patch(f"/orgs/{party.org_id}", json={"approval_policy": policy}, headers=party.headers)
    assert r.status_code == 200, r.text


async def _approve(client, checker, request_id: str):
    return await client.post(f"/approval-requests/{request_id}/approve", headers=checker.headers)


async def _claim_on_a_covered_loan(api, app, fund, bank, sme):
    """A programme with ¥10m of capital, the bank's agreement, a ¥1m covered loan and its ¥800k claim."""
    p = await program(api, fund, capital=1000 * WAN)
    await agreement(api, fund, p["id"], bank, deposit=100 * WAN)
    req = cover_request(bank, sme, 100 * WAN)
    await in_tx(app, cover.request_cover, actor(bank), p["id"], req)
    return p, await in_tx(app, claims.open_claim, actor(bank), claim_request(req, 80 * WAN))


async def test_disbursement_over_the_amount_waits_for_a_checker(api, client):
    c = await cast(api)
    checker = await api.user(c.bank.org_id, "bank", role="checker")
    await _policy(client, c.bank, disbursement_over=500_000_00)  # ¥500,000
    small = await accepted_loan(api, c, amount=500_000_00)  # at the amount: runs at once
    await register(api, c, small["id"])
    r = await client.post(f"/loans/{small['id']}/disburse", headers=c.bank.headers)
    assert r.status_code == 200 and r.json()["status"] == "active"

    c2 = await cast(api)
    c2.bank = c.bank
    big = await accepted_loan(api, c2, amount=800_000_00)
    await register(api, c2, big["id"])
    other_bank = await api.org("bank")
    await _policy(client, other_bank, disbursement_over=0)
    assert_problem(await client.post(f"/loans/{big['id']}/disburse", headers=other_bank.headers), 404, "not_found")
    r = await client.post(f"/loans/{big['id']}/disburse", headers=c.bank.headers)
    assert r.status_code == 202, r.text
    lapsed = r.json()["approval_request"]
    await api.advance(8)  # not decided within its 7 days: it expires and nothing is paid
    assert (await client.get(f"/approval-requests/{lapsed['id']}", headers=checker.headers)).json()["status"] == "expired"
    assert_problem(await _approve(client, checker, lapsed["id"]), 409, "invalid_state")
    assert (await loan(api, c.bank, big["id"]))["status"] == "secured"
    r = await client.post(f"/loans/{big['id']}/disburse", headers={**c.bank.headers, "Idempotency-Key": "d-1"})
    assert r.status_code == 202, r.text
    req = r.json()["approval_request"]
    assert (req["action"], req["amount"], req["object_id"]) == ("disbursement", 800_000_00, big["id"])
    assert (await loan(api, c.bank, big["id"]))["status"] == "secured"
    assert_problem(await _approve(client, c.bank, req["id"]), 403, "forbidden")
    r = await _approve(client, checker, req["id"])
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "active" and r.json()["id"] == big["id"]
    assert_problem(await _approve(client, checker, req["id"]), 409, "invalid_state")
    payments = (await client.get("/payments", headers=c2.sme.headers)).json()["data"]
    assert [p["amount"] for p in payments if p["purpose"] == "disbursement"] == [800_000_00]


async def test_compensation_approval_waits_for_a_checker(api, client, app):
    fund, bank, sme = await api.org("fund"), await api.org("bank"), await api.org("sme")
    checker = await api.user(fund.org_id, "fund", role="checker")
    p, claim = await _claim_on_a_covered_loan(api, app, fund, bank, sme)
    await _policy(client, fund, compensation_approval=True)
    before = await cash(app, p["id"])
    r = await client.post(f"/compensation-claims/{claim.id}/approve", headers=fund.headers)
    assert r.status_code == 202, r.text
    request = r.json()["approval_request"]
    assert request["amount"] == 40 * WAN and request["object_type"] == "compensation_claim"
    assert (await client.get(f"/compensation-claims/{claim.id}", headers=fund.headers)).json()["status"] == "pending"
    assert await cash(app, p["id"]) == before
    assert_problem(await _approve(client, fund, request["id"]), 403, "forbidden")  # never one's own
    r = await client.post(f"/approval-requests/{request['id']}/reject", json={"reason": "evidence missing"},
                          headers=checker.headers)
    assert r.status_code == 200 and r.json()["status"] == "rejected"
    assert (await client.get(f"/compensation-claims/{claim.id}", headers=fund.headers)).json()["status"] == "pending"
    assert await cash(app, p["id"]) == before
    r = await client.post(f"/compensation-claims/{claim.id}/approve", headers=fund.headers)
    assert r.status_code == 202, r.text
    request = r.json()["approval_request"]
    r = await _approve(client, checker, request["id"])
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "paid"
    assert await cash(app, p["id"]) == before - 40 * WAN
    assert_problem(await _approve(client, checker, request["id"]), 409, "invalid_state")
    assert await cash(app, p["id"]) == before - 40 * WAN

    # A later recovery of ¥100,000, distributed as each bore the loss (fund and bank half each), under four-eyes.
    await _policy(client, fund, compensation_approval=True, recovery_distribution=True)
    path = f"/compensation-claims/{claim.id}/recoveries"
    assert_problem(await client.post(path, json={"amount": 10 * WAN, "source_ref": "x"}, headers=bank.headers), 403,
                   "forbidden")
    r = await client.post(path, json={"amount": 10 * WAN, "source_ref": "court-2026-17"}, headers=fund.headers)
    assert r.status_code == 202, r.text
    assert r.json()["approval_request"]["action"] == "recovery_distribution"
    assert await cash(app, p["id"]) == before - 40 * WAN
    assert_problem(await _approve(client, fund, r.json()["approval_request"]["id"]), 403, "forbidden")
    r = await _approve(client, checker, r.json()["approval_request"]["id"])
    assert r.status_code == 201, r.text
    assert {x["party"]: x["amount"] for x in r.json()["data"]} == {"fund": 5 * WAN, "bank": 5 * WAN}
    assert await cash(app, p["id"]) == before - 35 * WAN


async def test_subsidy_approval_waits_for_a_checker(api, client):
    await publish_lpr(api)
    regulator = await api.org("regulator")
    checker = await api.user(regulator.org_id, "regulator", role="checker")
    sme, bank = await api.org("sme"), await api.org("bank")
    pol = await policy(api, regulator)
    c = await filed(api, sme, pol["id"], (await subsidy_loan(api, sme, bank))["id"])
    await _policy(client, regulator, subsidy_approval=True)
    r = await client.post(f"/subsidy-claims/{c['id']}/approve", headers=regulator.headers)
    assert r.status_code == 202, r.text
    request = r.json()["approval_request"]
    assert request["action"] == "subsidy_approval" and request["requested_by"] == regulator.user_id
    assert (await client.get(f"/subsidy-claims/{c['id']}", headers=regulator.headers)).json()["status"] == "pending"
    assert_problem(await _approve(client, regulator, request["id"]), 403, "forbidden")
    r = await client.post(f"/approval-requests/{request['id']}/reject", headers=checker.headers)
    assert r.json()["status"] == "rejected"
    assert (await client.get(f"/subsidy-claims/{c['id']}", headers=regulator.headers)).json()["status"] == "pending"
    r = await client.post(f"/subsidy-claims/{c['id']}/approve", headers=regulator.headers)
    r = await _approve(client, checker, r.json()["approval_request"]["id"])
    assert r.status_code == 200 and r.json()["status"] == "paid", r.text
    payments = (await client.get("/payments", headers=sme.headers)).json()["data"]
    assert len([x for x in payments if x["purpose"] == "subsidy"]) == 1



async def _race(app, request_id: str, checkers) -> list:
    """Ten approvals of one request at once, from different clients (each its own connection)."""
    import asyncio

    import httpx

    clients = [httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test/api/v1")
               for _ in range(10)]
    try:
        return list(await asyncio.gather(*(c.post(f"/approval-requests/{request_id}/approve",
                                                  headers=checkers[i % len(checkers)].headers)
                                           for i, c in enumerate(clients))))
    finally:
        await asyncio.gather(*(c.aclose() for c in clients))


@pytest.mark.postgres
async def test_concurrent_approvals_of_money_actions_run_once(api, client, app):
    """A money action commits its first phase before the provider call (api/routing.py Settle): the decision
    commits with it, so an approval waiting on the request's lock finds it decided and runs nothing."""
    fund, bank, sme = await api.org("fund"), await api.org("bank"), await api.org("sme")
    checkers = [await api.user(fund.org_id, "fund", role="checker"),
                await api.user(fund.org_id, "fund", role="org_admin")]
    p, claim = await _claim_on_a_covered_loan(api, app, fund, bank, sme)
    await _policy(client, fund, compensation_approval=True, recovery_distribution=True)
    before = await cash(app, p["id"])
    r = await client.post(f"/compensation-claims/{claim.id}/approve", headers=fund.headers)
    responses = await _race(app, r.json()["approval_request"]["id"], checkers)
    assert sorted(x.status_code for x in responses) == [200] + [409] * 9, [x.text for x in responses]
    assert await cash(app, p["id"]) == before - 40 * WAN

    r = await client.post(f"/compensation-claims/{claim.id}/recoveries", json={"amount": 10 * WAN, "source_ref": "r1"},
                          headers={**fund.headers, "Idempotency-Key": "rec-1"})
    request_id = r.json()["approval_request"]["id"]
    responses = await _race(app, request_id, checkers)
    assert sorted(x.status_code for x in responses) == [201] + [409] * 9, [x.text for x in responses]
    assert await cash(app, p["id"]) == before - 35 * WAN
    done = (await client.get(f"/approval-requests/{request_id}", headers=fund.headers)).json()
    assert done["status"] == "approved" and done["result_status"] == 201
    async with app.state.session_factory() as s:
        events = (await s.exec(select(AuditEvent).where(AuditEvent.object_id == request_id))).all()
        assert sorted(e.action for e in events) == ["approval_request.approve", "approval_request.created"]


class _DecliningPayouts(LocalGateway):
    async def create_payout(self, request: PayoutRequest) -> GatewayResult:
        result = await super().create_payout(request)
        failed = {**result.object, "status": "failed", "failure_code": "account_frozen"}
        return GatewayResult(failed, ())


async def test_an_approved_payout_the_provider_declines_stays_approved_with_its_answer(api, client, app):
    """The action ran (its payment is on record, declined): the approval keeps that answer and runs nothing
    again; the claim's own retry path pays it."""
    fund, bank, sme = await api.org("fund"), await api.org("bank"), await api.org("sme")
    checker = await api.user(fund.org_id, "fund", role="checker")
    p, claim = await _claim_on_a_covered_loan(api, app, fund, bank, sme)
    await _policy(client, fund, compensation_approval=True)
    before = await cash(app, p["id"])
    r = await client.post(f"/compensation-claims/{claim.id}/approve", headers=fund.headers)
    request_id = r.json()["approval_request"]["id"]
    with use_gateway(_DecliningPayouts()):
        assert_problem(await _approve(client, checker, request_id), 402, "payment_failed")
    done = (await client.get(f"/approval-requests/{request_id}", headers=fund.headers)).json()
    assert (done["status"], done["decided_by"], done["result_status"]) == ("approved", checker.user_id, 402)
    assert done["result"]["code"] == "payment_failed"
    assert_problem(await _approve(client, checker, request_id), 409, "invalid_state")
    url = f"/compensation-claims/{claim.id}"
    assert (await client.get(url, headers=fund.headers)).json()["status"] == "payout_failed"
    assert await cash(app, p["id"]) == before
    r = await client.post(f"{url}/retry-payout", headers=fund.headers)
    assert r.status_code == 200 and r.json()["status"] == "paid", r.text
    assert await cash(app, p["id"]) == before - 40 * WAN
