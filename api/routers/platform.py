from __future__ import annotations

from datetime import date

import sqlalchemy as sa
from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field

from api.deps import AdminActor, CurrentActor, SessionDep
from api.routing import TransactionalRoute
from kernel import clock
from kernel.workflow import all_workflows

router = APIRouter(tags=["platform"], route_class=TransactionalRoute)


class HealthOut(BaseModel):
    status: str
    database: str


class ClockOut(BaseModel):
    business_date: date
    mode: str


class AdvanceIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    days: int = Field(ge=1, le=3660)


class AdvanceOut(BaseModel):
    business_date: date
    processed_days: int


class TransitionOut(BaseModel):
    model_config = ConfigDict(populate_by_name=True)
    from_: str = Field(alias="from")
    action: str
    to: str


class WorkflowOut(BaseModel):
    name: str
    field: str = Field(description="the column the workflow drives")
    initial: list[str]
    states: list[str]
    terminal: list[str]
    transitions: list[TransitionOut]


@router.get("/health", response_model=HealthOut, summary="Liveness and database check (anyone)")
async def health(session: SessionDep) -> HealthOut:
    await session.exec(sa.select(1))  # type: ignore[call-overload]
    return HealthOut(status="ok", database="ok")


@router.get("/clock", response_model=ClockOut, summary="The business date (any user)")
async def get_clock(request: Request, session: SessionDep, _: CurrentActor) -> ClockOut:
    settings = request.app.state.settings
    return ClockOut(business_date=await clock.business_date(session, settings), mode=settings.clock)


@router.post("/clock/advance", response_model=AdvanceOut,
             summary="Close business days and move the date on (platform admin, manual clock only)")
async def advance_clock(request: Request, body: AdvanceIn, session: SessionDep, actor: AdminActor) -> AdvanceOut:
    # Each day-end runs in its own transactions, not the request's.
    await session.rollback()
    new_date, processed = await clock.advance(request.app.state.session_factory, body.days,
                                              request.app.state.settings, actor)
    return AdvanceOut(business_date=new_date, processed_days=processed)


@router.get("/workflows", response_model=list[WorkflowOut],
            summary="Every workflow's table of (status, action) → status, so clients can show what comes next (any user)")
async def workflows(_: CurrentActor) -> list[WorkflowOut]:
    return [WorkflowOut.model_validate(w) for w in all_workflows()]
