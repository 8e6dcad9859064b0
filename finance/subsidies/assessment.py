"""What a subsidy claim is worth: computed from the loan's real records, every failed condition, the working.

A claim is computed from what the records say (interest actually paid, the LPR in force at disbursement,
the guarantee fee and insurance premium on the loan); the claimant declares only an appraisal fee, which
the loan records do not hold, with an evidence reference the regulator checks before approving.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from finance.loans.models import Loan, LoanGuarantee, LoanInstallment, LoanInsurance, LoanRepayment
from finance.rates.service import in_force
from finance.subsidies.models import SubsidyClaim, SubsidyPolicy
from kernel.errors import InvalidState, LimitExceeded
from kernel.money import BPS, apply_bps, format_yuan, to_fen

# Claims that count against the caps.
COUNTED = ("approved", "paid")
DISBURSED = ("active", "overdue", "repaid", "defaulted", "compensated", "disposing", "closed", "written_off")


@dataclass
class Assessment:
    basis_amount: int = 0
    amount: int = 0  # after the rate and the caps (before the budget)
    reasons: list[str] = field(default_factory=list)  # failed conditions: the loan is not eligible
    limits: list[str] = field(default_factory=list)  # caps or budget used up
    working: dict[str, Any] = field(default_factory=dict)

    def step(self, text: str) -> None:
        self.working.setdefault("steps", []).append(text)


def yuan(fen: int) -> str:
    return format_yuan(fen)


async def _repaid_on_time(session: AsyncSession, loan: Loan, today: date) -> str | None:
    """None if every instalment due so far was paid in full by its due date with no penalty, else why not."""
    rows = (await session.exec(select(LoanInstallment).where(LoanInstallment.loan_id == loan.id)
                               .order_by(col(LoanInstallment.n)))).all()
    for row in rows:
        settled = row.paid_principal == row.principal and row.paid_interest == row.interest
        if row.paid_penalty > 0 or row.overdue_fen_days > 0:
            return f"instalment {row.n} (due {row.due_on}) was paid late: penalty interest was charged"
        if settled and row.paid_on is not None and row.paid_on > row.due_on:
            return f"instalment {row.n} (due {row.due_on}) was paid on {row.paid_on}, after it fell due"
        if not settled and row.due_on < today:
            return f"instalment {row.n} (due {row.due_on}) is not paid in full"
    if loan.days_past_due > 0 or loan.status in ("overdue", "defaulted", "compensated", "disposing",
                                                     "written_off"):
        return f"the loan is {loan.status} ({loan.days_past_due} days past due)"
    return None


async def _counted(session: AsyncSession, policy_id: str, *, loan_id: str | None = None,
                   org_id: str | None = None) -> int:
    stmt = select(func.coalesce(func.sum(SubsidyClaim.amount_paid), 0)).where(
        SubsidyClaim.policy_id == policy_id, col(SubsidyClaim.status).in_(COUNTED))
    if loan_id:
        stmt = stmt.where(SubsidyClaim.loan_id == loan_id)
    if org_id:
        stmt = stmt.where(SubsidyClaim.claimant_org_id == org_id)
    return int((await session.exec(stmt)).one())


async def assess(session: AsyncSession, policy: SubsidyPolicy, loan: Loan, claimant_org_id: str,
                 appraisal_fee: int | None, today: date) -> Assessment:
    """The eligible amount of a claim from the loan's records, every failed condition, and the working."""
    a = Assessment()
    # A loan subsidy always has its share and per-firm cap (schemas.PolicyIn); only rewards go without.
    assert policy.rate_bps is not None and policy.cap_per_org_year is not None
    w = a.working
    w.update(policy_id=policy.id, kind=policy.kind, basis=policy.basis, period=policy.period, loan_id=loan.id)
    cond = policy.conditions
    guarantee = (await session.exec(select(LoanGuarantee).where(LoanGuarantee.loan_id == loan.id))).first()
    insurance = (await session.exec(select(LoanInsurance).where(LoanInsurance.loan_id == loan.id))).first()
    secured_by_third_party = guarantee is not None or insurance is not None

    # Conditions: each failing one is a reason, all reported together.
    lpr = None
    if loan.status not in DISBURSED or loan.disbursed_on is None:
        a.reasons.append(f"disbursed: the loan is {loan.status}, not yet disbursed")
    else:
        lpr = await in_force(session, loan.disbursed_on)
        if policy.basis != "interest_paid" and loan.disbursed_on.year != policy.period:
            a.reasons.append(f"period: the loan was disbursed on {loan.disbursed_on}, outside the policy year "
                             f"{policy.period}")
    if cond.get("pledge_registered") and loan.pledge_registered_on is None:
        a.reasons.append("pledge_registered: the pledge of the loan's IP is not registered")
    if cond.get("guaranteed_or_insured") and not secured_by_third_party:
        a.reasons.append("guaranteed_or_insured: the loan has neither a guarantee nor insurance")
    if cond.get("repaid_on_time") and loan.disbursed_on is not None:
        late = await _repaid_on_time(session, loan, today)
        if late:
            a.reasons.append(f"repaid_on_time: {late}")
    multiple = cond.get("max_rate_lpr_multiple_bps")
    if (multiple or policy.basis == "lpr_principal") and loan.disbursed_on is not None and lpr is None:
        a.reasons.append(f"lpr: no LPR was in force on the disbursement date {loan.disbursed_on}")
    if multiple and lpr is not None:
        # rate ≤ multiple × LPR, compared exactly in integers: rate × 10000 ≤ multiple_bps × lpr_bps.
        limit = Decimal(multiple) * lpr.one_year_bps / BPS
        w["rate_check"] = {"annual_rate_bps": loan.annual_rate_bps, "lpr_one_year_bps": lpr.one_year_bps,
                           "lpr_effective_on": lpr.effective_on.isoformat(), "max_rate_lpr_multiple_bps": multiple,
                           "max_rate_bps": str(limit)}
        if loan.annual_rate_bps * 10000 > multiple * lpr.one_year_bps:
            a.reasons.append(f"max_rate_lpr_multiple_bps: the loan's rate {loan.annual_rate_bps} bps exceeds "
                             f"{multiple / 10000:g} × the 1-year LPR {lpr.one_year_bps} bps = {limit} bps")

    # The basis.
    if policy.basis == "interest_paid":
        start, end = date(policy.period, 1, 1), date(policy.period, 12, 31)
        paid = (await session.exec(select(col(LoanRepayment.id), col(LoanRepayment.paid_on), col(LoanRepayment.interest)).where(
            LoanRepayment.loan_id == loan.id, LoanRepayment.status == "succeeded",
            col(LoanRepayment.paid_on) >= start, col(LoanRepayment.paid_on) <= end)
            .order_by(LoanRepayment.id))).all()
        a.basis_amount = sum(r[2] for r in paid)
        w["interest_paid"] = [{"repayment_id": r[0], "paid_on": r[1].isoformat(), "interest": r[2]} for r in paid]
        a.step(f"interest actually paid in {policy.period}: {yuan(a.basis_amount)} over {len(paid)} repayments")
        if a.basis_amount == 0:
            a.reasons.append(f"interest_paid: no interest was paid on the loan in {policy.period}")
    elif policy.basis == "lpr_principal":
        if lpr is not None:
            months = min(loan.term_months, policy.max_months or loan.term_months)
            a.basis_amount = to_fen(Decimal(loan.principal) * lpr.one_year_bps / BPS * months / 12)
            w.update(principal=loan.principal, lpr_one_year_bps=lpr.one_year_bps,
                     lpr_effective_on=lpr.effective_on.isoformat(), term_months=loan.term_months, months=months)
            a.step(f"1-year LPR {lpr.one_year_bps} bps (in force {lpr.effective_on}) × principal "
                   f"{yuan(loan.principal)} × {months}/12 = {yuan(a.basis_amount)}")
    elif policy.kind == "appraisal_fee":
        a.basis_amount = appraisal_fee or 0
        if loan.valuation_id is None:
            a.reasons.append("appraisal: the loan was not granted on a valuation")
        a.step(f"appraisal fee declared: {yuan(a.basis_amount)}")
    elif policy.kind == "insurance_premium":
        a.basis_amount = insurance.premium if insurance else 0
        if insurance is None:
            a.reasons.append("insurance: the loan is not insured")
        else:
            a.step(f"insurance premium on the loan: {yuan(a.basis_amount)}")
            if insurance.joined_on.year != policy.period:
                a.reasons.append(f"period: the insurance was taken out on {insurance.joined_on}, outside "
                                 f"{policy.period}")
    elif policy.kind == "guarantee_fee":
        a.basis_amount = guarantee.fee if guarantee else 0
        if guarantee is None:
            a.reasons.append("guarantee: the loan is not guaranteed")
        else:
            a.step(f"guarantee fee on the loan ({guarantee.fee_rate_bps} bps of the principal): "
                   f"{yuan(a.basis_amount)}")
            if guarantee.joined_on.year != policy.period:
                a.reasons.append(f"period: the guarantee was given on {guarantee.joined_on}, outside "
                                 f"{policy.period}")

    # The share.
    rate = policy.rate_bps
    if policy.guaranteed_rate_bps is not None and secured_by_third_party:
        rate = policy.guaranteed_rate_bps
        a.step(f"the loan is guaranteed or insured: the higher share {rate} bps applies")
    before_caps = apply_bps(a.basis_amount, rate)
    w.update(basis_amount=a.basis_amount, rate_bps=rate, before_caps=before_caps)
    a.step(f"{yuan(a.basis_amount)} × {rate / 100:g}% = {yuan(before_caps)}")

    # The caps, against what is already approved.
    amount = before_caps
    if policy.cap_per_loan is not None:
        left = max(policy.cap_per_loan - await _counted(session, policy.id, loan_id=loan.id), 0)
        w["cap_per_loan_left"] = left
        if amount > left:
            a.step(f"capped at what is left of the per-loan cap {yuan(policy.cap_per_loan)}: {yuan(left)}")
            amount = left
            if left == 0:
                a.limits.append(f"cap_per_loan: the per-loan cap {yuan(policy.cap_per_loan)} is used up")
    org_left = max(policy.cap_per_org_year - await _counted(session, policy.id, org_id=claimant_org_id), 0)
    w["cap_per_org_year_left"] = org_left
    if amount > org_left:
        a.step(f"capped at what is left of the {policy.period} cap per organisation "
               f"{yuan(policy.cap_per_org_year)}: {yuan(org_left)}")
        amount = org_left
        if org_left == 0:
            a.limits.append(f"cap_per_org_year: the {policy.period} cap {yuan(policy.cap_per_org_year)} of "
                            f"organisation {claimant_org_id} is used up")
    a.amount = amount
    w["amount"] = amount
    return a


def refuse(a: Assessment) -> None:
    working = {k: v for k, v in a.working.items() if not k.startswith("_")}
    extra: dict[str, Any] = {"reasons": a.reasons + a.limits, "working": working}
    if "items" in working:  # a reward claim: every item's verdict, as the claim itself would show them
        extra["items"] = working["items"]
    if a.reasons:
        raise InvalidState("the loan is not eligible: " + "; ".join(a.reasons), extra=extra)
    if a.limits:
        raise LimitExceeded("nothing can be paid: " + "; ".join(a.limits), extra=extra)
