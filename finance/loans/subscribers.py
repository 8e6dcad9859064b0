"""What loans do when something happens elsewhere: a payment settles, an asset lapses, a valuation goes
stale, the fund pays a claim. Every handler runs in the publisher's transaction and only flushes."""

from __future__ import annotations

from typing import Any

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from finance.loans import ports, service
from finance.loans.models import Loan, LoanRepayment
from finance.payments import service as payments
from finance.payments.models import Payment
from kernel.actor import SYSTEM


async def _loan(session: AsyncSession, loan_id: str) -> Loan | None:
    stmt = select(Loan).where(Loan.id == loan_id).with_for_update().execution_options(populate_existing=True)
    return (await session.exec(stmt)).first()


@payments.on_settled(ports.LOAN_OBJECT)
async def _loan_payment_settled(session: AsyncSession, payment: Payment) -> None:
    loan = await _loan(session, payment.object_id)
    if loan is None:
        return
    if payment.purpose == "disbursement" and loan.status == "secured":
        await service.activate(session, SYSTEM, loan)
    elif payment.purpose == "repayment":
        repayment = await session.get(LoanRepayment, payment.idempotency_key)
        if repayment is not None and repayment.status == "processing" and loan.status in service.PERFORMING:
            repayment.payment_id = payment.id
            await service.land(session, SYSTEM, loan, repayment)


@payments.on_failed(ports.LOAN_OBJECT)
async def _loan_payment_failed(session: AsyncSession, payment: Payment) -> None:
    loan = await _loan(session, payment.object_id)
    if loan is None:
        return
    if payment.purpose == "disbursement" and loan.disbursement_payment_id == payment.id:
        loan.disbursement_payment_id = None  # the bank may try again
        session.add(loan)
    elif payment.purpose == "repayment":
        repayment = await session.get(LoanRepayment, payment.idempotency_key)
        if repayment is not None and repayment.status == "processing":
            repayment.status = "failed"
            session.add(repayment)
    await session.flush()


def _unused(_: dict[str, Any]) -> None:
    return None
