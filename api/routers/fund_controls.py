"""The fund's controls over HTTP: a programme's control settings, its provisions and its partner scorecards."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query

from api.deps import SessionDep, org_kinds
from api.lang import Language, file_response
from api.routing import TransactionalRoute
from finance.fund import controls, monitoring, provisions
from finance.fund.schemas import ControlsIn, ControlsOut, ProvisionsOut
from finance.statistics import scorecards
from kernel import tabular
from kernel.actor import Actor

router = APIRouter(tags=["fund"], route_class=TransactionalRoute)
FundActor = Annotated[Actor, Depends(org_kinds("fund"))]
Monitor = Annotated[Actor, Depends(org_kinds("fund", "regulator", admin=True))]


@router.patch("/fund/programs/{program_id}/controls", response_model=ControlsOut,
              summary="Provision rates per classification and the automatic month close (the programme's fund)")
async def update_controls(program_id: str, body: ControlsIn, actor: FundActor, session: SessionDep) -> dict[str, Any]:
    return controls.describe(await controls.update(session, actor, program_id, body))


@router.get("/fund/programs/{program_id}/provisions", response_model=ProvisionsOut,
            summary="Provisions by classification: exposure, rate, provision; live, or the month-end run in "
                    "force on as_of (its fund, regulators)")
async def get_provisions(program_id: str, actor: Monitor, session: SessionDep,
                         as_of: date | None = None) -> dict[str, Any]:
    program = await monitoring.monitored_program(session, actor, program_id)
    return await provisions.report(session, program, as_of)


@router.get("/fund/programs/{program_id}/scorecards",
            responses={200: {"content": {"text/csv": {}, tabular.XLSX_MEDIA_TYPE: {}}}},
            summary="Each bank's and guarantor's year: leverage achieved against the commitment, quota use, "
                    "loans, rates against the LPR, NPL, compensation and recovery rates, days to claim and to "
                    "payment (its fund, regulators); `format=csv|xlsx`")
async def get_scorecards(program_id: str, actor: Monitor, session: SessionDep,
                         lang: Language, year: Annotated[int, Query(ge=2000, le=2100)],
                         format: Literal["json", "csv", "xlsx"] = "json") -> Any:
    program = await monitoring.monitored_program(session, actor, program_id)
    report = await scorecards.scorecards(session, program, year)
    if format in ("csv", "xlsx"):
        return file_response(report.as_table(f"scorecards-{program.id}-{year}"), format, lang)
    return report.as_json()
