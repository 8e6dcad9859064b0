"""Subsidy claims: filing (the amount from ``assessment``), the regulator's decision and the payout.

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

from decimal import Decimal
from typing import Any

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from finance.ledger import service as ledger
from finance.ledger.core import Recipes
from finance.loans.models import Loan
from finance.payments import service as payments
from finance.payments.models import Payment
from finance.subsidies import rewards
from finance.subsidies.assessment import Assessment, assess, refuse, yuan
from finance.subsidies.models import REWARD_KINDS, SubsidyClaim, SubsidyPolicy, SubsidyRewardItem
from finance.subsidies.policies import REGULATOR, get_policy
from finance.subsidies.schemas import ClaimIn
from kernel import audit
from kernel.actor import SYSTEM, Actor
from kernel.clock import business_date
from kernel.db import get_or_404, insert_unique
from kernel.errors import AlreadyExists, Forbidden, InvalidState, NotFound, ValidationFailed
from kernel.pagination import paginate
from kernel.workflow import Workflow

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

CLAIM = Workflow("subsidy_claim", {
    ("pending", "approve"): "approved",
    ("pending", "reject"): "rejected",
    ("approved", "settle"): "paid",
    ("approved", "fail_payout"): "payout_failed",
}, initial="pending")


async def _transition(session: AsyncSession, actor: Actor, claim: SubsidyClaim, action: str,
                      **detail: Any) -> None:
    await CLAIM.apply(session, actor, claim, action, **detail)
    await session.flush()


async def _role_on_loan(actor: Actor, loan: Loan) -> str | None:
    if actor.org_id == loan.borrower_org_id:
        return "borrower"
    if actor.org_id == loan.guarantor_org_id:
        return "guarantor"
    if actor.org_id == loan.insurer_org_id:
        return "insurer"
    return None


async def file_claim(session: AsyncSession, actor: Actor, data: ClaimIn) -> SubsidyClaim:
    if actor.is_kind(*rewards.CLAIMANT_KINDS):
        kind = (await get_policy(session, data.policy_id)).kind
        if kind in REWARD_KINDS:
            return await file_reward_claim(session, actor, data)
    if not actor.is_kind(*CLAIMANT_KINDS):
        raise Forbidden("subsidies are claimed by the borrower, its guarantor or its insurer")
    policy = await get_policy(session, data.policy_id, lock=True)  # serialises claims under one policy
    if policy.kind in REWARD_KINDS:
        raise Forbidden("IP rewards are claimed by firms and universities")
    if data.loan_id is None or data.items is not None:
        raise ValidationFailed.at(["body", "loan_id"], f"a {policy.kind} subsidy claim names its loan (and no items)")
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
    _budget_limits(a, policy)
    if a.amount == 0 and not a.reasons and not a.limits:
        a.reasons.append("amount: the subsidy computes to nothing")
    refuse(a)
    claim = SubsidyClaim(policy_id=policy.id, loan_id=loan.id, claimant_org_id=actor.org_id, claimant_role=role,
                         basis_amount=a.basis_amount, amount=a.amount, appraisal_fee=data.appraisal_fee,
                         evidence_ref=data.evidence_ref, working=a.working, filed_on=today)
    CLAIM.start(claim)
    session.add(claim)
    await session.flush()
    await audit.record(session, actor, "subsidy_claim.filed", "subsidy_claim", claim.id,
                       after={"policy_id": policy.id, "loan_id": loan.id, "amount": claim.amount,
                              "basis_amount": claim.basis_amount, "claimant_role": role})
    return claim


def _budget_limits(a: Assessment, policy: SubsidyPolicy) -> None:
    left = policy.budget - policy.paid_total
    a.working["budget_left"] = left
    if a.amount > 0 and left == 0:
        a.limits.append("budget: the policy's budget is used up")
    elif a.amount > left and policy.over_budget == "refuse":
        a.limits.append(f"budget: {yuan(a.amount)} is more than the {yuan(left)} left of the budget "
                        "(this policy refuses rather than pro-rates)")


async def file_reward_claim(session: AsyncSession, actor: Actor, data: ClaimIn) -> SubsidyClaim:
    """A reward claim: every item's verdict, the qualifying ones paid and reserved; 409 with the verdicts
    when nothing can be paid (and nothing is written)."""
    policy = await get_policy(session, data.policy_id, lock=True)  # serialises claims under one policy
    if data.loan_id is not None or data.appraisal_fee is not None:
        raise ValidationFailed.at(["body", "items"], "a reward claim names its items, not a loan or a fee")
    today = await business_date(session)
    asset_ids = [i.asset_id for i in data.items or []]
    a = await rewards.assess_reward(session, policy, actor.org_id, asset_ids, today)
    _budget_limits(a, policy)
    refuse(a)
    keys = a.working.pop("_keys")
    claim = SubsidyClaim(policy_id=policy.id, claimant_org_id=actor.org_id, claimant_role="recipient",
                         basis_amount=a.basis_amount, amount=a.amount, items=rewards.verdicts(a),
                         evidence_ref=data.evidence_ref, working=a.working, filed_on=today)
    CLAIM.start(claim)
    session.add(claim)
    await session.flush()
    a.working["_keys"] = keys
    for row in rewards.reservations(a, claim, policy):
        await insert_unique(session, row, AlreadyExists(f"{row.subject} has already been rewarded under a "
                                                        f"{policy.kind} reward"))
    a.working.pop("_keys")
    await audit.record(session, actor, "subsidy_claim.filed", "subsidy_claim", claim.id,
                       after={"policy_id": policy.id, "amount": claim.amount, "basis_amount": claim.basis_amount,
                              "items": [(i.get("asset_id") or i.get("org_id"), i["verdict"]) for i in claim.items]})
    return claim


async def get_claim(session: AsyncSession, actor: Actor, claim_id: str) -> SubsidyClaim:
    return await get_or_404(session, SubsidyClaim, claim_id, label="subsidy claim",
                            visible=lambda c: actor.is_kind(REGULATOR) or actor.is_platform_admin
                            or c.claimant_org_id == actor.org_id)


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
    found = await get_or_404(session, SubsidyClaim, claim_id, label="subsidy claim")
    policy = await get_policy(session, found.policy_id, lock=True)
    if policy.regulator_org_id != actor.org_id:
        # The budget is that regulator's appropriation: another IP office may read claims, not spend it.
        raise Forbidden("only the regulator that set the policy decides its claims")
    claim = await get_or_404(session, SubsidyClaim, claim_id, lock=True, label="subsidy claim")
    return policy, claim


async def approve(session: AsyncSession, actor: Actor, claim_id: str) -> SubsidyClaim:
    policy, claim = await _lock_for_decision(session, actor, claim_id)
    if claim.status != "pending":
        raise InvalidState(f"subsidy claim {claim.id} is {claim.status}; only a pending claim is approved")
    today = await business_date(session)
    # Recompute: caps and conditions (a reward's items) as they stand now, against what was approved since.
    if policy.kind in REWARD_KINDS:
        reserved = (await session.exec(select(SubsidyRewardItem.subject).where(
            SubsidyRewardItem.claim_id == claim.id, col(SubsidyRewardItem.reward_key).is_not(None))
            .order_by(SubsidyRewardItem.id))).all()
        assets = [] if policy.kind in rewards.FIRM_LEVEL else list(reserved)
        a = await rewards.assess_reward(session, policy, claim.claimant_org_id, assets, today, claim_id=claim.id)
        a.working.pop("_keys")
    else:
        loan = await session.get(Loan, claim.loan_id)
        assert loan is not None
        a = await assess(session, policy, loan, claim.claimant_org_id, claim.appraisal_fee, today)
    amount = min(a.amount, claim.amount)
    left = policy.budget - policy.paid_total
    a.working["budget_left"] = left
    if amount > left:
        if policy.over_budget == "refuse" or left == 0:
            a.limits.append(f"budget: {yuan(amount)} is more than the {yuan(left)} left of the budget")
        else:
            a.step(f"pro-rated to what is left of the budget: {yuan(left)} of {yuan(amount)} "
                   f"({Decimal(left * 10000 // amount) / 100}%)")
            amount = left
    if amount == 0 and not a.reasons and not a.limits:
        a.limits.append("caps: nothing is left to pay under the caps")
    refuse(a)
    if policy.kind in REWARD_KINDS:  # items that no longer qualify are freed; the rest stay reserved
        await rewards.release(session, claim.id, keep=[i.get("asset_id") or i["org_id"] for i in rewards.verdicts(a)
                                                        if i["verdict"] == "qualifies"])
    a.working["amount_paid"] = amount
    claim.amount_paid, claim.approval_working = amount, a.working
    claim.decided_on, claim.decided_by = today, actor.user_id
    policy.paid_total += amount
    session.add_all([policy, claim])
    await _transition(session, actor, claim, "approve", amount_paid=amount)
    entry = await ledger.post(session, actor, idempotency_key=f"subsidy_claim:{claim.id}:payout",
                              lines=Recipes.subsidy_payout(policy.id, amount), kind="subsidy.payout",
                              description=f"Subsidy claim {claim.id} under policy {policy.name}",
                              effective_date=today, object_type="subsidy_claim", object_id=claim.id,
                              pending=True)  # two-phase: reserved now, posted or voided by the payout
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
    await rewards.release(session, claim.id)
    return claim


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
    await rewards.release(session, claim.id)
