"""Subsidy policies and claims over HTTP (the rules are in ``finance.subsidies``)."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import Body, Response

from api.approvals import PENDING_RESPONSE, FourEyes
from api.deps import CurrentActor, Cursor, Limit, SessionDep
from api.money import settle_then_read
from api.routing import AreaRouter, SettleDep, TransactionalRoute
from finance.subsidies import claims, policies
from finance.subsidies.schemas import ClaimIn, ClaimOut, Kind, PolicyIn, PolicyOut, RejectIn
from kernel.pagination import Page

router = AreaRouter(tags=["subsidies"], route_class=TransactionalRoute)


@router.post("/subsidy-policies", status_code=201, response_model=PolicyOut,
             summary="Set a subsidy policy (a loan subsidy or an IP reward per qualifying item); its budget is "
                     "earmarked in the fund ledger (regulator)")
async def create_policy(body: PolicyIn, actor: CurrentActor, session: SessionDep) -> PolicyOut:
    return policies.describe_policy(await policies.create_policy(session, actor, body))


@router.get("/subsidy-policies", response_model=Page[PolicyOut], summary="Subsidy policies, newest first (any user)")
async def list_policies(_: CurrentActor, session: SessionDep, limit: Limit = 20, cursor: Cursor = None,
                        kind: Kind | None = None) -> Page[PolicyOut]:
    rows, has_more, next_cursor = await policies.list_policies(session, limit, cursor, kind)
    return Page[PolicyOut](data=[policies.describe_policy(p) for p in rows], has_more=has_more, next_cursor=next_cursor)


@router.get("/subsidy-policies/{policy_id}", response_model=PolicyOut, summary="One subsidy policy (any user)")
async def get_policy(policy_id: str, _: CurrentActor, session: SessionDep) -> PolicyOut:
    return policies.describe_policy(await policies.get_policy(session, policy_id))


@router.post("/subsidy-claims", status_code=201, response_model=ClaimOut,
             summary="Claim a subsidy on a loan (its borrower, guarantor or insurer) or an IP reward for items of "
                     "the registry (a firm or university); the eligible amount is computed from the records and "
                     "each item shows its verdict; an ineligible claim answers 409 with every reason")
async def file_claim(body: ClaimIn, actor: CurrentActor, session: SessionDep) -> Any:
    return await claims.file_claim(session, actor, body)


@router.get("/subsidy-claims", response_model=Page[ClaimOut],
            summary="Subsidy claims: a claimant its own, the regulator all")
async def list_claims(actor: CurrentActor, session: SessionDep, limit: Limit = 20, cursor: Cursor = None,
                      policy_id: str | None = None,
                      status: Literal["pending", "approved", "paid", "rejected", "payout_failed"] | None = None
                      ) -> Page[ClaimOut]:
    rows, has_more, next_cursor = await claims.list_claims(session, actor, policy_id, status, limit, cursor)
    return Page[ClaimOut](data=[ClaimOut.model_validate(c, from_attributes=True) for c in rows], has_more=has_more,
                     next_cursor=next_cursor)


@router.get("/subsidy-claims/{claim_id}", response_model=ClaimOut,
            summary="One subsidy claim with its working (the claimant, regulators)")
async def get_claim(claim_id: str, actor: CurrentActor, session: SessionDep) -> Any:
    return await claims.get_claim(session, actor, claim_id)


@router.post("/subsidy-claims/{claim_id}/approve", response_model=ClaimOut, responses=PENDING_RESPONSE,
             summary="Approve and pay from the budget through the ledger and the gateway (regulator; four-eyes "
                     "when the regulator's policy says so); 202 while the provider has not paid out")
async def approve(claim_id: str, actor: CurrentActor, session: SessionDep, gate: FourEyes, response: Response,
                  settle: SettleDep) -> Any:
    claim = await claims.get_claim(session, actor, claim_id)  # 404 for a claim the caller may not see
    await gate.check(actor, "subsidy_approval", amount=claim.amount, object_type="subsidy_claim",
                     object_id=claim_id)
    claim = await claims.approve(session, actor, claim_id)
    await settle_then_read(settle, session, response, claim.payment_id, claim)
    return claim


@router.post("/subsidy-claims/{claim_id}/reject", response_model=ClaimOut,
             summary="Reject a pending claim, optionally with a reason (regulator)")
async def reject(claim_id: str, actor: CurrentActor, session: SessionDep,
                 body: RejectIn | None = Body(default=None)) -> Any:
    return await claims.reject(session, actor, claim_id, body.reason if body else None)
