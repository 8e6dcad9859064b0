"""Closed periods of the fund's books over HTTP: list them with their frozen trial balances; close a month."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Query

from api.approvals import PENDING_RESPONSE, FourEyes
from api.deps import SessionDep, org_kinds
from api.routing import AreaRouter, TransactionalRoute
from finance.ledger import periods
from finance.ledger.schemas import PeriodOut
from kernel.actor import ORG_ADMIN, Actor
from kernel.errors import Forbidden

router = AreaRouter(prefix="/fund/ledger", tags=["fund ledger"], route_class=TransactionalRoute)
Reader = Annotated[Actor, Depends(org_kinds("fund", "regulator"))]
FundActor = Annotated[Actor, Depends(org_kinds("fund"))]


@router.get("/periods", response_model=list[PeriodOut],
            summary="Closed months with the trial balance frozen at the close (the fund: its own books; "
                    "regulators: every fund's, or one with fund_org_id)")
async def list_periods(session: SessionDep, actor: Reader,
                       fund_org_id: Annotated[str | None, Query(max_length=40)] = None) -> list[dict[str, Any]]:
    scope = actor.org_id if actor.is_kind("fund") else fund_org_id
    return [periods.describe(p) for p in await periods.list_periods(session, scope)]


@router.post("/periods/{month}/close", status_code=201, response_model=PeriodOut, responses=PENDING_RESPONSE,
             summary="Close a month of the fund's books: no entry may be dated in it afterwards (fund "
                     "administrator; four-eyes when the fund's policy says so)")
async def close_period(month: str, session: SessionDep, actor: FundActor, gate: FourEyes) -> dict[str, Any]:
    if actor.role != ORG_ADMIN:
        raise Forbidden("only a fund administrator closes the books")
    periods.parse_month(month)  # a bad month is 422 now, not after approval
    await gate.check(actor, "period_close", object_type="ledger_period", object_id=month)
    return periods.describe(await periods.close(session, actor, actor.org_id, month))
