"""Helpers for the fund's tests: organisations and programmes through HTTP, loans' calls straight into
the fund's service (the loans package calls the same functions), each in its own committed transaction.
"""

from __future__ import annotations

import itertools
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from finance.fund import books
from finance.fund.claims import ClaimRequest, Party
from finance.fund.cover import CoverRequest
from finance.ledger import service as ledger
from kernel import outbox
from kernel.actor import Actor
from tests.helpers import Api
from tests.helpers import Party as OrgUser

T = TypeVar("T")
YUAN = 100
WAN = 10_000 * YUAN  # ¥10,000
_loans = itertools.count(1)


def actor(p: OrgUser) -> Actor:
    return Actor(user_id=p.user_id, org_id=p.org_id, org_kind=p.kind, role="org_admin")


async def in_tx(app: Any, fn: Callable[..., Awaitable[T]], *args: Any, **kw: Any) -> T:
    """Run one service call in its own transaction, committed when it returns (rolled back if it raises),
    then the provider calls it queued, as a request does after its commit."""
    async with app.state.session_factory() as session:
        result = await fn(session, *args, **kw)
        await session.commit()
        await outbox.run_now(app.state.session_factory, outbox.take_now(session))
        return result


def rules(**over: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"shares_bps": {"fund": 5000}, "leverage_max": 10, "npl_pause_bps": 300}
    body.update(over)
    return body


async def program(api: Api, fund: OrgUser, capital: int = 100_000_000 * YUAN, **over: Any) -> dict[str, Any]:
    body = {"name": over.pop("name", "知识产权质押融资风险补偿资金池"), "capital": capital, **rules(**over)}
    r = await api.client.post("/fund/programs", json=body, headers=fund.headers)
    assert r.status_code == 201, r.text
    return r.json()


async def agreement(api: Api, fund: OrgUser, program_id: str, bank: OrgUser, deposit: int = 10_000_000 * YUAN,
                    leverage: int | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"bank_org_id": bank.org_id, "deposit": deposit}
    if leverage is not None:
        body["leverage"] = leverage
    r = await api.client.post(f"/fund/programs/{program_id}/agreements", json=body, headers=fund.headers)
    assert r.status_code == 201, r.text
    return r.json()


def cover_request(bank: OrgUser, borrower: OrgUser, principal: int, *, loan_id: str | None = None,
                  outstanding: int | None = None, guarantor: OrgUser | None = None,
                  insurer: OrgUser | None = None, industry: str | None = "新一代信息技术",
                  region: str | None = "440100", ip_value: int | None = None,
                  total_value: int | None = None) -> CoverRequest:
    return CoverRequest(
        loan_id=loan_id or f"lon_test{next(_loans):06d}", bank_org_id=bank.org_id, borrower_org_id=borrower.org_id,
        principal=principal, outstanding_principal=principal if outstanding is None else outstanding,
        industry=industry, region=region, guarantor_org_id=guarantor.org_id if guarantor else None,
        insurer_org_id=insurer.org_id if insurer else None,
        ip_collateral_value=principal * 2 if ip_value is None else ip_value,
        total_collateral_value=(principal * 2 if ip_value is None else ip_value) if total_value is None else total_value)


def claim_request(cover_req: CoverRequest, loss: int, parties: list[Party] | None = None) -> ClaimRequest:
    return ClaimRequest(loan_id=cover_req.loan_id, bank_org_id=cover_req.bank_org_id,
                        borrower_org_id=cover_req.borrower_org_id, principal=cover_req.principal, loss=loss,
                        parties=parties or [])


def shares_of(claim: dict[str, Any]) -> dict[str, int]:
    return {s["party"]: s["amount"] for s in claim["shares"]}


async def cash(app: Any, program_id: str) -> int:
    return await in_tx(app, books.cash, program_id)


async def verify_ledger(app: Any) -> dict[str, Any]:
    report = await in_tx(app, ledger.verify)
    assert report["balanced"] is True, report
    return report
