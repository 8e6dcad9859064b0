"""Subsidy rules: policies, claims computed from the loan's real records, approval and payout.

A claim is computed from what the records say (interest actually paid, the LPR in force at disbursement,
the guarantee fee and insurance premium on the loan); the claimant declares only an appraisal fee, which
the loan records do not hold, with an evidence reference the regulator checks before approving.

An ineligible claim is refused and nothing is written: 409 ``invalid_state`` when the loan does not meet
the policy (the problem lists every failed condition in ``reasons`` and shows the ``working``), 409
``limit_exceeded`` when only a cap or the budget stands in the way. A claim that is filed is therefore
always one with a positive eligible amount, and the regulator reviews it.

Approval locks the policy row, then the claim (always in that order), recomputes the caps and the
budget against what is already approved, posts the payout to the ledger (``subsidy_budget`` →
``subsidy_expense``, idempotent per claim) and pays through the gateway. ``over_budget`` decides what
happens when the claim is larger than what is left: ``refuse`` (409) or ``prorate`` (pay what is left).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from finance.ledger import service as ledger
from finance.ledger.core import AccountSpec, Chart, Recipes
from finance.loans.models import Loan, LoanGuarantee, LoanInstallment, LoanInsurance, LoanRepayment
from finance.payments import service as payments
from finance.payments.models import Payment
from finance.rates.service import in_force
from finance.subsidies.models import SubsidyClaim, SubsidyPolicy
from finance.subsidies.schemas import ClaimIn, PolicyIn
from kernel import audit
from kernel.actor import SYSTEM, Actor
from kernel.clock import business_date
from kernel.db import utcnow
from kernel.errors import Forbidden, InvalidState, LimitExceeded, NotFound, ValidationFailed
from kernel.money import BPS, apply_bps, format_yuan, to_fen
from kernel.pagination import paginate

REGULATOR = "regulator"
CLAIMANT_KINDS = ("sme", "guarantor", "insurer")
# Who may claim each kind of subsidy on a loan (a fee subsidy goes to whoever bore the fee).
ROLES_OF_KIND: dict[str, tuple[str, ...]] = {
    "interest": ("borrower",),
    "appraisal_fee": ("borrower",),
    "insurance_premium": ("borrower", "insurer"),
    "guarantee_fee": ("borrower", "guarantor"),
}
# Claims that count against caps and block a second claim on the same loan under the same policy.
LIVE = ("pending", "approved", "paid")
COUNTED = ("approved", "paid")
DISBURSED = ("active", "overdue", "repaid", "defaulted", "compensated", "disposing", "closed", "written_off")
CLAIM_TRANSITIONS: dict[tuple[str, str], str] = {
    ("pending", "approve"): "approved",
    ("pending", "reject"): "rejected",
    ("approved", "settle"): "paid",
    ("approved", "fail_payout"): "payout_failed",
}


async def _transition(session: AsyncSession, actor: Actor, claim: SubsidyClaim, action: str,
                      **detail: Any) -> None:
    target = CLAIM_TRANSITIONS.get((claim.status, action))
    if target is None:
        raise InvalidState(f"subsidy claim {claim.id} is {claim.status}; it cannot be {action}d")
    before = claim.status
    claim.status, claim.updated_at = target, utcnow()
    session.add(claim)
    await session.flush()
    await audit.record(session, actor, f"subsidy_claim.{action}", "subsidy_claim", claim.id,
                       before={"status": before}, after={"status": target, **detail})


# ---------------------------------------------------------------- policies


def _budget_accounts(policy_id: str, owner_org_id: str) -> list[AccountSpec]:
    """The policy's own corner of the fund ledger: the appropriation, the earmarked budget and what was paid."""
    return [
        AccountSpec(Chart.cash(policy_id), "Subsidy appropriation cash", "asset", "no_negative", owner_org_id),
        AccountSpec(Chart.capital(policy_id), "Subsidy appropriation", "equity", "none", owner_org_id),
        AccountSpec(Chart.subsidy_budget(policy_id), "Subsidy budget (earmarked cash)", "asset", "no_negative",
                    owner_org_id),
        AccountSpec(Chart.subsidy_expense(policy_id), "Subsidies paid", "expense", "none", owner_org_id),
    ]


async def create_policy(session: AsyncSession, actor: Actor, data: PolicyIn) -> SubsidyPolicy:
    if not actor.is_kind(REGULATOR):
        raise Forbidden("only the regulator sets subsidy policies")
    today = await business_date(session)
    policy = SubsidyPolicy(**data.model_dump(exclude={"conditions", "period"}),
                           conditions=data.conditions.required(),
                           period=data.period or today.year, regulator_org_id=actor.org_id, created_on=today)
    session.add(policy)
    await session.flush()
    await ledger.ensure_accounts(session, _budget_accounts(policy.id, actor.org_id), actor=actor)
    await ledger.post(session, actor, idempotency_key=f"subsidy_policy:{policy.id}:appropriation",
                      lines=Recipes.capital_in(policy.id, policy.budget), kind="subsidy.appropriation",
                      description=f"Appropriation for subsidy policy {policy.name}",
                      object_type="subsidy_policy", object_id=policy.id)
    entry = await ledger.post(session, actor, idempotency_key=f"subsidy_policy:{policy.id}:budget",
                              lines=Recipes.subsidy_funding(policy.id, policy.budget), kind="subsidy.funding",
                              description=f"Budget earmarked for subsidy policy {policy.name}",
                              object_type="subsidy_policy", object_id=policy.id)
    policy.funding_entry_id = entry.id
    session.add(policy)
    await session.flush()
    await audit.record(session, actor, "subsidy_policy.created", "subsidy_policy", policy.id,
                       after=policy.model_dump(exclude={"created_at"}))
    return policy


def describe_policy(policy: SubsidyPolicy) -> dict[str, Any]:
    return {**policy.model_dump(), "budget_remaining": policy.budget - policy.paid_total}


async def get_policy(session: AsyncSession, policy_id: str, *, lock: bool = False) -> SubsidyPolicy:
    stmt = select(SubsidyPolicy).where(SubsidyPolicy.id == policy_id)
    if lock:
        stmt = stmt.with_for_update().execution_options(populate_existing=True)
    policy = (await session.exec(stmt)).first()
    if policy is None:
        raise NotFound("subsidy policy not found")
    return policy


async def list_policies(session: AsyncSession, limit: int, cursor: str | None, kind: str | None
                        ) -> tuple[list[SubsidyPolicy], bool, str | None]:
    stmt = select(SubsidyPolicy)
    if kind:
        stmt = stmt.where(SubsidyPolicy.kind == kind)
    return await paginate(session, stmt, SubsidyPolicy.id, limit, cursor)


# ---------------------------------------------------------------- computing a claim


@dataclass
class Assessment:
    basis_amount: int = 0
    amount: int = 0  # after the rate and the caps (before the budget)
    reasons: list[str] = field(default_factory=list)  # failed conditions: the loan is not eligible
    limits: list[str] = field(default_factory=list)  # caps or budget used up
    working: dict[str, Any] = field(default_factory=dict)

    def step(self, text: str) -> None:
        self.working.setdefault("steps", []).append(text)


def _yuan(fen: int) -> str:
    return format_yuan(fen)


async def _repaid_on_time(session: AsyncSession, loan: Loan, today: date) -> str | None:
    """None if every instalment due so far was paid in full by its due date with no penalty, else why not."""
    rows = (await session.exec(select(LoanInstallment).where(LoanInstallment.loan_id == loan.id)
                               .order_by(LoanInstallment.n))).all()
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
        paid = (await session.exec(select(LoanRepayment.id, LoanRepayment.paid_on, LoanRepayment.interest).where(
            LoanRepayment.loan_id == loan.id, LoanRepayment.status == "succeeded",
            col(LoanRepayment.paid_on) >= start, col(LoanRepayment.paid_on) <= end)
            .order_by(LoanRepayment.id))).all()
        a.basis_amount = sum(r[2] for r in paid)
        w["interest_paid"] = [{"repayment_id": r[0], "paid_on": r[1].isoformat(), "interest": r[2]} for r in paid]
        a.step(f"interest actually paid in {policy.period}: {_yuan(a.basis_amount)} over {len(paid)} repayments")
        if a.basis_amount == 0:
            a.reasons.append(f"interest_paid: no interest was paid on the loan in {policy.period}")
    elif policy.basis == "lpr_principal":
        if lpr is not None:
            months = min(loan.term_months, policy.max_months or loan.term_months)
            a.basis_amount = to_fen(Decimal(loan.principal) * lpr.one_year_bps / BPS * months / 12)
            w.update(principal=loan.principal, lpr_one_year_bps=lpr.one_year_bps,
                     lpr_effective_on=lpr.effective_on.isoformat(), term_months=loan.term_months, months=months)
            a.step(f"1-year LPR {lpr.one_year_bps} bps (in force {lpr.effective_on}) × principal "
                   f"{_yuan(loan.principal)} × {months}/12 = {_yuan(a.basis_amount)}")
    elif policy.kind == "appraisal_fee":
        a.basis_amount = appraisal_fee or 0
        if loan.valuation_id is None:
            a.reasons.append("appraisal: the loan was not granted on a valuation")
        a.step(f"appraisal fee declared: {_yuan(a.basis_amount)}")
    elif policy.kind == "insurance_premium":
        a.basis_amount = insurance.premium if insurance else 0
        if insurance is None:
            a.reasons.append("insurance: the loan is not insured")
        else:
            a.step(f"insurance premium on the loan: {_yuan(a.basis_amount)}")
            if insurance.joined_on.year != policy.period:
                a.reasons.append(f"period: the insurance was taken out on {insurance.joined_on}, outside "
                                 f"{policy.period}")
    elif policy.kind == "guarantee_fee":
        a.basis_amount = guarantee.fee if guarantee else 0
        if guarantee is None:
            a.reasons.append("guarantee: the loan is not guaranteed")
        else:
            a.step(f"guarantee fee on the loan ({guarantee.fee_rate_bps} bps of the principal): "
                   f"{_yuan(a.basis_amount)}")
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
    a.step(f"{_yuan(a.basis_amount)} × {rate / 100:g}% = {_yuan(before_caps)}")

    # The caps, against what is already approved.
    amount = before_caps
    if policy.cap_per_loan is not None:
        left = max(policy.cap_per_loan - await _counted(session, policy.id, loan_id=loan.id), 0)
        w["cap_per_loan_left"] = left
        if amount > left:
            a.step(f"capped at what is left of the per-loan cap {_yuan(policy.cap_per_loan)}: {_yuan(left)}")
            amount = left
            if left == 0:
                a.limits.append(f"cap_per_loan: the per-loan cap {_yuan(policy.cap_per_loan)} is used up")
    org_left = max(policy.cap_per_org_year - await _counted(session, policy.id, org_id=claimant_org_id), 0)
    w["cap_per_org_year_left"] = org_left
    if amount > org_left:
        a.step(f"capped at what is left of the {policy.period} cap per organisation "
               f"{_yuan(policy.cap_per_org_year)}: {_yuan(org_left)}")
        amount = org_left
        if org_left == 0:
            a.limits.append(f"cap_per_org_year: the {policy.period} cap {_yuan(policy.cap_per_org_year)} of "
                            f"organisation {claimant_org_id} is used up")
    a.amount = amount
    w["amount"] = amount
    return a


def _refuse(a: Assessment) -> None:
    extra = {"reasons": a.reasons + a.limits, "working": a.working}
    if a.reasons:
        raise InvalidState("the loan is not eligible: " + "; ".join(a.reasons), extra=extra)
    if a.limits:
        raise LimitExceeded("nothing can be paid: " + "; ".join(a.limits), extra=extra)


# ---------------------------------------------------------------- claims


async def _role_on_loan(actor: Actor, loan: Loan) -> str | None:
    if actor.org_id == loan.borrower_org_id:
        return "borrower"
    if actor.org_id == loan.guarantor_org_id:
        return "guarantor"
    if actor.org_id == loan.insurer_org_id:
        return "insurer"
    return None


async def file_claim(session: AsyncSession, actor: Actor, data: ClaimIn) -> SubsidyClaim:
    if not actor.is_kind(*CLAIMANT_KINDS):
        raise Forbidden("subsidies are claimed by the borrower, its guarantor or its insurer")
    policy = await get_policy(session, data.policy_id, lock=True)  # serialises claims under one policy
    loan = await session.get(Loan, data.loan_id)
    role = await _role_on_loan(actor, loan) if loan else None
    if loan is None or role is None:
        raise NotFound("loan not found")
    if role not in ROLES_OF_KIND[policy.kind]:
        raise Forbidden(f"a {policy.kind} subsidy is claimed by the {' or '.join(ROLES_OF_KIND[policy.kind])}")
    if policy.kind == "appraisal_fee":
        if data.appraisal_fee is None or data.evidence_ref is None:
            raise ValidationFailed.at(["body", "appraisal_fee"], "an appraisal-fee claim declares the fee paid "
                                      "and the evidence reference (invoice or appraisal report number)")
    elif data.appraisal_fee is not None:
        raise ValidationFailed.at(["body", "appraisal_fee"], "only appraisal-fee claims declare a fee")
    live = (await session.exec(select(SubsidyClaim).where(
        SubsidyClaim.policy_id == policy.id, SubsidyClaim.loan_id == loan.id,
        col(SubsidyClaim.status).in_(LIVE)))).first()
    if live is not None:
        raise InvalidState(f"the loan already has claim {live.id} ({live.status}) under this policy")
    today = await business_date(session)
    a = await assess(session, policy, loan, actor.org_id, data.appraisal_fee, today)
    left = policy.budget - policy.paid_total
    a.working["budget_left"] = left
    if a.amount > 0 and left == 0:
        a.limits.append("budget: the policy's budget is used up")
    elif a.amount > left and policy.over_budget == "refuse":
        a.limits.append(f"budget: {_yuan(a.amount)} is more than the {_yuan(left)} left of the budget "
                        "(this policy refuses rather than pro-rates)")
    if a.amount == 0 and not a.reasons and not a.limits:
        a.reasons.append("amount: the subsidy computes to nothing")
    _refuse(a)
    claim = SubsidyClaim(policy_id=policy.id, loan_id=loan.id, claimant_org_id=actor.org_id, claimant_role=role,
                         basis_amount=a.basis_amount, amount=a.amount, appraisal_fee=data.appraisal_fee,
                         evidence_ref=data.evidence_ref, working=a.working, filed_on=today)
    session.add(claim)
    await session.flush()
    await audit.record(session, actor, "subsidy_claim.filed", "subsidy_claim", claim.id,
                       after={"policy_id": policy.id, "loan_id": loan.id, "amount": claim.amount,
                              "basis_amount": claim.basis_amount, "claimant_role": role})
    return claim


async def get_claim(session: AsyncSession, actor: Actor, claim_id: str) -> SubsidyClaim:
    claim = await session.get(SubsidyClaim, claim_id)
    if claim is None or not (actor.is_kind(REGULATOR) or actor.is_platform_admin
                             or claim.claimant_org_id == actor.org_id):
        raise NotFound("subsidy claim not found")
    return claim


async def list_claims(session: AsyncSession, actor: Actor, policy_id: str | None, status: str | None,
                      limit: int, cursor: str | None) -> tuple[list[SubsidyClaim], bool, str | None]:
    stmt = select(SubsidyClaim)
    if not (actor.is_kind(REGULATOR) or actor.is_platform_admin):
        stmt = stmt.where(SubsidyClaim.claimant_org_id == actor.org_id)
    if policy_id:
        stmt = stmt.where(SubsidyClaim.policy_id == policy_id)
    if status:
        stmt = stmt.where(SubsidyClaim.status == status)
    return await paginate(session, stmt, SubsidyClaim.id, limit, cursor)


async def _lock_for_decision(session: AsyncSession, actor: Actor, claim_id: str
                             ) -> tuple[SubsidyPolicy, SubsidyClaim]:
    """The policy, then the claim, both locked (always in this order, so approvals never deadlock)."""
    if not actor.is_kind(REGULATOR):
        raise Forbidden("only the regulator decides subsidy claims")
    found = await session.get(SubsidyClaim, claim_id)
    if found is None:
        raise NotFound("subsidy claim not found")
    policy = await get_policy(session, found.policy_id, lock=True)
    if policy.regulator_org_id != actor.org_id:
        # The budget is that regulator's appropriation: another IP office may read claims, not spend it.
        raise Forbidden("only the regulator that set the policy decides its claims")
    claim = (await session.exec(select(SubsidyClaim).where(SubsidyClaim.id == claim_id).with_for_update()
                                .execution_options(populate_existing=True))).one()
    return policy, claim


async def approve(session: AsyncSession, actor: Actor, claim_id: str) -> SubsidyClaim:
    policy, claim = await _lock_for_decision(session, actor, claim_id)
    if claim.status != "pending":
        raise InvalidState(f"subsidy claim {claim.id} is {claim.status}; only a pending claim is approved")
    loan = await session.get(Loan, claim.loan_id)
    assert loan is not None
    today = await business_date(session)
    # Recompute: caps and conditions as they stand now, against what was approved since filing.
    a = await assess(session, policy, loan, claim.claimant_org_id, claim.appraisal_fee, today)
    amount = min(a.amount, claim.amount)
    left = policy.budget - policy.paid_total
    a.working["budget_left"] = left
    if amount > left:
        if policy.over_budget == "refuse" or left == 0:
            a.limits.append(f"budget: {_yuan(amount)} is more than the {_yuan(left)} left of the budget")
        else:
            a.step(f"pro-rated to what is left of the budget: {_yuan(left)} of {_yuan(amount)} "
                   f"({Decimal(left * 10000 // amount) / 100}%)")
            amount = left
    if amount == 0 and not a.reasons and not a.limits:
        a.limits.append("caps: nothing is left to pay under the caps")
    _refuse(a)
    a.working["amount_paid"] = amount
    claim.amount_paid, claim.approval_working = amount, a.working
    claim.decided_on, claim.decided_by = today, actor.user_id
    policy.paid_total += amount
    session.add_all([policy, claim])
    await _transition(session, actor, claim, "approve", amount_paid=amount)
    # Two-phase: the approval reserves the budget (pending); the payout's outcome posts or voids it.
    entry = await ledger.post(session, actor, idempotency_key=f"subsidy_claim:{claim.id}:payout",
                              lines=Recipes.subsidy_payout(policy.id, amount), kind="subsidy.payout",
                              description=f"Subsidy claim {claim.id} under policy {policy.name}",
                              effective_date=today, object_type="subsidy_claim", object_id=claim.id,
                              pending=True)
    claim.ledger_entry_id = entry.id
    session.add(claim)
    await session.flush()
    payment = await payments.payout(session, actor, payer_org_id=policy.regulator_org_id,
                                    payee_org_id=claim.claimant_org_id, amount=amount, purpose="subsidy",
                                    object_type="subsidy_claim", object_id=claim.id,
                                    description=f"补助 {policy.name}")
    payments.require_success(payment)
    claim.payment_id = payment.id
    session.add(claim)
    await session.flush()
    return claim


async def reject(session: AsyncSession, actor: Actor, claim_id: str, reason: str | None) -> SubsidyClaim:
    _policy, claim = await _lock_for_decision(session, actor, claim_id)
    claim.decided_on, claim.decided_by = await business_date(session), actor.user_id
    claim.reject_reason = reason
    await _transition(session, actor, claim, "reject", reason=reason)
    return claim


# ---------------------------------------------------------------- the payout's outcome


@payments.on_settled("subsidy_claim")
async def _payout_settled(session: AsyncSession, payment: Payment) -> None:
    claim = await session.get(SubsidyClaim, payment.object_id)
    if claim is not None and claim.status == "approved":
        claim.payment_id = payment.id
        if claim.ledger_entry_id:
            await ledger.post_pending(session, SYSTEM, claim.ledger_entry_id, f"subsidy_claim:{claim.id}:paid",
                                      "the subsidy payout landed")
        await _transition(session, SYSTEM, claim, "settle", payment_id=payment.id)


@payments.on_failed("subsidy_claim")
async def _payout_failed(session: AsyncSession, payment: Payment) -> None:
    """The money never left: release the budget (void the pending entry) and mark the claim."""
    claim = await session.get(SubsidyClaim, payment.object_id)
    if claim is None or claim.status != "approved":
        return
    policy = await get_policy(session, claim.policy_id, lock=True)
    if claim.ledger_entry_id:
        await ledger.void_pending(session, SYSTEM, claim.ledger_entry_id,
                                  f"subsidy_claim:{claim.id}:payout_failed", "the subsidy payout failed")
    policy.paid_total -= claim.amount_paid
    session.add(policy)
    await _transition(session, SYSTEM, claim, "fail_payout", payment_id=payment.id)
