"""Worlds the console tests start from, built through the API as its users would."""

from __future__ import annotations

from datetime import date
from typing import Any

from tests.finance.loans import loan_flow as lf
from tests.helpers import Api, Party

YUAN = lf.YUAN


async def programme(api: Api, fund: Party, bank: Party, name: str, deposit_yuan: int) -> dict[str, Any]:
    """A risk-fund programme with an agreement with ``bank`` (quota = deposit × leverage 10)."""
    body = {"name": name, "capital": 50_000_000 * YUAN, "shares_bps": {"fund": 5400, "guarantor": 0, "insurer": 0},
            "leverage_max": 10, "npl_pause_bps": 300, "default_days": 90}
    r = await api.client.post("/fund/programs", json=body, headers=fund.headers)
    assert r.status_code == 201, r.text
    program = r.json()
    r = await api.client.post(f"/fund/programs/{program['id']}/agreements",
                              json={"bank_org_id": bank.org_id, "deposit": deposit_yuan * YUAN}, headers=fund.headers)
    assert r.status_code == 201, r.text
    return program


async def four_eyes(api: Api, party: Party, **policy: Any) -> None:
    r = await api.client.patch(f"/orgs/{party.org_id}", json={"approval_policy": policy}, headers=party.headers)
    assert r.status_code == 200, r.text


async def overdue_90_days(api: Api) -> None:
    """Nothing paid on a loan paid out at the start: 1 July is 90 days past the first due date."""
    await lf.advance_to(api, date(2026, 7, 1))
