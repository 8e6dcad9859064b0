"""Who may see or act on a loan, and the locked lookups every loan service starts from."""

from __future__ import annotations

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from finance.loans.models import Loan, LoanInstallment
from kernel.actor import Actor
from kernel.db import get_or_404
from kernel.errors import Forbidden

BORROWER_KINDS = ("sme",)
BANK = "bank"


def may_see_loan(actor: Actor, loan: Loan) -> bool:
    if actor.is_platform_admin or actor.is_kind("fund"):
        return True
    return actor.org_id in {loan.borrower_org_id, loan.bank_org_id, loan.guarantor_org_id, loan.insurer_org_id}


async def get_loan(session: AsyncSession, actor: Actor, loan_id: str, *, lock: bool = False) -> Loan:
    return await get_or_404(session, Loan, loan_id, lock=lock, visible=lambda loan: may_see_loan(actor, loan))


async def lock_loan(session: AsyncSession, loan_id: str) -> Loan:
    return await get_or_404(session, Loan, loan_id, lock=True)


async def lending_bank_loan(session: AsyncSession, actor: Actor, loan_id: str) -> Loan:
    """The loan, locked, for its lending bank only (another bank: 404; not a bank: 403)."""
    if not actor.is_kind(BANK):
        raise Forbidden("only the lending bank may do this")
    return await get_or_404(session, Loan, loan_id, lock=True, visible=lambda loan: loan.bank_org_id == actor.org_id)


async def installments(session: AsyncSession, loan_id: str, *, lock: bool = False) -> list[LoanInstallment]:
    stmt = select(LoanInstallment).where(LoanInstallment.loan_id == loan_id).order_by(col(LoanInstallment.n))
    if lock:
        # populate_existing: the day-end may have moved them with a set-based UPDATE since they were loaded.
        stmt = stmt.with_for_update().execution_options(populate_existing=True)
    return list((await session.exec(stmt)).all())
