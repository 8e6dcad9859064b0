"""Pledge loans over HTTP: applications, offers, security, disbursement, repayment, default and disposal."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Query, Response

from api.approvals import PENDING_RESPONSE, FourEyes
from api.deps import CurrentActor, Cursor, Limit, SessionDep
from api.money import settle_then_read
from api.routing import AreaRouter, SettleDep, TransactionalRoute
from finance.fund import claims as fund_claims
from finance.fund.schemas import ClaimOut
from finance.loans import access, applications, default, disbursement, disposal, repayments, security, views
from finance.loans.schemas import (
    AllocationOut,
    ApplicationIn,
    ApplicationOut,
    DisposalIn,
    DisposalOut,
    DisposalsOut,
    FundCoverIn,
    GuaranteeIn,
    InsuranceIn,
    InvitationIn,
    InvitationOut,
    LoanOut,
    OfferIn,
    OfferOut,
    PledgeRegistrationIn,
    RecoveriesOut,
    RepaymentIn,
    RepaymentOut,
    RepaymentRecordOut,
    ScheduleOut,
    WriteOffOut,
)
from finance.servicing import pledged
from kernel.pagination import Page

router = AreaRouter(tags=["loans"], route_class=TransactionalRoute)


@router.post("/loan-applications", status_code=201, response_model=ApplicationOut,
             summary="Apply for a loan pledging a bundle of your own assets (SME)")
async def create_application(body: ApplicationIn, actor: CurrentActor, session: SessionDep) -> ApplicationOut:
    app = await applications.create_application(session, actor, body)
    return await applications.describe_application(session, app)


@router.get("/loan-applications", response_model=Page[ApplicationOut],
            summary="Loan applications: an SME its own, banks the submitted ones, the fund and admin all")
async def list_applications(actor: CurrentActor, session: SessionDep, limit: Limit = 20, cursor: Cursor = None,
                            status: applications.ApplicationStatus | None = None) -> Page[ApplicationOut]:
    rows, has_more, next_cursor = await applications.list_applications(session, actor, status, limit, cursor)
    return Page[ApplicationOut](data=[await applications.describe_application(session, a) for a in rows],
                           has_more=has_more, next_cursor=next_cursor)


@router.get("/loan-applications/{application_id}", response_model=ApplicationOut,
            summary="One loan application with the valuation behind it")
async def get_application(application_id: str, actor: CurrentActor, session: SessionDep) -> ApplicationOut:
    app = await applications.get_application(session, actor, application_id)
    return await applications.describe_application(session, app)


@router.post("/loan-applications/{application_id}/offers", status_code=201, response_model=OfferOut,
             summary="Offer a loan on a submitted application (bank)")
async def create_offer(application_id: str, body: OfferIn, actor: CurrentActor, session: SessionDep) -> Any:
    return await applications.create_offer(session, actor, application_id, body)


@router.get("/loan-applications/{application_id}/offers", response_model=Page[OfferOut],
            summary="Offers on an application: the applicant sees all, a bank only its own")
async def list_offers(application_id: str, actor: CurrentActor, session: SessionDep) -> Page[OfferOut]:
    rows = await applications.list_offers(session, actor, application_id)
    return Page[OfferOut](data=[OfferOut.model_validate(o, from_attributes=True) for o in rows], has_more=False,
                     next_cursor=None)


@router.post("/loan-offers/{offer_id}/accept", status_code=201, response_model=LoanOut,
             summary="Accept an offer (applicant): the loan awaits security, the other offers are declined")
async def accept_offer(offer_id: str, actor: CurrentActor, session: SessionDep) -> LoanOut:
    loan = await applications.accept_offer(session, actor, offer_id)
    return await views.describe_loan(session, loan)


@router.get("/loans/{loan_id}", response_model=LoanOut, summary="A loan (its parties, the fund, the admin)")
async def get_loan(loan_id: str, actor: CurrentActor, session: SessionDep) -> LoanOut:
    return await views.describe_loan(session, await access.get_loan(session, actor, loan_id))


@router.get("/loans/{loan_id}/schedule", response_model=ScheduleOut,
            summary="The repayment schedule with what has been paid on each instalment")
async def get_schedule(loan_id: str, actor: CurrentActor, session: SessionDep,
                       version: Annotated[int | None, Query(ge=1)] = None) -> ScheduleOut:
    return await views.describe_schedule(session, await access.get_loan(session, actor, loan_id), version)


@router.post("/loans/{loan_id}/invitations", status_code=201, response_model=InvitationOut,
             summary="Invite a guarantor or insurer to the loan; only the invited may join (lending bank)")
async def invite(loan_id: str, body: InvitationIn, actor: CurrentActor, session: SessionDep) -> InvitationOut:
    return InvitationOut.model_validate(await security.invite(session, actor, loan_id, body))


@router.get("/loans/{loan_id}/invitations", response_model=Page[InvitationOut],
            summary="The loan's invitations: all to its bank, borrower, the fund and admin; an invitee its own")
async def list_invitations(loan_id: str, actor: CurrentActor, session: SessionDep) -> Page[InvitationOut]:
    rows = await security.invitations(session, actor, loan_id)
    return Page[InvitationOut](data=[InvitationOut.model_validate(r) for r in rows], has_more=False,
                               next_cursor=None)


@router.post("/loans/{loan_id}/guarantee", status_code=201, response_model=LoanOut,
             summary="Guarantee the loan for a fee and a share of any loss (the invited guarantor)")
async def guarantee(loan_id: str, body: GuaranteeIn, actor: CurrentActor, session: SessionDep) -> LoanOut:
    await security.join_guarantee(session, actor, loan_id, body)
    return await views.describe_loan(session, await access.get_loan(session, actor, loan_id))


@router.post("/loans/{loan_id}/insurance", status_code=201, response_model=LoanOut,
             summary="Insure the loan for a premium and a share of any loss (the invited insurer)")
async def insurance(loan_id: str, body: InsuranceIn, actor: CurrentActor, session: SessionDep) -> LoanOut:
    await security.join_insurance(session, actor, loan_id, body)
    return await views.describe_loan(session, await access.get_loan(session, actor, loan_id))


@router.post("/loans/{loan_id}/fund-cover", status_code=201, response_model=LoanOut,
             summary="Ask a risk-fund programme to cover the loan (lending bank)")
async def fund_cover(loan_id: str, body: FundCoverIn, actor: CurrentActor, session: SessionDep) -> LoanOut:
    loan = await security.request_fund_cover(session, actor, loan_id, body.program_id)
    return await views.describe_loan(session, loan)


@router.post("/loans/{loan_id}/pledge-registration", response_model=LoanOut,
             summary="Record the pledge registration: the bundle is encumbered, the loan secured; on a loan being "
                      "repaid, the collateral its borrower added (lending bank)")
async def pledge_registration(loan_id: str, body: PledgeRegistrationIn, actor: CurrentActor,
                              session: SessionDep) -> LoanOut:
    # A loan being repaid registers the collateral its borrower added (finance.servicing.pledged).
    loan = await pledged.register_additions(session, actor, loan_id, body)
    if loan is None:
        loan = await security.register_pledge(session, actor, loan_id, body)
    return await views.describe_loan(session, loan)


@router.post("/loans/{loan_id}/disburse", response_model=LoanOut, responses=PENDING_RESPONSE,
             summary="Pay the loan out through the gateway; the schedule starts today (lending bank; four-eyes "
                     "above the bank's disbursement_over); 202 while the provider has not answered")
async def disburse(loan_id: str, actor: CurrentActor, session: SessionDep, gate: FourEyes, response: Response,
                   settle: SettleDep) -> LoanOut:
    async def principal() -> int:  # looked up (and access checked) only when the policy has a threshold
        return (await access.lending_bank_loan(session, actor, loan_id)).principal

    await gate.check(actor, "disbursement", amount=principal, object_type="loan", object_id=loan_id)
    loan = await disbursement.disburse(session, actor, loan_id)
    # The settlement reads the loan afresh, locked (finance.loans.subscribers).
    await settle_then_read(settle, session, response, loan.disbursement_payment_id, loan, loaded_by_settlement=True)
    return await views.describe_loan(session, loan)


@router.post("/loans/{loan_id}/repayments", status_code=201, response_model=RepaymentOut,
             responses={202: {"model": RepaymentOut, "description": "the provider has not answered yet"}},
             summary="Repay through the gateway: penalty, then interest, then principal, oldest first (borrower)")
async def repay(loan_id: str, body: RepaymentIn, actor: CurrentActor, session: SessionDep, response: Response,
                settle: SettleDep) -> RepaymentOut:
    loan, repayment = await repayments.repay(session, actor, loan_id, body.amount, body.prepayment)
    # The settlement reads the loan and the repayment afresh, locked (finance.loans.subscribers).
    await settle_then_read(settle, session, response, repayment.payment_id, repayment, loan,
                           loaded_by_settlement=True)
    return RepaymentOut(id=repayment.id, amount=repayment.amount, status=repayment.status,
                        allocation=AllocationOut(penalty=repayment.penalty, charges=repayment.charges,
                                                 interest=repayment.interest, principal=repayment.principal,
                                                 prepaid_principal=repayment.prepaid_principal),
                        loan=await views.describe_loan(session, loan))


@router.get("/loans/{loan_id}/repayments", response_model=list[RepaymentRecordOut],
            summary="A loan's repayments, oldest first, each with its allocation (the loan's parties)")
async def list_repayments(loan_id: str, actor: CurrentActor, session: SessionDep) -> list[RepaymentRecordOut]:
    return [RepaymentRecordOut(id=r.id, amount=r.amount, status=r.status, prepayment=r.prepayment, source=r.source,
                               deal_id=r.deal_id, paid_on=r.paid_on, payment_id=r.payment_id,
                               allocation=AllocationOut(penalty=r.penalty, charges=r.charges, interest=r.interest,
                                                        principal=r.principal, prepaid_principal=r.prepaid_principal))
            for r in await repayments.list_for(session, actor, loan_id)]


@router.post("/loans/{loan_id}/default", response_model=LoanOut,
             summary="Declare default once days past due reach the programme's threshold (lending bank)")
async def declare_default(loan_id: str, actor: CurrentActor, session: SessionDep) -> LoanOut:
    return await views.describe_loan(session, await default.declare_default(session, actor, loan_id))


@router.post("/loans/{loan_id}/compensation-claims", status_code=201, response_model=ClaimOut,
             summary="Claim compensation for a defaulted loan: the loss split among its bearers (lending bank)")
async def claim_compensation(loan_id: str, actor: CurrentActor, session: SessionDep) -> ClaimOut:
    return fund_claims.describe_claim(await default.claim_compensation(session, actor, loan_id))


@router.get("/loans/{loan_id}/recoveries", response_model=RecoveriesOut,
            summary="What disposal proceeds returned to each party (parties, the fund)")
async def recoveries(loan_id: str, actor: CurrentActor, session: SessionDep) -> RecoveriesOut:
    return await views.describe_recoveries(session, await access.get_loan(session, actor, loan_id))


@router.post("/loans/{loan_id}/disposal", status_code=201, response_model=DisposalOut,
             summary="Auction the pledged bundle of a compensated loan, or re-list an unsold lot (lending bank)")
async def dispose(loan_id: str, body: DisposalIn, actor: CurrentActor, session: SessionDep) -> DisposalOut:
    loan, row, auction = await disposal.start_disposal(session, actor, loan_id, body)
    return disposal.describe_disposal(loan, row, auction)


@router.get("/loans/{loan_id}/disposals", response_model=DisposalsOut,
            summary="The loan's disposal auctions and what became of them (parties, the fund)")
async def disposals(loan_id: str, actor: CurrentActor, session: SessionDep) -> DisposalsOut:
    loan = await access.get_loan(session, actor, loan_id)
    return await disposal.describe_disposals(session, loan.id)


@router.post("/loans/{loan_id}/write-off", response_model=WriteOffOut,
             summary="Write off a loan whose collateral went unsold, recording each party's final loss (lending bank)")
async def write_off(loan_id: str, actor: CurrentActor, session: SessionDep) -> WriteOffOut:
    loan, _ = await disposal.write_off(session, actor, loan_id)
    return await disposal.describe_write_off(session, loan)


@router.get("/loans/{loan_id}/write-off", response_model=WriteOffOut,
            summary="The final loss per party of a written-off loan (parties, the fund)")
async def get_write_off(loan_id: str, actor: CurrentActor, session: SessionDep) -> WriteOffOut:
    return await disposal.describe_write_off(session, await access.get_loan(session, actor, loan_id))
