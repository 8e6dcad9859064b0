"""Helpers for the subsidy tests: loans built through the HTTP API, LPRs and policies."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from tests.finance.loans.loan_flow import YUAN, invite, today
from tests.helpers import Api, Party

WAN = 10_000 * YUAN  # ¥10,000 (万元)


async def publish_lpr(api: Api, effective_on: str = "2026-02-20", one_year_bps: int = 300,
                      five_year_bps: int = 350) -> None:
    r = await api.client.post("/lpr", json={"effective_on": effective_on, "one_year_bps": one_year_bps,
                                            "five_year_bps": five_year_bps}, headers=(await api.admin()).headers)
    assert r.status_code == 201, r.text


async def policy(api: Api, regulator: Party, **fields: Any) -> dict[str, Any]:
    body = {"name": "测试补助政策", "kind": "interest", "rate_bps": 2000, "basis": "lpr_principal",
            "cap_per_org_year": 200_000 * YUAN, "budget": 1_000_000 * YUAN, **fields}
    r = await api.client.post("/subsidy-policies", json=body, headers=regulator.headers)
    assert r.status_code == 201, r.text
    return r.json()


async def loan(api: Api, sme: Party, bank: Party, *, amount: int = 1_000_000 * YUAN, rate_bps: int = 435,
               term_months: int = 12, guarantor: Party | None = None, insurer: Party | None = None,
               premium: int = 0, fee_rate_bps: int = 200, valuation: bool = False, disburse: bool = True,
               region: str | None = None) -> dict[str, Any]:
    """A loan of ``sme`` from ``bank``: applied, offered, accepted, secured, registered and disbursed."""
    c = api.client
    assets = [await api.asset(sme)]
    body: dict[str, Any] = {"asset_ids": [a["id"] for a in assets], "amount": amount, "term_months": term_months,
                            "purpose": "流动资金", "repayment_method": "equal_installment"}
    if valuation:
        r = await c.post("/valuations", json={"asset_ids": body["asset_ids"], "scenario": "financing",
                                                "inputs": {"rd_cost": 2_000_000 * YUAN}},
                         headers=sme.headers)
        assert r.status_code == 201, r.text
        body["valuation_id"] = r.json()["id"]
    r = await c.post("/loan-applications", json=body, headers=sme.headers)
    assert r.status_code == 201, r.text
    expires = (await today(api)) + timedelta(days=30)
    r = await c.post(f"/loan-applications/{r.json()['id']}/offers", headers=bank.headers, json={
        "amount": amount, "annual_rate_bps": rate_bps, "term_months": term_months,
        "repayment_method": "equal_installment", "requires_guarantee": False, "expires_on": str(expires)})
    assert r.status_code == 201, r.text
    r = await c.post(f"/loan-offers/{r.json()['id']}/accept", headers=sme.headers)
    assert r.status_code == 201, r.text
    loan_id = r.json()["id"]
    if guarantor:
        await invite(api, bank, loan_id, guarantor, "guarantee")
        r = await c.post(f"/loans/{loan_id}/guarantee", json={"share_bps": 3000, "fee_rate_bps": fee_rate_bps},
                         headers=guarantor.headers)
        assert r.status_code == 201, r.text
    if insurer:
        await invite(api, bank, loan_id, insurer, "insurance")
        r = await c.post(f"/loans/{loan_id}/insurance", json={"share_bps": 2000, "premium": premium},
                         headers=insurer.headers)
        assert r.status_code == 201, r.text
    if not disburse:
        return r.json()
    r = await c.post(f"/loans/{loan_id}/pledge-registration", headers=bank.headers,
                     json={"registration_no": f"Y2026{loan_id[-8:]}", "registered_on": str(await today(api))})
    assert r.status_code == 200, r.text
    r = await c.post(f"/loans/{loan_id}/disburse", headers=bank.headers)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "active"
    return r.json()


async def claim(api: Api, party: Party, policy_id: str, loan_id: str, **extra: Any) -> Any:
    return await api.client.post("/subsidy-claims", json={"policy_id": policy_id, "loan_id": loan_id, **extra},
                                 headers=party.headers)


async def filed(api: Api, party: Party, policy_id: str, loan_id: str, **extra: Any) -> dict[str, Any]:
    r = await claim(api, party, policy_id, loan_id, **extra)
    assert r.status_code == 201, r.text
    assert r.json()["status"] == "pending"
    return r.json()


async def approve(api: Api, regulator: Party, claim_id: str) -> Any:
    return await api.client.post(f"/subsidy-claims/{claim_id}/approve", headers=regulator.headers)


async def budget_balance(app: Any, policy_id: str) -> int:
    from finance.ledger import service as ledger
    from finance.ledger.core import Chart

    async with app.state.session_factory() as session:
        return (await ledger.balance(session, Chart.subsidy_budget(policy_id))).balance
