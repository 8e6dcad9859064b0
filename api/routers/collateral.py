"""Collateral while a loan is repaid: revaluations, margin calls, more collateral, partial release and
substitution (api-contract "Servicing")."""

from __future__ import annotations

from api.deps import CurrentActor, SessionDep
from api.routing import AreaRouter, TransactionalRoute
from finance.servicing import margin, pledged
from finance.servicing.schemas import (
    CollateralAdditionOut,
    CollateralIn,
    DecisionIn,
    MarginCallOut,
    ReleaseIn,
    ReleaseOut,
    RevaluationIn,
    RevaluationOut,
)
from kernel.pagination import Page

router = AreaRouter(tags=["servicing"], route_class=TransactionalRoute)


@router.post("/loans/{loan_id}/revaluations", status_code=201, response_model=RevaluationOut,
             summary="Revalue the pledged bundle with a certified valuation; may issue a margin call (lending bank)")
async def revalue(loan_id: str, body: RevaluationIn, actor: CurrentActor, session: SessionDep) -> RevaluationOut:
    return margin.describe_revaluation(await margin.revalue(session, actor, loan_id, body))


@router.get("/loans/{loan_id}/revaluations", response_model=Page[RevaluationOut],
            summary="The valuations that revalued the loan's collateral since it was made (parties, fund)")
async def list_revaluations(loan_id: str, actor: CurrentActor, session: SessionDep) -> Page[RevaluationOut]:
    rows = await margin.revaluations(session, actor, loan_id)
    return Page[RevaluationOut](data=[margin.describe_revaluation(r) for r in rows], has_more=False,
                                next_cursor=None)


@router.get("/loans/{loan_id}/margin-calls", response_model=Page[MarginCallOut],
            summary="The loan's margin calls: shortfall, cure-by date, open|cured|expired (parties, fund)")
async def list_margin_calls(loan_id: str, actor: CurrentActor, session: SessionDep) -> Page[MarginCallOut]:
    rows = await margin.calls_for(session, actor, loan_id)
    return Page[MarginCallOut](data=[margin.describe(c) for c in rows], has_more=False, next_cursor=None)


@router.get("/margin-calls/{call_id}", response_model=MarginCallOut, summary="A margin call (parties, fund)")
async def get_margin_call(call_id: str, actor: CurrentActor, session: SessionDep) -> MarginCallOut:
    return margin.describe(await margin.get_call(session, actor, call_id))


@router.post("/loans/{loan_id}/collateral", status_code=201, response_model=CollateralAdditionOut,
             summary="Offer more assets as collateral; the bank registers their pledge (borrower)")
async def add_collateral(loan_id: str, body: CollateralIn, actor: CurrentActor,
                         session: SessionDep) -> CollateralAdditionOut:
    return pledged.describe_addition(await pledged.request_addition(session, actor, loan_id, body))


@router.get("/loans/{loan_id}/collateral-additions", response_model=Page[CollateralAdditionOut],
            summary="Assets offered as more collateral and their registration (parties, fund)")
async def list_additions(loan_id: str, actor: CurrentActor, session: SessionDep) -> Page[CollateralAdditionOut]:
    rows = await pledged.additions(session, actor, loan_id)
    return Page[CollateralAdditionOut](data=[pledged.describe_addition(r) for r in rows], has_more=False,
                                       next_cursor=None)


@router.post("/collateral-additions/{addition_id}/withdraw", response_model=CollateralAdditionOut,
             summary="Withdraw an offer of collateral not yet registered (borrower)")
async def withdraw_addition(addition_id: str, actor: CurrentActor, session: SessionDep) -> CollateralAdditionOut:
    return pledged.describe_addition(await pledged.withdraw_addition(session, actor, addition_id))


@router.post("/loans/{loan_id}/collateral-releases", status_code=201, response_model=ReleaseOut,
             summary="Ask to release pledged assets, optionally substituting others (borrower)")
async def request_release(loan_id: str, body: ReleaseIn, actor: CurrentActor, session: SessionDep) -> ReleaseOut:
    return pledged.describe_release(await pledged.request_release(session, actor, loan_id, body))


@router.get("/loans/{loan_id}/collateral-releases", response_model=Page[ReleaseOut],
            summary="The loan's collateral releases (parties, fund)")
async def list_releases(loan_id: str, actor: CurrentActor, session: SessionDep) -> Page[ReleaseOut]:
    rows = await pledged.releases(session, actor, loan_id)
    return Page[ReleaseOut](data=[pledged.describe_release(r) for r in rows], has_more=False, next_cursor=None)


@router.get("/collateral-releases/{release_id}", response_model=ReleaseOut, summary="A collateral release")
async def get_release(release_id: str, actor: CurrentActor, session: SessionDep) -> ReleaseOut:
    return pledged.describe_release(await pledged.get_release(session, actor, release_id))


@router.post("/collateral-releases/{release_id}/approve", response_model=ReleaseOut,
             summary="Approve while the rest covers the outstanding principal, else 409 limit_exceeded (lending bank)")
async def approve_release(release_id: str, actor: CurrentActor, session: SessionDep,
                          body: DecisionIn | None = None) -> ReleaseOut:
    return pledged.describe_release(await pledged.approve_release(session, actor, release_id,
                                                                  body.note if body else None))


@router.post("/collateral-releases/{release_id}/reject", response_model=ReleaseOut,
             summary="Refuse a collateral release (lending bank)")
async def reject_release(release_id: str, actor: CurrentActor, session: SessionDep,
                         body: DecisionIn | None = None) -> ReleaseOut:
    return pledged.describe_release(await pledged.reject_release(session, actor, release_id,
                                                                 body.note if body else None))
