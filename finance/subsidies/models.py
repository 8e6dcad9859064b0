"""Subsidy policies and claims. Money is BIGINT fen, rates integer bps.

``SubsidyPolicy.paid_total`` is what approvals have committed; with the check ``paid_total <= budget``
the database itself refuses an overspend (the ledger's ``no_negative`` budget account is the second guard).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from kernel.db import TZDateTime, created_at_field, money_field, utcnow
from kernel.ids import new_id

LOAN_KINDS = ("interest", "appraisal_fee", "insurance_premium", "guarantee_fee")
# The province's IP rewards (002_… §2–4, §13): a fixed amount per qualifying item of the registry.
REWARD_KINDS = ("high_value_patent", "foreign_patent", "gi_mark", "madrid_mark", "ip_management_certification",
                "patent_portfolio")
KINDS = (*LOAN_KINDS, *REWARD_KINDS)
BASES = ("interest_paid", "lpr_principal", "fee", "per_item")
OVER_BUDGET = ("refuse", "prorate")
CLAIM_STATUSES = ("pending", "approved", "paid", "rejected", "payout_failed")


class SubsidyPolicy(SQLModel, table=True):
    __tablename__ = "subsidy_policies"
    __table_args__ = (
        sa.CheckConstraint(f"kind IN {KINDS!r}", name="kind"),
        sa.CheckConstraint(f"basis IN {BASES!r}", name="basis"),
        sa.CheckConstraint(f"over_budget IN {OVER_BUDGET!r}", name="over_budget"),
        sa.CheckConstraint("rate_bps IS NULL OR (rate_bps > 0 AND rate_bps <= 10000)", name="rate"),
        sa.CheckConstraint("amount_per_item IS NULL OR amount_per_item > 0", name="amount_per_item"),
        sa.CheckConstraint("budget > 0", name="budget_positive"),
        sa.CheckConstraint("paid_total >= 0 AND paid_total <= budget", name="within_budget"),
    )
    id: str = Field(default_factory=lambda: new_id("spol"), primary_key=True, max_length=40)
    name: str = Field(max_length=200)
    kind: str = Field(max_length=30)
    rate_bps: int | None = None  # loan subsidies: the share of the basis
    # The higher share for a guaranteed or insured loan (Fujian: 50% instead of 20%).
    guaranteed_rate_bps: int | None = None
    basis: str = Field(max_length=20)
    max_months: int | None = None
    cap_per_org_year: int | None = money_field(default=None)  # required for loan subsidies
    cap_per_loan: int | None = money_field(default=None)
    budget: int = money_field()
    paid_total: int = money_field(default=0)
    over_budget: str = Field(default="refuse", max_length=10)
    # Rewards: the amount per qualifying item (per award of ``items_per_award`` items) and the kind's terms
    # (bonus beyond a count, its cap, thresholds, how many firms at most), see finance.subsidies.rewards.
    amount_per_item: int | None = money_field(default=None)
    terms: dict[str, Any] = Field(default_factory=dict, sa_type=sa.JSON)
    period: int  # the policy year: interest paid, loans disbursed and fees charged in it count
    conditions: dict[str, Any] = Field(default_factory=dict, sa_type=sa.JSON)
    regulator_org_id: str = Field(foreign_key="orgs.id", index=True, max_length=40)
    funding_entry_id: str | None = Field(default=None, max_length=40)
    created_on: date
    created_at: datetime = created_at_field()


class SubsidyClaim(SQLModel, table=True):
    __tablename__ = "subsidy_claims"
    __table_args__ = (
        sa.CheckConstraint(f"status IN {CLAIM_STATUSES!r}", name="status"),
        sa.CheckConstraint("amount >= 0 AND amount_paid >= 0 AND amount_paid <= amount", name="amounts"),
        sa.Index("ix_subsidy_claims_policy_loan", "policy_id", "loan_id"),
        sa.Index("ix_subsidy_claims_policy_org", "policy_id", "claimant_org_id"),
    )
    id: str = Field(default_factory=lambda: new_id("scl"), primary_key=True, max_length=40)
    policy_id: str = Field(foreign_key="subsidy_policies.id", max_length=40)
    loan_id: str | None = Field(default=None, foreign_key="loans.id", index=True, max_length=40)  # loan kinds
    claimant_org_id: str = Field(foreign_key="orgs.id", max_length=40)
    claimant_role: str = Field(max_length=20)  # borrower | guarantor | insurer | recipient (rewards)
    # Rewards: each item named and the verdict on it (asset_id, verdict, reasons, amount, bonus).
    items: list[dict[str, Any]] = Field(default_factory=list, sa_type=sa.JSON)
    status: str = Field(default="pending", max_length=20, index=True)
    basis_amount: int = money_field()
    amount: int = money_field()  # the eligible amount computed when filed
    amount_paid: int = money_field(default=0)
    appraisal_fee: int | None = money_field(default=None)
    evidence_ref: str | None = Field(default=None, max_length=200)
    working: dict[str, Any] = Field(default_factory=dict, sa_type=sa.JSON)
    approval_working: dict[str, Any] | None = Field(default=None, sa_type=sa.JSON)
    filed_on: date
    decided_on: date | None = None
    decided_by: str | None = Field(default=None, max_length=40)
    reject_reason: str | None = Field(default=None, max_length=500)
    ledger_entry_id: str | None = Field(default=None, max_length=40)
    payment_id: str | None = Field(default=None, max_length=60)
    created_at: datetime = created_at_field()
    updated_at: datetime = Field(default_factory=utcnow, sa_type=TZDateTime)


class SubsidyRewardItem(SQLModel, table=True):
    """One item a reward claim is paid for. ``reward_key`` is unique while the claim is live (pending,
    approved, paid): the index, not Python, stops a patent being rewarded twice, even under two policies of
    the same kind filed at once. A rejected claim or a failed payout sets it to NULL, freeing the item."""

    __tablename__ = "subsidy_reward_items"
    __table_args__ = (
        sa.CheckConstraint("amount >= 0 AND bonus >= 0", name="amounts"),
        sa.Index("ix_subsidy_reward_items_org", "kind", "claimant_org_id", "period"),
    )
    id: str = Field(default_factory=lambda: new_id("sri"), primary_key=True, max_length=40)
    claim_id: str = Field(foreign_key="subsidy_claims.id", index=True, max_length=40)
    policy_id: str = Field(foreign_key="subsidy_policies.id", max_length=40)
    kind: str = Field(max_length=30)
    subject: str = Field(max_length=40)  # the asset, or the firm for firm-level rewards
    claimant_org_id: str = Field(foreign_key="orgs.id", max_length=40)
    period: int
    amount: int = money_field()
    bonus: int = money_field(default=0)
    reward_key: str | None = Field(default=None, max_length=120, unique=True)
