"""A compensation payout that fails, through HTTP with the http provider (respx): the claim is
`payout_failed`, its pending entry voided, the fund's cash unchanged and the loan still `defaulted`;
retried, it is paid once and only then is the loan `compensated`."""

from __future__ import annotations

from datetime import date, timedelta

import httpx
import respx

from finance.payments.http import HttpGateway
from finance.payments.providers import use_gateway
from tests.finance.loans import loan_flow as lf
from tests.helpers import Party, assert_problem

PROVIDER = "https://pay.provider.test"


def _payout(status: str) -> object:
    def answer(request: httpx.Request) -> httpx.Response:
        body = {"id": "po_" + request.headers["Idempotency-Key"][-24:], "object": "payout", "status": status}
        if status == "failed":
            body.update(failure_code="account_frozen", failure_message="收款账户冻结")
        return httpx.Response(200, json=body)

    return answer


async def _cash(client: httpx.AsyncClient, fund: Party, program_id: str) -> tuple[int, int]:
    r = await client.get("/fund/ledger/balances", headers=fund.headers)
    assert r.status_code == 200, r.text
    [cash] = [b for b in r.json()["accounts"] if b["code"] == f"fund:{program_id}:cash"]
    return cash["balance"], cash["available"]


async def test_failed_payout_leaves_the_loan_defaulted_and_a_retry_pays_once(api, client):
    c = await lf.cast(api)
    fund = await api.org("fund")
    r = await client.post("/fund/programs", json={
        "name": "知识产权质押融资风险补偿资金池", "capital": 50_000_000 * lf.YUAN, "shares_bps": {"fund": 5000},
        "leverage_max": 10, "npl_pause_bps": 10000, "default_days": 1}, headers=fund.headers)
    assert r.status_code == 201, r.text
    program = r.json()
    r = await client.post(f"/fund/programs/{program['id']}/agreements",
                          json={"bank_org_id": c.bank.org_id, "deposit": 1_000_000 * lf.YUAN}, headers=fund.headers)
    assert r.status_code == 201, r.text
    loan = await lf.accepted_loan(api, c)
    r = await client.post(f"/loans/{loan['id']}/fund-cover", json={"program_id": program["id"]},
                          headers=c.bank.headers)
    assert r.status_code == 201, r.text
    await lf.register(api, c, loan["id"])
    assert (await client.post(f"/loans/{loan['id']}/disburse", headers=c.bank.headers)).json()["status"] == "active"
    first_due = (await lf.schedule(api, c.sme, loan["id"]))[0]["due_on"]
    await lf.advance_to(api, date.fromisoformat(first_due) + timedelta(days=2))
    r = await client.post(f"/loans/{loan['id']}/default", headers=c.bank.headers)
    assert r.status_code == 200 and r.json()["status"] == "defaulted", r.text
    r = await client.post(f"/loans/{loan['id']}/compensation-claims", headers=c.bank.headers)
    assert r.status_code == 201, r.text
    claim = r.json()
    fund_part = claim["fund_amount"]
    before = await _cash(client, fund, program["id"])

    gateway = HttpGateway(PROVIDER, "sk_test", timeout=2.0, max_retries=1, backoff_seconds=0)
    with use_gateway(gateway), respx.mock(base_url=PROVIDER, assert_all_called=False) as provider:
        route = provider.post("/v1/payouts").mock(side_effect=_payout("failed"))
        url = f"/compensation-claims/{claim['id']}"
        assert_problem(await client.post(f"{url}/approve", headers=fund.headers), 402, "payment_failed")
        got = (await client.get(url, headers=fund.headers)).json()
        assert got["status"] == "payout_failed"
        assert (await lf.loan(api, c.bank, loan["id"]))["status"] == "defaulted"
        assert await _cash(client, fund, program["id"]) == before  # posted and available unchanged
        r = await client.get("/fund/ledger/entries", params={"kind": "fund.compensation"}, headers=fund.headers)
        assert sorted(e["phase"] for e in r.json()["data"]) == ["pending", "void_pending"]
        events = (await client.get("/events", params={"type": "compensation_claim.payout_failed"},
                                   headers=c.bank.headers)).json()["data"]
        assert [e["data"]["object"]["id"] for e in events] == [claim["id"]]
        assert_problem(await client.post(f"{url}/approve", headers=fund.headers), 409, "invalid_state")

        route.mock(side_effect=_payout("paid"))
        r = await client.post(f"{url}/retry-payout", headers=fund.headers)
        assert r.status_code == 200 and r.json()["status"] == "paid", r.text
        assert (await client.post(f"{url}/retry-payout", headers=fund.headers)).json()["status"] == "paid"
    assert (await lf.loan(api, c.bank, loan["id"]))["status"] == "compensated"
    posted, available = await _cash(client, fund, program["id"])
    assert (posted, available) == (before[0] - fund_part, before[1] - fund_part)  # paid once
    r = await client.get("/payments", params={"purpose": "compensation", "limit": 10}, headers=fund.headers)
    assert sorted(p["status"] for p in r.json()["data"]) == ["failed", "succeeded"]
    events = (await client.get("/events", params={"type": "compensation_claim.paid"},
                               headers=c.bank.headers)).json()["data"]
    assert [e["data"]["object"]["id"] for e in events] == [claim["id"]]
    r = await client.get("/fund/ledger/verify", headers=fund.headers)
    assert r.json()["balanced"] is True and r.json()["problems"] == []
