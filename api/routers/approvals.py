"""Four-eyes approvals over HTTP: list the organisation's requests, approve (runs the action) or reject."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import Body, Query, Request, Response

from accounts import approvals
from accounts.schemas import ApprovalRequestOut, DecisionIn
from api.approvals import APPROVAL_HEADER, replay
from api.deps import CurrentActor, Cursor, Limit, SessionDep
from api.routing import AreaRouter, TransactionalRoute
from kernel.pagination import Page

router = AreaRouter(tags=["approvals"], route_class=TransactionalRoute)
Status = Literal["pending", "approved", "rejected", "expired"]


@router.get("/approval-requests", response_model=Page[ApprovalRequestOut],
            summary="The organisation's four-eyes requests, newest first (any user of the organisation)")
async def list_requests(actor: CurrentActor, session: SessionDep, limit: Limit = 20, cursor: Cursor = None,
                        status: Status | None = None,
                        action: Annotated[str | None, Query(max_length=40)] = None) -> dict[str, Any]:
    rows, has_more, nxt = await approvals.list_requests(session, actor, limit, cursor, status=status,
                                                        action=action)
    emails = await approvals.emails_of(session, rows)
    return {"data": [approvals.describe(r, emails) for r in rows], "has_more": has_more, "next_cursor": nxt}


@router.get("/approval-requests/{request_id}", response_model=ApprovalRequestOut,
            summary="One four-eyes request (its organisation)")
async def get_request(request_id: str, actor: CurrentActor, session: SessionDep) -> dict[str, Any]:
    req = await approvals.get_request(session, actor, request_id)
    return approvals.describe(req, await approvals.emails_of(session, [req]))


@router.post("/approval-requests/{request_id}/approve",
             responses={200: {"description": "the action's own answer (status and body), as if the maker's "
                                             "request had run now; the `Approval-Request-Id` header names it"}},
             summary="Approve: the action runs once, as its maker asked (a checker or org admin other than "
                     "the maker)")
async def approve(request_id: str, request: Request, actor: CurrentActor, session: SessionDep) -> Response:
    req = await approvals.lock_for_decision(session, actor, request_id, "approve")
    maker = await approvals.maker_of(session, req)
    await approvals.approve(session, actor, req)
    result = await replay(request, session, req, maker)
    # A money action commits and ends its transactions on the way (api/money.py), expiring every row the
    # session holds: read the request again before recording the answer (no lazy load in async).
    await session.refresh(req)
    approvals.record_result(session, req, result.status_code, result.body.decode())
    if result.committed:
        # The decision committed with the action's first phase: an error answer now is part of what happened
        # (the route stores it for this request's own key instead of forgetting it).
        request.state.phase_one_committed = True
        if result.status_code >= 400:
            await session.commit()  # the route rolls an error answer back: keep the answer on the request
    # Otherwise an error answer rolls this transaction back, decision included: nothing happened.
    return Response(result.body, status_code=result.status_code, media_type=result.media_type,
                    headers={APPROVAL_HEADER: req.id})


@router.post("/approval-requests/{request_id}/reject", response_model=ApprovalRequestOut,
             summary="Reject: nothing the request asked for happens (a checker or org admin other than the maker)")
async def reject(request_id: str, actor: CurrentActor, session: SessionDep,
                 body: DecisionIn | None = Body(default=None)) -> dict[str, Any]:
    req = await approvals.reject(session, actor, request_id, body.reason if body else None)
    return approvals.describe(req, await approvals.emails_of(session, [req]))
