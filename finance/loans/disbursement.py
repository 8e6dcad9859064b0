"""Paying the principal out through the gateway and starting the schedule when it settles."""

from __future__ import annotations

from sqlmodel.ext.asyncio.session import AsyncSession

from finance.loans import outbound, position, states
from finance.loans.access import lending_bank_loan
from finance.loans.models import Loan, LoanClassification
from finance.loans.security import require_guarantee
from finance.payments import service as payments
from kernel.actor import Actor
from kernel.clock import business_date
from kernel.errors import InvalidState


async def disburse(session: AsyncSession, actor: Actor, loan_id: str) -> Loan:
    """Pay the principal from the bank to the borrower through the gateway; the loan becomes active when
    the payment settles (at once with the local provider; on the provider's webhook otherwise)."""
    loan = await lending_bank_loan(session, actor, loan_id)
    states.LOAN.ensure(loan, "disburse")
    if loan.disbursement_payment_id is not None:
        raise InvalidState(f"loan {loan.id} is already being disbursed")
    await require_guarantee(session, loan, "disbursement")
    # One payment per attempt: after a decline (which clears disbursement_payment_id) the bank's next try is
    # a new payment, not a replay of the declined one.
    tried = sum(p.purpose == "disbursement" for p in await payments.payments_for(session, outbound.LOAN_OBJECT,
                                                                                 loan.id))
    payment = await outbound.pay(session, actor, purpose="disbursement", payer_org_id=loan.bank_org_id,
                                 payee_org_id=loan.borrower_org_id, amount=loan.principal, loan_id=loan.id,
                                 key="disbursement" if not tried else f"disbursement:{tried + 1}")
    loan.disbursement_payment_id = payment.id
    session.add(loan)
    await session.flush()
    if payment.status == "succeeded" and loan.status == "secured":
        await activate(session, actor, loan)
    return loan


async def activate(session: AsyncSession, actor: Actor, loan: Loan) -> None:
    """The disbursement settled: fix the schedule from today's business date and start the loan."""
    today = await business_date(session)
    rows = position.new_rows(loan, today)
    session.add_all(rows)
    loan.disbursed_on, loan.maturity_on = today, rows[-1].due_on
    loan.next_due_on = rows[0].due_on
    loan.outstanding_principal = loan.principal
    await states.LOAN.apply(session, actor, loan, "disburse", disbursed_on=today,
                            payment_id=loan.disbursement_payment_id, installments=len(rows))
    session.add(LoanClassification(loan_id=loan.id, business_date=today, from_classification=None,
                                   to_classification=loan.classification, days_past_due=0))
    await session.flush()
    await outbound.update_fund(session, loan)
