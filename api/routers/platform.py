from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from fastapi import Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from api.deps import AdminActor, CurrentActor, SessionDep
from api.routing import AreaRouter, TransactionalRoute
from kernel import clock, day_end, outbox
from kernel.db import utcnow
from kernel.workflow import all_workflows

router = AreaRouter(tags=["platform"], route_class=TransactionalRoute)


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


class ReadyOut(BaseModel):
    status: str
    database: str
    worker: str
    worker_last_beat: datetime | None


@router.get("/ready", response_model=ReadyOut, responses={503: {"model": ReadyOut}},
            summary="Readiness: the database answers and an outbox worker beat recently (anyone)")
async def ready(request: Request, session: SessionDep) -> Any:
    settings = request.app.state.settings
    await session.exec(sa.select(1))  # type: ignore[call-overload]
    beat = await outbox.last_heartbeat(session)
    fresh = beat is not None and beat >= utcnow() - timedelta(seconds=settings.worker_stale_seconds)
    out = ReadyOut(status="ok" if fresh else "unavailable", database="ok",
                   worker="ok" if fresh else ("stale" if beat else "none"), worker_last_beat=beat)
    if fresh:
        return out
    return JSONResponse(out.model_dump(mode="json"), status_code=503)


@router.get("/clock", response_model=ClockOut, summary="The business date (any user)")
async def get_clock(request: Request, session: SessionDep, _: CurrentActor) -> ClockOut:
    settings = request.app.state.settings
    return ClockOut(business_date=await clock.business_date(session, settings), mode=settings.clock)


@router.post("/clock/advance", response_model=AdvanceOut,
             summary="Close business days and move the date on (platform admin, manual clock only)")
async def advance_clock(request: Request, body: AdvanceIn, session: SessionDep, actor: AdminActor) -> AdvanceOut:
    # Each day-end runs in its own transactions, not the request's.
    await session.rollback()
    new_date, processed = await day_end.advance(request.app.state.session_factory, body.days,
                                              request.app.state.settings, actor)
    return AdvanceOut(business_date=new_date, processed_days=processed)


@router.get("/workflows", response_model=list[WorkflowOut],
            summary="Every workflow's table of (status, action) → status, so clients can show what comes next (any user)")
async def workflows(_: CurrentActor) -> list[WorkflowOut]:
    return [WorkflowOut.model_validate(w) for w in all_workflows()]
