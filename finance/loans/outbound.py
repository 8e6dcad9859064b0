"""Loans' outbound calls into other packages (valuation, rates, fund, payments), in one place.

Loans depend on these packages; none of them imports loans. Keeping every cross-package call here
shows the whole surface loans rely on. (Formerly ``ports.py``: it is a concrete module, not an interface.)
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from accounts.models import Org
from finance.fund import cover as fund_cover
from finance.loans.models import Loan
from finance.loans.schemas import ValuationSummaryOut
from finance.payments import service as payments
from finance.payments.models import Payment
from finance.rates import service as rates
from kernel.actor import Actor
from kernel.clock import business_date
from kernel.errors import InvalidState, NotFound, ValidationFailed
from valuation import service as valuation_service
from valuation.models import Valuation


async def check_valuation_covers(session: AsyncSession, valuation_id: str, asset_ids: Sequence[str]) -> None:
    row = await session.get(Valuation, valuation_id)
    if row is None:
        raise NotFound("valuation not found")
    if set(row.asset_ids) != set(asset_ids):
        raise ValidationFailed.at(["body", "valuation_id"], "the valuation is not of exactly these assets")
    # A draft may be cited and certified later; a report that no longer holds may not be cited at all.
    if row.status in ("stale", "superseded"):
        raise InvalidState(f"the valuation is {row.status} and cannot be cited; ask for a new one")
    if row.status == "certified" and row.valid_until is not None and row.valid_until < await business_date(session):
        raise InvalidState(f"the appraisal report expired on {row.valid_until}; ask for a new one")


async def valuation_summary(session: AsyncSession, valuation_id: str) -> ValuationSummaryOut | None:
    """The valuation behind an application, as banks see it (the full report is GET /valuations/{id})."""
    row = await session.get(Valuation, valuation_id)
    return None if row is None else ValuationSummaryOut.model_validate(row, from_attributes=True)


async def certified_borrowing_base(session: AsyncSession, valuation_id: str) -> int | None:
    """The borrowing base of a certified valuation still current today, else None."""
    current = await valuation_service.current_certified(session, valuation_id)
    return None if current is None else current.borrowing_base


async def collateral_value(session: AsyncSession, loan: Loan) -> int:
    """The appraised value of the pledged bundle (the principal when no valuation is attached)."""
    if loan.valuation_id:
        summary = await valuation_summary(session, loan.valuation_id)
        if summary and summary.value:
            return summary.value
    return loan.principal


# ---------------------------------------------------------------- LPR

# Loans up to five years price off the 1-year LPR, longer ones off the 5-year LPR (PBOC practice).
FIVE_YEAR_TENOR_ABOVE_MONTHS = 60


async def lpr_pricing(session: AsyncSession, on: date, term_months: int, annual_rate_bps: int) -> dict[str, Any]:
    """The rate as LPR + spread on ``on``: the tenor's LPR in force and the spread (may be negative). With no
    LPR published for that date yet every field is None and the loan carries on at its annual rate."""
    lpr = await rates.in_force(session, on)
    if lpr is None:
        return {"lpr_tenor": None, "lpr_effective_on": None, "lpr_bps": None, "spread_bps": None}
    five = term_months > FIVE_YEAR_TENOR_ABOVE_MONTHS
    lpr_bps = lpr.five_year_bps if five else lpr.one_year_bps
    return {"lpr_tenor": "5y" if five else "1y", "lpr_effective_on": lpr.effective_on, "lpr_bps": lpr_bps,
            "spread_bps": annual_rate_bps - lpr_bps}


async def request_cover(session: AsyncSession, actor: Actor, program_id: str, loan: Loan, borrower: Org,
                        ip_value: int) -> str:
    req = fund_cover.CoverRequest(
                                  loan_id=loan.id, bank_org_id=loan.bank_org_id, borrower_org_id=loan.borrower_org_id,
                                  principal=loan.principal, outstanding_principal=loan.outstanding_principal,
                                  industry=borrower.industry, region=borrower.region, guarantor_org_id=loan.guarantor_org_id,
                                  insurer_org_id=loan.insurer_org_id, ip_collateral_value=ip_value, total_collateral_value=ip_value)
    cover = await fund_cover.request_cover(session, actor, program_id, req)
    return str(cover.id)


async def programme_rules(session: AsyncSession, loan: Loan) -> Any:
    """The rules of the programme covering the loan (its cover's version), None when not covered."""
    if loan.fund_cover_id is None:
        return None
    return await fund_cover.rules_for_loan(session, loan.id)


async def leave_cover(session: AsyncSession, actor: Actor, loan: Loan, reason: str) -> bool:
    return await fund_cover.leave_cover(session, actor, loan.id, reason) is not None


async def update_fund(session: AsyncSession, loan: Loan) -> None:
    """Keep the fund's copy of a covered loan current (exposure, NPL ratio)."""
    if loan.fund_cover_id is None:
        return
    await fund_cover.update_loan(session, loan.id, outstanding_principal=loan.outstanding_principal,
                                 classification=loan.classification, status=loan.status)


# ---------------------------------------------------------------- payments

LOAN_OBJECT = "loan"


async def pay(session: AsyncSession, actor: Actor, *, purpose: str, payer_org_id: str, payee_org_id: str,
              amount: int, loan_id: str, key: str, fresh_key: bool = False) -> Payment:
    """Move money for a loan through the gateway; a declined payment answers 402 and changes nothing.
    ``fresh_key``: ``key`` is the id of a row being inserted now (see ``payments.charge``)."""
    payment = await payments.charge(session, actor, purpose=purpose, payer_org_id=payer_org_id,
                                    payee_org_id=payee_org_id, amount=amount, object_type=LOAN_OBJECT,
                                    object_id=loan_id, idempotency_key=key,
                                    description=f"{purpose} of loan {loan_id}", fresh_key=fresh_key)
    return payments.require_success(payment)
