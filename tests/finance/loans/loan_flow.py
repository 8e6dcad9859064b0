"""Helpers that walk a pledge loan through its workflow over HTTP, for the loan tests and the e2e story."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from tests.helpers import Api, Party

YUAN = 100
START = date(2026, 3, 2)  # tests/conftest.py's IPM_CLOCK_START


@dataclass
class Cast:
    sme: Party
    bank: Party
    assets: list[dict[str, Any]]


async def cast(api: Api, n_assets: int = 2) -> Cast:
    sme = await api.org("sme", industry="新能源", region="140100")
    bank = await api.org("bank")
    assets = [await api.asset(sme) for _ in range(n_assets)]
    return Cast(sme, bank, assets)


async def today(api: Api) -> date:
    r = await api.client.get("/clock", headers=(await api.admin()).headers)
    return date.fromisoformat(r.json()["business_date"])


async def apply(api: Api, c: Cast, **over: Any) -> dict[str, Any]:
    body = {"asset_ids": [a["id"] for a in c.assets], "amount": 1_000_000 * YUAN, "term_months": 12,
            "purpose": "流动资金 working capital", "repayment_method": "equal_installment", **over}
    r = await api.client.post("/loan-applications", json=body, headers=c.sme.headers)
    assert r.status_code == 201, r.text
    return r.json()


async def offer(api: Api, bank: Party, application_id: str, **over: Any) -> dict[str, Any]:
    expires = (await today(api)) + timedelta(days=30)
    body = {"amount": 1_000_000 * YUAN, "annual_rate_bps": 435, "term_months": 12,
            "repayment_method": "equal_installment", "requires_guarantee": False,
            "expires_on": expires.isoformat(), **over}
    r = await api.client.post(f"/loan-applications/{application_id}/offers", json=body, headers=bank.headers)
    assert r.status_code == 201, r.text
    return r.json()


async def accepted_loan(api: Api, c: Cast, **offer_over: Any) -> dict[str, Any]:
    application = await apply(api, c)
    o = await offer(api, c.bank, application["id"], **offer_over)
    r = await api.client.post(f"/loan-offers/{o['id']}/accept", headers=c.sme.headers)
    assert r.status_code == 201, r.text
    return r.json()


async def invite(api: Api, bank: Party, loan_id: str, invitee: Party, kind: str) -> dict[str, Any]:
    """The lending bank invites a guarantor (``guarantee``) or insurer (``insurance``) to the loan."""
    r = await api.client.post(f"/loans/{loan_id}/invitations", json={"org_id": invitee.org_id, "kind": kind},
                              headers=bank.headers)
    assert r.status_code == 201, r.text
    return r.json()


async def register(api: Api, c: Cast, loan_id: str) -> dict[str, Any]:
    r = await api.client.post(f"/loans/{loan_id}/pledge-registration",
                              json={"registration_no": "Y2026990000123", "registered_on": str(await today(api))},
                              headers=c.bank.headers)
    assert r.status_code == 200, r.text
    return r.json()


async def active_loan(api: Api, c: Cast, **offer_over: Any) -> dict[str, Any]:
    loan = await accepted_loan(api, c, **offer_over)
    await register(api, c, loan["id"])
    r = await api.client.post(f"/loans/{loan['id']}/disburse", headers=c.bank.headers)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "active"
    return r.json()


async def loan(api: Api, party: Party, loan_id: str) -> dict[str, Any]:
    r = await api.client.get(f"/loans/{loan_id}", headers=party.headers)
    assert r.status_code == 200, r.text
    return r.json()


async def schedule(api: Api, party: Party, loan_id: str) -> list[dict[str, Any]]:
    r = await api.client.get(f"/loans/{loan_id}/schedule", headers=party.headers)
    assert r.status_code == 200, r.text
    return r.json()["installments"]


async def repay(api: Api, party: Party, loan_id: str, amount: int, **headers: str) -> dict[str, Any]:
    r = await api.client.post(f"/loans/{loan_id}/repayments", json={"amount": amount},
                              headers={**party.headers, **headers})
    assert r.status_code == 201, r.text
    return r.json()


async def advance_to(api: Api, target: date) -> None:
    days = (target - await today(api)).days
    if days > 0:
        await api.advance(days)
