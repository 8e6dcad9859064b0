"""Servicing between disbursement and the end: payoff, charges, pledge consents, restructuring."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Query

from api.deps import CurrentActor, SessionDep
from api.routing import TransactionalRoute
from finance.loans import access, repayments
from finance.servicing import charges
from finance.servicing.schemas import ChargeIn, ChargeOut, PayoffOut, WaiveIn
from kernel.clock import business_date
from kernel.errors import ValidationFailed

router = APIRouter(tags=["servicing"], route_class=TransactionalRoute)


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
