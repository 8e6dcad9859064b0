"""Repayments: through the gateway, then applied penalty → interest → principal when the payment settles."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from finance.loans import accrual, outbound, position, states
from finance.loans.access import BORROWER_KINDS, installments
from finance.loans.models import Loan, LoanClassification, LoanInstallment, LoanRepayment
from finance.loans.states import PERFORMING
from kernel import audit
from kernel.actor import Actor
from kernel.clock import business_date
from kernel.db import get_or_404
from kernel.errors import Forbidden, InvalidState, ValidationFailed
from market.assets import encumbrances


async def repay(session: AsyncSession, actor: Actor, loan_id: str, amount: int) -> LoanRepayment:
    if not actor.is_kind(*BORROWER_KINDS):
        raise Forbidden("only the borrower repays a loan")
    loan = await get_or_404(session, Loan, loan_id, lock=True,
                            visible=lambda loan: loan.borrower_org_id == actor.org_id)
    if loan.status not in PERFORMING:
        raise InvalidState(f"loan {loan.id} is {loan.status}; it takes no repayments")
    today = await business_date(session)
    rows = await installments(session, loan.id, lock=True)
    pos = position.position(loan, rows, today)
    in_flight = sum((await session.exec(select(LoanRepayment.amount).where(
        LoanRepayment.loan_id == loan.id, LoanRepayment.status == "processing"))).all())
    if amount + in_flight > pos.payoff_amount:
        raise ValidationFailed.at(["body", "amount"],
                                  f"{amount} is more than the {pos.payoff_amount - in_flight} that "
                                  f"repays the loan in full today")
    repayment = LoanRepayment(loan_id=loan.id, amount=amount, paid_on=today)
    states.REPAYMENT.start(repayment)
    session.add(repayment)
    await session.flush()
    payment = await outbound.pay(session, actor, purpose="repayment", payer_org_id=loan.borrower_org_id,
                                 payee_org_id=loan.bank_org_id, amount=amount, loan_id=loan.id, key=repayment.id)
    repayment.payment_id = payment.id
    session.add(repayment)
    await session.flush()
    if payment.status == "succeeded" and repayment.status == "processing":
        await apply_repayment(session, actor, loan, repayment)
    return repayment


async def apply_repayment(session: AsyncSession, actor: Actor, loan: Loan, repayment: LoanRepayment) -> None:
    """The borrower's payment settled: allocate it, update the loan, and close it when nothing is owed."""
    today = await business_date(session)
    rows = await installments(session, loan.id, lock=True)
    pos = position.position(loan, rows, today)
    amount = min(repayment.amount, pos.payoff_amount)  # a late webhook never over-applies
    landing = position.allocate_repayment(loan, rows, amount, today)
    for row in rows:
        status = position.row_status(row, today, loan)
        if status != row.status:
            if status == "paid":
                row.paid_on = today
            await states.INSTALMENT.apply(session, actor, row, states.INSTALMENT_ACTIONS[status],
                                          repayment_id=repayment.id)
    session.add_all(rows)
    repayment.penalty, repayment.interest = landing.penalty, landing.interest
    repayment.principal, repayment.prepaid_principal = landing.principal, landing.prepaid_principal
    repayment.amount = amount
    await states.REPAYMENT.apply(session, actor, repayment, "apply", amount=amount)
    loan.outstanding_principal = position.outstanding_principal(rows)
    await audit.record(session, actor, "loan.repaid", "loan", loan.id,
                       after={"repayment_id": repayment.id, "amount": amount, "penalty": landing.penalty,
                              "interest": landing.interest, "principal": landing.principal,
                              "prepaid_principal": landing.prepaid_principal,
                              "outstanding_principal": loan.outstanding_principal})
    await refresh_position(session, actor, loan, rows, today)
    if position.settled(loan, rows):
        loan.next_due_on = None
        loan.closed_on = today
        await states.LOAN.apply(session, actor, loan, "repay_in_full", repayment_id=repayment.id)
        await encumbrances.release(session, actor, loan.id, "pledge")
    await session.flush()
    await outbound.update_fund(session, loan)


async def refresh_position(session: AsyncSession, actor: Actor, loan: Loan, rows: Sequence[LoanInstallment],
                           today: date) -> None:
    """Recompute days past due, classification, next due date and active ⇄ overdue from the rows."""
    pos = position.position(loan, rows, today)
    loan.days_past_due = pos.days_past_due
    loan.next_due_on = pos.next_due.due_on if pos.next_due else None
    await set_classification(session, loan, accrual.classify(pos.days_past_due).value, today)
    if pos.days_past_due > 0 and states.LOAN.can(loan.status, "fall_overdue"):
        await states.LOAN.apply(session, actor, loan, "fall_overdue", days_past_due=pos.days_past_due)
    elif pos.days_past_due == 0 and states.LOAN.can(loan.status, "cure"):
        await states.LOAN.apply(session, actor, loan, "cure")
    session.add(loan)


async def set_classification(session: AsyncSession, loan: Loan, classification: str, today: date) -> None:
    if classification != loan.classification:
        session.add(LoanClassification(loan_id=loan.id, business_date=today,
                                       from_classification=loan.classification,
                                       to_classification=classification, days_past_due=loan.days_past_due))
        loan.classification = classification
