"""Documents of a loan (contracts, the pledge registration notice, the appraisal report): read by whoever
sees the loan (its parties, the fund, the admin), attached by its parties."""

from __future__ import annotations

from sqlmodel.ext.asyncio.session import AsyncSession

from finance.loans.access import get_loan
from kernel.actor import Actor
from kernel.documents import Access, object_type
from kernel.errors import NotFound


@object_type("loan", kinds=("loan_contract", "pledge_contract", "pledge_registration", "appraisal_report",
                            "other"))
async def loan_documents(session: AsyncSession, actor: Actor, loan_id: str) -> Access:
    try:
        loan = await get_loan(session, actor, loan_id)
    except NotFound:
        return Access(False, False)
    parties = {loan.borrower_org_id, loan.bank_org_id, loan.guarantor_org_id, loan.insurer_org_id}
    return Access(read=True, attach=actor.org_id in parties)
