"""Servicing between disbursement and the end: payoff, charges, pledge consents, restructuring."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import Query

from api.deps import CurrentActor, SessionDep
from api.routing import AreaRouter, TransactionalRoute
from finance.loans import access, repayments
from finance.servicing import charges, consents, restructures
from finance.servicing.schemas import (
    ChargeIn,
    ChargeOut,
    ConsentIn,
    ConsentOut,
    DecisionIn,
    EscrowOut,
    PayoffOut,
    RestructureIn,
    RestructureOut,
    WaiveIn,
)
from kernel.clock import business_date
from kernel.errors import ValidationFailed

router = AreaRouter(tags=["servicing"], route_class=TransactionalRoute)


@router.get("/loans/{loan_id}/payoff", response_model=PayoffOut,
            summary="What repays the loan in full on a date, by daily accrual (parties)")
async def payoff(loan_id: str, actor: CurrentActor, session: SessionDep,
                 on: Annotated[date | None, Query()] = None) -> PayoffOut:
    loan = await access.get_loan(session, actor, loan_id)
    today = await business_date(session)
    on = on or today
    if on < today:
        raise ValidationFailed.at(["query", "on"], f"a payoff is quoted for today ({today}) or later")
    if loan.status not in ("active", "overdue"):
        quote = None
    else:
        quote = await repayments.payoff_on(session, loan, on)
    return PayoffOut(loan_id=loan.id, on=on, principal=quote.principal if quote else 0,
                     interest=quote.interest if quote else 0, penalty=quote.penalty if quote else 0,
                     charges=quote.charges if quote else 0, total=quote.total if quote else 0)


@router.post("/loans/{loan_id}/charges", status_code=201, response_model=ChargeOut,
             summary="Levy a charge the offer disclosed (lending bank)")
async def levy_charge(loan_id: str, body: ChargeIn, actor: CurrentActor, session: SessionDep) -> ChargeOut:
    return ChargeOut.model_validate(await charges.levy(session, actor, loan_id, body), from_attributes=True)


@router.get("/loans/{loan_id}/charges", response_model=list[ChargeOut], summary="A loan's charges (parties)")
async def list_charges(loan_id: str, actor: CurrentActor, session: SessionDep) -> list[ChargeOut]:
    return [ChargeOut.model_validate(c, from_attributes=True) for c in await charges.list_for(session, actor, loan_id)]


@router.post("/loan-charges/{charge_id}/waive", response_model=ChargeOut,
             summary="Waive what is left of a charge, audited (lending bank)")
async def waive_charge(charge_id: str, actor: CurrentActor, session: SessionDep,
                       body: WaiveIn | None = None) -> ChargeOut:
    charge = await charges.waive(session, actor, charge_id, body.reason if body else None)
    return ChargeOut.model_validate(charge, from_attributes=True)


@router.post("/pledge-consents", status_code=201, response_model=ConsentOut,
             summary="Ask the pledgee bank to consent to a market step on pledged assets (borrower)")
async def request_consent(body: ConsentIn, actor: CurrentActor, session: SessionDep) -> ConsentOut:
    return consents.describe(await consents.request(session, actor, body))


@router.get("/pledge-consents/{consent_id}", response_model=ConsentOut, summary="A pledge consent (its parties)")
async def get_consent(consent_id: str, actor: CurrentActor, session: SessionDep) -> ConsentOut:
    return consents.describe(await consents.get(session, actor, consent_id))


@router.get("/loans/{loan_id}/pledge-consents", response_model=list[ConsentOut],
            summary="The consents asked under a loan's pledge (parties)")
async def list_consents(loan_id: str, actor: CurrentActor, session: SessionDep) -> list[ConsentOut]:
    return [consents.describe(c) for c in await consents.list_for_loan(session, actor, loan_id)]


@router.post("/pledge-consents/{consent_id}/approve", response_model=ConsentOut,
             summary="Consent, naming where the proceeds go (pledgee bank)")
async def approve_consent(consent_id: str, actor: CurrentActor, session: SessionDep,
                          body: DecisionIn | None = None) -> ConsentOut:
    return consents.describe(await consents.decide(session, actor, consent_id, "approve", body.note if body else None))


@router.post("/pledge-consents/{consent_id}/reject", response_model=ConsentOut,
             summary="Refuse consent (pledgee bank)")
async def reject_consent(consent_id: str, actor: CurrentActor, session: SessionDep,
                         body: DecisionIn | None = None) -> ConsentOut:
    return consents.describe(await consents.decide(session, actor, consent_id, "reject", body.note if body else None))


@router.get("/loans/{loan_id}/escrows", response_model=list[EscrowOut],
            summary="Proceeds of consented deals held in escrow (parties)")
async def list_escrows(loan_id: str, actor: CurrentActor, session: SessionDep) -> list[EscrowOut]:
    return [consents.describe_escrow(e) for e in await consents.escrows(session, actor, loan_id)]


@router.post("/loan-escrows/{escrow_id}/release", response_model=EscrowOut,
             summary="Release escrowed proceeds to the borrower (pledgee bank)")
async def release_escrow(escrow_id: str, actor: CurrentActor, session: SessionDep) -> EscrowOut:
    return consents.describe_escrow(await consents.release(session, actor, escrow_id))


@router.post("/loans/{loan_id}/restructures", status_code=201, response_model=RestructureOut,
             summary="Propose an extension or a reschedule (lending bank)")
async def propose_restructure(loan_id: str, body: RestructureIn, actor: CurrentActor,
                              session: SessionDep) -> RestructureOut:
    return restructures.describe(await restructures.propose(session, actor, loan_id, body))


@router.get("/loans/{loan_id}/restructures", response_model=list[RestructureOut],
            summary="A loan's restructurings (parties)")
async def list_restructures(loan_id: str, actor: CurrentActor, session: SessionDep) -> list[RestructureOut]:
    return [restructures.describe(r) for r in await restructures.list_for_loan(session, actor, loan_id)]


@router.get("/loan-restructures/{restructure_id}", response_model=RestructureOut, summary="A restructuring")
async def get_restructure(restructure_id: str, actor: CurrentActor, session: SessionDep) -> RestructureOut:
    return restructures.describe(await restructures.get(session, actor, restructure_id))


@router.post("/loan-restructures/{restructure_id}/accept", response_model=RestructureOut,
             summary="Accept: the new schedule applies from the effective date (borrower)")
async def accept_restructure(restructure_id: str, actor: CurrentActor, session: SessionDep) -> RestructureOut:
    return restructures.describe(await restructures.accept(session, actor, restructure_id))


@router.post("/loan-restructures/{restructure_id}/reject", response_model=RestructureOut,
             summary="Decline the proposal (borrower)")
async def reject_restructure(restructure_id: str, actor: CurrentActor, session: SessionDep) -> RestructureOut:
    return restructures.describe(await restructures.decline(session, actor, restructure_id, "reject"))


@router.post("/loan-restructures/{restructure_id}/withdraw", response_model=RestructureOut,
             summary="Withdraw the proposal (lending bank)")
async def withdraw_restructure(restructure_id: str, actor: CurrentActor, session: SessionDep) -> RestructureOut:
    return restructures.describe(await restructures.decline(session, actor, restructure_id, "withdraw"))
