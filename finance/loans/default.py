"""Default and compensation: the bank declares default, claims from the fund, and the fund's payment lands."""

from __future__ import annotations

from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from finance.fund import claims as fund_claims
from finance.fund import cover as fund_cover
from finance.loans import outbound, states
from finance.loans.access import lending_bank_loan, lock_loan
from finance.loans.models import Loan
from finance.loans.security import security_of
from kernel import audit
from kernel.actor import SYSTEM, Actor
from kernel.clock import business_date
from kernel.errors import InvalidState


async def declare_default(session: AsyncSession, actor: Actor, loan_id: str) -> Loan:
    """The lending bank declares default once days past due reach the covering programme's threshold."""
    loan = await lending_bank_loan(session, actor, loan_id)
    states.LOAN.ensure(loan, "declare_default")
    threshold = await fund_cover.default_days(session, loan.id)
    if loan.days_past_due < threshold:
        raise InvalidState(f"loan {loan.id} is {loan.days_past_due} days past due; default needs {threshold}",
                           extra={"days_past_due": loan.days_past_due, "default_days": threshold})
    # The loss the parties share is the principal still outstanding at default (interest and penalty stay
    # the bank's own claim on the borrower and the collateral).
    loan.defaulted_on = await business_date(session)
    loan.loss_at_default = loan.outstanding_principal
    await states.LOAN.apply(session, actor, loan, "declare_default", days_past_due=loan.days_past_due,
                            loss_at_default=loan.loss_at_default)
    await session.flush()
    await outbound.update_fund(session, loan)
    return loan


async def claim_compensation(session: AsyncSession, actor: Actor, loan_id: str) -> Any:
    loan = await lending_bank_loan(session, actor, loan_id)
    if loan.status != "defaulted":
        raise InvalidState(f"loan {loan.id} is {loan.status}; compensation is claimed after default")
    if loan.claim_id is not None:
        raise InvalidState(f"loan {loan.id} already has compensation claim {loan.claim_id}")
    guarantee, insurance = await security_of(session, loan.id)
    parties = []
    if guarantee:
        parties.append(fund_claims.Party("guarantor", guarantee.guarantor_org_id, guarantee.share_bps))
    if insurance:
        parties.append(fund_claims.Party("insurer", insurance.insurer_org_id, insurance.share_bps))
    assert loan.loss_at_default is not None
    claim = await fund_claims.open_claim(session, actor, fund_claims.ClaimRequest(
                                                                                  loan_id=loan.id, bank_org_id=loan.bank_org_id, borrower_org_id=loan.borrower_org_id,
                                                                                  principal=loan.principal, loss=loan.loss_at_default, parties=parties))
    loan.claim_id = claim.id
    session.add(loan)
    await audit.record(session, actor, "loan.compensation_claimed", "loan", loan.id,
                       after={"claim_id": claim.id, "loss": claim.loss})
    await session.flush()
    return claim


async def compensated(session: AsyncSession, loan_id: str, claim_id: str) -> None:
    """The fund paid the claim (COMPENSATION_PAID)."""
    loan = await lock_loan(session, loan_id)
    if states.LOAN.can(loan.status, "compensate"):
        await states.LOAN.apply(session, SYSTEM, loan, "compensate", claim_id=claim_id)
        await session.flush()
