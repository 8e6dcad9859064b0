"""Servicing tables. Money is BIGINT fen, rates bps; every status column is driven by a kernel Workflow."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from kernel.db import TZDateTime, created_at_field, money_field, utcnow
from kernel.ids import new_id
from kernel.workflow import Workflow

CHARGE_KINDS = ("appraisal_fee", "processing_fee", "prepayment_fee", "other")

CHARGE = Workflow("loan_charge", {("due", "pay"): "paid", ("due", "waive"): "waived"}, initial="due")
RESTRUCTURE = Workflow("loan_restructure", {
    ("proposed", "accept"): "accepted",
    ("proposed", "reject"): "rejected",
    ("proposed", "withdraw"): "withdrawn",
}, initial="proposed")
MARGIN_CALL = Workflow("margin_call", {
    ("open", "cure"): "cured",
    ("open", "expire"): "expired",
    # Cured late: the flag it caused is lifted.
    ("expired", "cure"): "cured",
}, initial="open")
COLLATERAL_ADDITION = Workflow("collateral_addition", {
    ("requested", "register"): "registered",
    ("requested", "withdraw"): "withdrawn",
}, initial="requested")
COLLATERAL_RELEASE = Workflow("collateral_release", {
    ("requested", "approve"): "approved",
    ("requested", "reject"): "rejected",
}, initial="requested")
ESCROW = Workflow("loan_escrow", {("held", "release"): "released"}, initial="held")


class LoanCharge(SQLModel, table=True):
    __tablename__ = "loan_charges"
    __table_args__ = (
        sa.CheckConstraint("amount > 0", name="amount_positive"),
        sa.CheckConstraint("paid >= 0 AND paid <= amount", name="paid_bounds"),
        sa.CheckConstraint(f"kind IN {CHARGE_KINDS!r}", name="kind"),
        sa.CheckConstraint("status IN ('due', 'paid', 'waived')", name="status"),
    )
    id: str = Field(default_factory=lambda: new_id("lch"), primary_key=True, max_length=40)
    loan_id: str = Field(foreign_key="loans.id", index=True, max_length=40)
    kind: str = Field(max_length=20)
    amount: int = money_field()
    paid: int = money_field(default=0)
    due_on: date
    description: str | None = Field(default=None, max_length=300)
    status: str = Field(default="due", max_length=10)
    waived_on: date | None = None
    waived_reason: str | None = Field(default=None, max_length=300)
    created_at: datetime = created_at_field()
    updated_at: datetime = Field(default_factory=utcnow, sa_type=TZDateTime)


class LoanScheduleVersion(SQLModel, table=True):
    """A schedule as it stood before a restructuring or a prepayment changed it (readable forever)."""

    __tablename__ = "loan_schedule_versions"
    __table_args__ = (sa.UniqueConstraint("loan_id", "version"),)
    id: str = Field(default_factory=lambda: new_id("lsv"), primary_key=True, max_length=40)
    loan_id: str = Field(foreign_key="loans.id", index=True, max_length=40)
    version: int
    superseded_by: str = Field(max_length=20)  # restructure | prepayment
    ref_id: str = Field(max_length=40)
    superseded_on: date
    installments: list[dict[str, Any]] = Field(default_factory=list, sa_type=sa.JSON)
    created_at: datetime = created_at_field()


class LoanRestructure(SQLModel, table=True):
    __tablename__ = "loan_restructures"
    __table_args__ = (
        sa.CheckConstraint("kind IN ('extension', 'reschedule')", name="kind"),
        sa.CheckConstraint("term_months > 0", name="term_positive"),
        sa.CheckConstraint("annual_rate_bps >= 0", name="rate"),
        sa.CheckConstraint("status IN ('proposed', 'accepted', 'rejected', 'withdrawn')", name="status"),
    )
    id: str = Field(default_factory=lambda: new_id("lrs"), primary_key=True, max_length=40)
    loan_id: str = Field(foreign_key="loans.id", index=True, max_length=40)
    kind: str = Field(max_length=12)
    term_months: int
    annual_rate_bps: int
    repayment_method: str = Field(max_length=20)
    effective_on: date
    reason: str = Field(max_length=500)
    borrower_in_difficulty: bool
    # The 2023 rules' floor during the observation period (substandard or special_mention).
    classification_floor: str = Field(max_length=20)
    status: str = Field(default="proposed", max_length=12)
    proposed_on: date
    accepted_on: date | None = None
    observation_until: date | None = None
    # Set by the day-end when the loan falls overdue during the observation period.
    paid_late: bool = False
    principal: int | None = money_field(default=None)
    carried_interest: int | None = money_field(default=None)
    created_at: datetime = created_at_field()
    updated_at: datetime = Field(default_factory=utcnow, sa_type=TZDateTime)


class MarginCall(SQLModel, table=True):
    __tablename__ = "margin_calls"
    __table_args__ = (sa.CheckConstraint("shortfall > 0", name="shortfall_positive"),
                      sa.CheckConstraint("status IN ('open', 'cured', 'expired')", name="status"))
    id: str = Field(default_factory=lambda: new_id("lmc"), primary_key=True, max_length=40)
    loan_id: str = Field(foreign_key="loans.id", index=True, max_length=40)
    trigger: str = Field(max_length=20)  # revaluation | patent_lapse
    valuation_id: str | None = Field(default=None, max_length=40)
    asset_id: str | None = Field(default=None, max_length=40)
    borrowing_base: int = money_field()
    outstanding_principal: int = money_field()
    shortfall: int = money_field()
    issued_on: date
    cure_by: date
    status: str = Field(default="open", max_length=10, index=True)
    cured_on: date | None = None
    cured_by: str | None = Field(default=None, max_length=20)  # collateral | prepayment | revaluation
    created_at: datetime = created_at_field()
    updated_at: datetime = Field(default_factory=utcnow, sa_type=TZDateTime)


class CollateralAddition(SQLModel, table=True):
    """Assets the borrower offers as more collateral; they count once the bank registers their pledge."""

    __tablename__ = "loan_collateral_additions"
    id: str = Field(default_factory=lambda: new_id("lad"), primary_key=True, max_length=40)
    loan_id: str = Field(foreign_key="loans.id", index=True, max_length=40)
    asset_ids: list[str] = Field(default_factory=list, sa_type=sa.JSON)
    # A certified valuation of exactly these assets: they count at its borrowing base once registered
    # (without one they count nothing until the bank revalues the bundle).
    valuation_id: str | None = Field(default=None, max_length=40)
    status: str = Field(default="requested", max_length=12)
    requested_on: date
    registered_on: date | None = None
    registration_no: str | None = Field(default=None, max_length=64)
    created_at: datetime = created_at_field()
    updated_at: datetime = Field(default_factory=utcnow, sa_type=TZDateTime)


class CollateralRelease(SQLModel, table=True):
    __tablename__ = "loan_collateral_releases"
    id: str = Field(default_factory=lambda: new_id("lrl"), primary_key=True, max_length=40)
    loan_id: str = Field(foreign_key="loans.id", index=True, max_length=40)
    asset_ids: list[str] = Field(default_factory=list, sa_type=sa.JSON)
    substitute_asset_ids: list[str] = Field(default_factory=list, sa_type=sa.JSON)
    valuation_id: str | None = Field(default=None, max_length=40)
    status: str = Field(default="requested", max_length=12)
    requested_on: date
    decided_on: date | None = None
    remaining_borrowing_base: int | None = money_field(default=None)
    decision_note: str | None = Field(default=None, max_length=500)
    created_at: datetime = created_at_field()
    updated_at: datetime = Field(default_factory=utcnow, sa_type=TZDateTime)


class LoanEscrow(SQLModel, table=True):
    """Proceeds of a consented deal held for the pledgee (提存) until the bank releases them."""

    __tablename__ = "loan_escrows"
    __table_args__ = (sa.CheckConstraint("amount > 0", name="amount_positive"),)
    id: str = Field(default_factory=lambda: new_id("les"), primary_key=True, max_length=40)
    loan_id: str = Field(foreign_key="loans.id", index=True, max_length=40)
    consent_id: str = Field(max_length=40)
    deal_id: str = Field(max_length=40, unique=True)
    payment_id: str = Field(max_length=60)
    amount: int = money_field()
    status: str = Field(default="held", max_length=10)
    held_on: date
    released_on: date | None = None
    created_at: datetime = created_at_field()
    updated_at: datetime = Field(default_factory=utcnow, sa_type=TZDateTime)


class LoanCollateralValuation(SQLModel, table=True):
    """A certified valuation that values (part of) a loan's pledged bundle after the loan was made: a
    revaluation by the bank, the valuation of assets added or substituted. Each pledged asset counts at
    its part in the latest one (by ``seq``) that values it, else in the loan's own valuation."""

    __tablename__ = "loan_collateral_valuations"
    __table_args__ = (sa.UniqueConstraint("loan_id", "seq"),
                      sa.CheckConstraint("source IN ('revaluation', 'addition', 'substitution')", name="source"),
                      sa.CheckConstraint("margin_bps >= 0", name="margin"))
    id: str = Field(default_factory=lambda: new_id("lcv"), primary_key=True, max_length=40)
    loan_id: str = Field(foreign_key="loans.id", index=True, max_length=40)
    seq: int
    source: str = Field(max_length=12)
    ref_id: str | None = Field(default=None, max_length=40)  # the addition or release it came with
    valuation_id: str = Field(max_length=40)
    # The bank's margin over the outstanding principal the borrowing base must keep (revaluations).
    margin_bps: int = 0
    borrowing_base_before: int = money_field()
    borrowing_base: int = money_field()
    outstanding_principal: int = money_field()
    margin_call_id: str | None = Field(default=None, max_length=40)
    on: date
    by_user_id: str = Field(max_length=40)
    created_at: datetime = created_at_field()
