from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import Depends, Query, Response

from api.approvals import PENDING_RESPONSE, FourEyes
from api.deps import CurrentActor, SessionDep, org_kinds
from api.lang import Language, file_response
from api.money import settle_then_read
from api.routing import AreaRouter, SettleDep, TransactionalRoute
from finance.fund import agreements, claims, monitoring, programmes
from finance.fund.schemas import (
    AgreementIn,
    AgreementOut,
    CapitalIn,
    ClaimOut,
    ClaimRejectIn,
    ExposureOut,
    ProgramIn,
    ProgramOut,
    RulesIn,
    StressIn,
    VersionOut,
)
from kernel import tabular
from kernel.actor import Actor

router = AreaRouter(tags=["fund"], route_class=TransactionalRoute)
FundActor = Annotated[Actor, Depends(org_kinds(*programmes.FUND_KINDS))]
FundOrAdmin = Annotated[Actor, Depends(org_kinds(*programmes.FUND_KINDS, admin=True))]
Monitor = Annotated[Actor, Depends(org_kinds(*programmes.MONITOR_KINDS, admin=True))]


@router.post("/fund/programs", status_code=201, response_model=ProgramOut,
             summary="Start a programme with its capital and first rules (fund)")
async def create_program(body: ProgramIn, actor: FundActor, session: SessionDep) -> ProgramOut:
    program = await programmes.create_program(session, actor, body)
    return await programmes.describe_program(session, program)


@router.post("/fund/programs/{program_id}/capital", response_model=ProgramOut,
             summary="Pay more capital into the programme (its fund)")
async def add_capital(program_id: str, body: CapitalIn, actor: FundActor, session: SessionDep) -> ProgramOut:
    program = await programmes.add_capital(session, actor, program_id, body.amount)
    return await programmes.describe_program(session, program)


@router.get("/fund/programs/{program_id}", response_model=ProgramOut,
            summary="A programme: its rules in force, every version and its cash (any user)")
async def get_program(program_id: str, _: CurrentActor, session: SessionDep) -> ProgramOut:
    return await programmes.describe_program(session, await programmes.get_program(session, program_id))


@router.post("/fund/programs/{program_id}/versions", status_code=201, response_model=VersionOut,
             summary="New rules from today; existing covers keep theirs (the programme's fund)")
async def add_version(program_id: str, body: RulesIn, actor: FundActor, session: SessionDep) -> VersionOut:
    return programmes.describe_version(await programmes.add_version(session, actor, program_id, body))


@router.post("/fund/programs/{program_id}/agreements", status_code=201, response_model=AgreementOut,
             summary="Agree with a bank: the deposit moves to it, quota = deposit × leverage (fund)")
async def create_agreement(program_id: str, body: AgreementIn, actor: FundActor,
                           session: SessionDep) -> AgreementOut:
    return agreements.describe_agreement(await agreements.create_agreement(session, actor, program_id, body))


@router.get("/fund/programs/{program_id}/agreements", response_model=list[AgreementOut],
            summary="The programme's bank agreements (its fund, regulators)")
async def list_agreements(program_id: str, actor: Monitor, session: SessionDep) -> list[AgreementOut]:
    program = await monitoring.monitored_program(session, actor, program_id)
    return [agreements.describe_agreement(a) for a in await agreements.list_agreements(session, program.id)]


@router.get("/fund/programs/{program_id}/exposure", response_model=ExposureOut,
            responses={200: {"content": {"text/csv": {}, tabular.XLSX_MEDIA_TYPE: {}, "image/png": {},
                                         "image/svg+xml": {}}}},
            summary="Exposure by bank, guarantor, industry and region; NPL ratios and pauses; rates "
                    "(its fund, regulators); `format=csv`/`xlsx` for a spreadsheet, `png`/`svg` for a chart by bank")
async def exposure(program_id: str, actor: Monitor, session: SessionDep,
                   lang: Language,
                   format: Annotated[Literal["json", "csv", "xlsx", "png", "svg"], Query()] = "json") -> Any:
    program = await monitoring.monitored_program(session, actor, program_id)
    report = await monitoring.exposure(session, program)
    if format in ("png", "svg"):
        return Response(await monitoring.exposure_chart(session, program, report, format, lang),
                        media_type="image/png" if format == "png" else "image/svg+xml")
    if format in ("csv", "xlsx"):
        return file_response(monitoring.exposure_table(program, report), format, lang)
    return report


@router.post("/fund/programs/{program_id}/stress-test",
             summary="Vasicek credit-loss simulation over the covered loans, seeded (the programme's fund)")
async def stress_test(program_id: str, body: StressIn, actor: FundOrAdmin, session: SessionDep) -> dict[str, Any]:
    program = await monitoring.monitored_program(session, actor, program_id)
    return await monitoring.stress_test(session, actor, program, body)


@router.get("/compensation-claims/{claim_id}", response_model=ClaimOut,
            summary="A compensation claim (its fund, the parties bearing a share, regulators)")
async def get_claim(claim_id: str, actor: CurrentActor, session: SessionDep) -> ClaimOut:
    return claims.describe_claim(await claims.get_claim(session, actor, claim_id))


@router.post("/compensation-claims/{claim_id}/approve", response_model=ClaimOut, responses=PENDING_RESPONSE,
             summary="Approve a claim and pay the fund's share once (the programme's fund; the lending bank "
                     "settles an uncovered loan's; four-eyes when the approver's policy says so): `paid` once the "
                     "payout has landed, 202 `paying` while the provider has not answered, 402 if it declined")
async def approve_claim(claim_id: str, actor: CurrentActor, session: SessionDep, gate: FourEyes,
                        response: Response, settle: SettleDep) -> ClaimOut:
    claim = await claims.get_claim(session, actor, claim_id)  # 404 for a claim the caller may not see
    await gate.check(actor, "compensation_approval", amount=claim.fund_amount, object_type="compensation_claim",
                     object_id=claim_id)
    claim = await claims.approve_claim(session, actor, claim_id)
    await settle_then_read(settle, session, response, claim.payment_id if claim.status == "paying" else None,
                           claim)
    return claims.describe_claim(claim)


@router.post("/compensation-claims/{claim_id}/reject", response_model=ClaimOut,
             summary="Refuse a claim not yet approved, with the reason (the programme's fund): `rejected`, nothing "
                     "paid, the loan stays defaulted; rejecting again returns the claim")
async def reject_claim(claim_id: str, body: ClaimRejectIn, actor: CurrentActor, session: SessionDep) -> ClaimOut:
    return claims.describe_claim(await claims.reject_claim(session, actor, claim_id, body.reason))


@router.post("/compensation-claims/{claim_id}/retry-payout", response_model=ClaimOut,
             summary="Pay a claim whose payout failed again, with a new payout (the programme's fund): `paid` "
                     "once it lands, 202 `paying` while the provider has not answered, 402 if declined again")
async def retry_payout(claim_id: str, actor: FundActor, session: SessionDep, response: Response,
                       settle: SettleDep) -> ClaimOut:
    claim = await claims.retry_payout(session, actor, claim_id)
    await settle_then_read(settle, session, response, claim.payment_id if claim.status == "paying" else None,
                           claim)
    return claims.describe_claim(claim)
