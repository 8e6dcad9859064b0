"""The fund's controls over HTTP: a programme's control settings, its provisions and its partner scorecards."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from fastapi import Depends, Query, Response

from api.approvals import PENDING_RESPONSE, FourEyes
from api.deps import SessionDep, org_kinds
from api.lang import Language, file_response
from api.money import settle_then_read
from api.routing import AreaRouter, SettleDep, TransactionalRoute
from finance.fund import claims, controls, monitoring, provisions, recovery
from finance.fund.schemas import ControlsIn, ControlsOut, ProvisionsOut, RecoveryIn, RecoveryOut
from finance.loans.schemas import RecoveriesOut
from finance.statistics import scorecards
from kernel import tabular
from kernel.actor import Actor
from kernel.errors import Forbidden, InvalidState

router = AreaRouter(tags=["fund"], route_class=TransactionalRoute)
FundActor = Annotated[Actor, Depends(org_kinds("fund"))]
Monitor = Annotated[Actor, Depends(org_kinds("fund", "regulator", admin=True))]
Party = Annotated[Actor, Depends(org_kinds("fund", "bank"))]


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


@router.post("/compensation-claims/{claim_id}/recoveries", status_code=201, response_model=RecoveriesOut,
             responses=PENDING_RESPONSE,
             summary="Distribute money recovered after compensation to the loss bearers in proportion to what each "
                     "bore (the claim's fund; four-eyes when its policy says so); each row is `paying` until its "
                     "payment lands (`paid`), or `payout_failed` (then `POST /recoveries/{id}/retry-payout`)")
async def distribute_recovery(claim_id: str, body: RecoveryIn, actor: FundActor, session: SessionDep,
                              gate: FourEyes, settle: SettleDep) -> dict[str, Any]:
    claim = await claims.get_claim(session, actor, claim_id)
    if claim.fund_org_id != actor.org_id:
        raise Forbidden("only the claim's fund distributes its recoveries")
    if claim.status != "paid":
        raise InvalidState(f"compensation claim {claim.id} is {claim.status}; recoveries follow a paid claim")
    await gate.check(actor, "recovery_distribution", amount=body.amount, object_type="compensation_claim",
                     object_id=claim_id)
    rows = await recovery.distribute_recovery(session, actor, claim.loan_id, body.amount, claim.borrower_org_id,
                                                  source_ref=f"recovery:{claim.id}:{body.source_ref}")
    await settle()  # the payments to each party; a row reads paid only once its payment has landed
    for row in rows:
        await session.refresh(row)
    return {"loan_id": claim.loan_id, "proceeds": body.amount,
            "data": [recovery.describe_recovery(r) for r in rows]}


@router.post("/recoveries/{recovery_id}/retry-payout", response_model=RecoveryOut,
             summary="Pay a party's part of a recovery whose payment failed again, with a new payment (the "
                     "claim's fund or lending bank): `paid` once it lands, 202 `paying` while the provider has "
                     "not answered, 402 if declined again")
async def retry_recovery_payout(recovery_id: str, actor: Party, session: SessionDep, response: Response,
                                settle: SettleDep) -> RecoveryOut:
    row = await recovery.retry_payout(session, actor, recovery_id)
    await settle_then_read(settle, session, response, row.payment_id if row.status == "paying" else None, row)
    return recovery.describe_recovery(row)
