"""Helpers for the collateral tests: a loan secured by a certified valuation, and certified valuations."""

from __future__ import annotations

from typing import Any

from tests.finance.loans import loan_flow as lf
from tests.helpers import Api, Party

Y = lf.YUAN


async def certified(api: Api, owner: Party, asset_ids: list[str], revenue: int = 50_000_000 * Y) -> dict[str, Any]:
    """A financing valuation of ``asset_ids`` requested by their owner and certified by an evaluator."""
    r = await api.client.post("/valuations", json={"asset_ids": asset_ids, "scenario": "financing",
                                                   "inputs": {"annual_revenue": revenue}}, headers=owner.headers)
    assert r.status_code == 201, r.text
    evaluator = await api.org("evaluator")
    r = await api.client.post(f"/valuations/{r.json()['id']}/certify", json={}, headers=evaluator.headers)
    assert r.status_code == 200, r.text
    return r.json()


async def valued_loan(api: Api, c: lf.Cast, *, share_bps: int = 10000) -> tuple[dict[str, Any], dict[str, Any]]:
    """An active loan whose principal is ``share_bps`` of the bundle's certified borrowing base."""
    valuation = await certified(api, c.sme, [a["id"] for a in c.assets])
    amount = valuation["borrowing_base"] * share_bps // 10000
    application = await lf.apply(api, c, valuation_id=valuation["id"], amount=amount)
    o = await lf.offer(api, c.bank, application["id"], amount=amount)
    r = await api.client.post(f"/loan-offers/{o['id']}/accept", headers=c.sme.headers)
    assert r.status_code == 201, r.text
    loan = r.json()
    await lf.register(api, c, loan["id"])
    r = await api.client.post(f"/loans/{loan['id']}/disburse", headers=c.bank.headers)
    assert r.status_code == 200 and r.json()["status"] == "active", r.text
    return r.json(), valuation


async def calls(api: Api, party: Party, loan_id: str) -> list[dict[str, Any]]:
    r = await api.client.get(f"/loans/{loan_id}/margin-calls", headers=party.headers)
    assert r.status_code == 200, r.text
    return r.json()["data"]
