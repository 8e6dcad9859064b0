"""Loan charges (appraisal, processing, prepayment fees…): levied by the lending bank within what its offer
disclosed, paid with repayments after penalty and before interest (``finance.loans.payoff``), waivable."""

from __future__ import annotations

import sqlalchemy as sa
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from finance.loans import access
from finance.loans.models import LoanOffer
from finance.servicing.models import CHARGE, LoanCharge
from finance.servicing.schemas import ChargeIn
from kernel import audit
from kernel.actor import Actor
from kernel.clock import business_date
from kernel.db import get_or_404
from kernel.errors import Forbidden, InvalidState, LimitExceeded, ValidationFailed

CHARGEABLE = ("secured", "active", "overdue")


async def levy(session: AsyncSession, actor: Actor, loan_id: str, data: ChargeIn) -> LoanCharge:
    loan = await access.lending_bank_loan(session, actor, loan_id)
    if loan.status not in CHARGEABLE:
        raise InvalidState(f"loan {loan.id} is {loan.status}; charges are levied on a live loan")
    today = await business_date(session)
    if data.due_on < today:
        raise ValidationFailed.at(["body", "due_on"], f"a charge cannot fall due before today ({today})")
    offer = await session.get(LoanOffer, loan.offer_id)
    disclosed = (offer.disclosed_charges if offer else {}).get(data.kind)
    if disclosed is None:
        raise LimitExceeded(f"the loan offer disclosed no {data.kind.replace('_', ' ')}",
                            extra={"rule": "charge_not_disclosed", "kind": data.kind})
    levied = (await session.exec(select(sa.func.coalesce(sa.func.sum(LoanCharge.amount), 0)).where(
        LoanCharge.loan_id == loan.id, LoanCharge.kind == data.kind))).one()
    if int(levied) + data.amount > disclosed:
        raise LimitExceeded(f"{data.kind.replace('_', ' ')} would reach {int(levied) + data.amount}; the offer "
                            f"disclosed at most {disclosed}",
                            extra={"rule": "charge_disclosed", "disclosed": disclosed, "levied": int(levied)})
    charge = LoanCharge(loan_id=loan.id, kind=data.kind, amount=data.amount, due_on=data.due_on,
                        description=data.description)
    CHARGE.start(charge)
    session.add(charge)
    await session.flush()
    await audit.record(session, actor, "loan_charge.levied", "loan_charge", charge.id,
                       after=charge.model_dump(exclude={"created_at", "updated_at"}))
    return charge


async def list_for(session: AsyncSession, actor: Actor, loan_id: str) -> list[LoanCharge]:
    loan = await access.get_loan(session, actor, loan_id)
    stmt = select(LoanCharge).where(LoanCharge.loan_id == loan.id).order_by(col(LoanCharge.due_on), col(LoanCharge.id))
    return list((await session.exec(stmt)).all())


async def waive(session: AsyncSession, actor: Actor, charge_id: str, reason: str | None) -> LoanCharge:
    if not actor.is_kind("bank"):
        raise Forbidden("only the lending bank waives a charge")
    peek = await get_or_404(session, LoanCharge, charge_id, label="loan charge")
    await access.lending_bank_loan(session, actor, peek.loan_id)  # another bank: 404; the loan locked first
    charge = await get_or_404(session, LoanCharge, charge_id, lock=True, label="loan charge")
    charge.waived_on, charge.waived_reason = await business_date(session), reason
    await CHARGE.apply(session, actor, charge, "waive", waived=charge.amount - charge.paid, reason=reason)
    await session.flush()
    return charge
