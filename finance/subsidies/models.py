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

KINDS = ("interest", "appraisal_fee", "insurance_premium", "guarantee_fee")
BASES = ("interest_paid", "lpr_principal", "fee")
OVER_BUDGET = ("refuse", "prorate")
CLAIM_STATUSES = ("pending", "approved", "paid", "rejected", "payout_failed")


class SubsidyPolicy(SQLModel, table=True):
    __tablename__ = "subsidy_policies"
    __table_args__ = (
        sa.CheckConstraint(f"kind IN {KINDS!r}", name="kind"),
        sa.CheckConstraint(f"basis IN {BASES!r}", name="basis"),
        sa.CheckConstraint(f"over_budget IN {OVER_BUDGET!r}", name="over_budget"),
        sa.CheckConstraint("rate_bps > 0 AND rate_bps <= 10000", name="rate"),
        sa.CheckConstraint("budget > 0", name="budget_positive"),
        sa.CheckConstraint("paid_total >= 0 AND paid_total <= budget", name="within_budget"),
    )
    id: str = Field(default_factory=lambda: new_id("spol"), primary_key=True, max_length=40)
    name: str = Field(max_length=200)
    kind: str = Field(max_length=20)
    rate_bps: int
    # The higher share for a guaranteed or insured loan (Fujian: 50% instead of 20%).
    guaranteed_rate_bps: int | None = None
    basis: str = Field(max_length=20)
    max_months: int | None = None
    cap_per_org_year: int = money_field()
    cap_per_loan: int | None = money_field(default=None)
    budget: int = money_field()
    paid_total: int = money_field(default=0)
    over_budget: str = Field(default="refuse", max_length=10)
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
    loan_id: str = Field(foreign_key="loans.id", index=True, max_length=40)
    claimant_org_id: str = Field(foreign_key="orgs.id", max_length=40)
    claimant_role: str = Field(max_length=20)  # borrower | guarantor | insurer
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
