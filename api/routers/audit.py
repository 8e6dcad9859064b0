"""The audit trail, and the history of one loan, claim, deal or asset (who did what, when, before, after)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

from fastapi import Query

from api.deps import CurrentActor, Cursor, Limit, Order, SessionDep
from api.routing import AreaRouter, TransactionalRoute
from finance.fund import claims as fund_claims
from finance.loans import access as loan_access
from kernel import audit_trail
from kernel.audit_trail import AuditEventOut
from kernel.errors import NotFound
from kernel.pagination import Page
from market.assets.service import get_asset
from market.trading.deals import get_deal

router = AreaRouter(tags=["audit"], route_class=TransactionalRoute)
OptId = Annotated[str | None, Query(max_length=40)]


@router.get("/audit-events", response_model=Page[AuditEventOut],
            summary="The audit trail: everyone's for the admin and regulators, its own organisation's for an org_admin")
async def audit_events(actor: CurrentActor, session: SessionDep, limit: Limit = 20, cursor: Cursor = None,
                       order: Order = "newest", object_type: OptId = None, object_id: OptId = None,
                       actor_org_id: OptId = None, action: str | None = Query(default=None, max_length=80),
                       from_: date | datetime | None = Query(default=None, alias="from"),
                       to: date | datetime | None = None) -> Page[AuditEventOut]:
    data, more, nxt = await audit_trail.trail(
        session, actor, limit=limit, cursor=cursor, oldest_first=order == "oldest", object_type=object_type,
        object_id=object_id, actor_org_id=actor_org_id, action=action, from_=from_, to=to)
    return Page(data=data, has_more=more, next_cursor=nxt)


async def _history(session: SessionDep, objects: list[tuple[str, str]], limit: int, cursor: str | None,
                   order: str) -> Page[AuditEventOut]:
    data, more, nxt = await audit_trail.history(session, objects, limit=limit, cursor=cursor,
                                                oldest_first=order != "newest")
    return Page(data=data, has_more=more, next_cursor=nxt)


@router.get("/loans/{loan_id}/history", response_model=Page[AuditEventOut],
            summary="A loan's history from its application on, oldest first (its parties, the fund, admin)")
async def loan_history(loan_id: str, actor: CurrentActor, session: SessionDep, limit: Limit = 100,
                       cursor: Cursor = None, order: Order = "oldest") -> Page[AuditEventOut]:
    loan = await loan_access.get_loan(session, actor, loan_id)
    objects = [("loan", loan.id), ("loan_application", loan.application_id), ("loan_offer", loan.offer_id)]
    return await _history(session, objects, limit, cursor, order)


@router.get("/compensation-claims/{claim_id}/history", response_model=Page[AuditEventOut],
            summary="A compensation claim's history, oldest first (its fund, the parties bearing a share)")
async def claim_history(claim_id: str, actor: CurrentActor, session: SessionDep, limit: Limit = 100,
                        cursor: Cursor = None, order: Order = "oldest") -> Page[AuditEventOut]:
    claim = await fund_claims.get_claim(session, actor, claim_id)
    return await _history(session, [("compensation_claim", claim.id)], limit, cursor, order)


@router.get("/deals/{deal_id}/history", response_model=Page[AuditEventOut],
            summary="A deal's history, oldest first (its parties)")
async def deal_history(deal_id: str, actor: CurrentActor, session: SessionDep, limit: Limit = 100,
                       cursor: Cursor = None, order: Order = "oldest") -> Page[AuditEventOut]:
    deal = await get_deal(session, actor, deal_id)
    return await _history(session, [("deal", deal.id)], limit, cursor, order)


@router.get("/assets/{asset_id}/history", response_model=Page[AuditEventOut],
            summary="An asset's history: registration, changes, encumbrances, owners (its owner, regulators, admin)")
async def asset_history(asset_id: str, actor: CurrentActor, session: SessionDep, limit: Limit = 100,
                        cursor: Cursor = None, order: Order = "oldest") -> Page[AuditEventOut]:
    asset = await get_asset(session, asset_id)
    if not (asset.owner_org_id == actor.org_id or actor.is_platform_admin or actor.is_kind("regulator")):
        raise NotFound("asset not found")
    return await _history(session, [("asset", asset.id)], limit, cursor, order)
