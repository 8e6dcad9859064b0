from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from kernel.db import TZDateTime, created_at_field, money_field, utcnow
from kernel.ids import new_id
from kernel.workflow import Workflow

LICENSE_KINDS = ("exclusive", "sole", "nonexclusive", "open")
LICENSE_STATUSES = ("active", "ended", "terminated")
REPORT_STATUSES = ("due", "paid", "overdue")
# "sales": the licensee's report of net sales; "minimum_shortfall": what the day-end charges when a
# license year's royalties fall short of the annual minimum.
REPORT_KINDS = ("sales", "minimum_shortfall")
DECLARATION_STATUSES = ("active", "withdrawn")

LICENSE = Workflow("license", {
    ("active", "end"): "ended",  # its last day has passed
    ("active", "terminate"): "terminated",
}, initial="active")
# A report is born due, or paid when nothing is owed (a zero royalty, a minimum already met).
ROYALTY_REPORT = Workflow("royalty_report", {
    ("due", "pay"): "paid",
    ("due", "fall_overdue"): "overdue",
    ("overdue", "pay"): "paid",
}, initial=("due", "paid"))
# Withdrawing leaves the licenses already granted under the declaration in force.
OPEN_LICENSE = Workflow("open_license", {("active", "withdraw"): "withdrawn"}, initial="active")


class License(SQLModel, table=True):
    __tablename__ = "licenses"
    __table_args__ = (
        sa.CheckConstraint(f"kind IN {LICENSE_KINDS!r}", name="kind"),
        sa.CheckConstraint(f"status IN {LICENSE_STATUSES!r}", name="status"),
        sa.CheckConstraint("ends_on >= starts_on", name="term"),
    )
    id: str = Field(default_factory=lambda: new_id("lic"), primary_key=True, max_length=40)
    kind: str = Field(max_length=20)
    asset_ids: list[str] = Field(default_factory=list, sa_type=sa.JSON)
    licensor_org_id: str = Field(foreign_key="orgs.id", index=True, max_length=40)
    licensee_org_id: str = Field(foreign_key="orgs.id", index=True, max_length=40)
    deal_id: str | None = Field(default=None, max_length=40)
    declaration_id: str | None = Field(default=None, max_length=40, index=True)
    fixed_fee: int | None = money_field(default=None)
    rate_bps: int | None = None
    free_months: int | None = None
    minimum_annual: int | None = money_field(default=None)
    starts_on: date
    ends_on: date  # the last day in force (inclusive)
    status: str = Field(default="active", max_length=20, index=True)
    created_at: datetime = created_at_field()
    updated_at: datetime = Field(default_factory=utcnow, sa_type=TZDateTime)


class RoyaltyReport(SQLModel, table=True):
    __tablename__ = "royalty_reports"
    __table_args__ = (
        sa.CheckConstraint(f"status IN {REPORT_STATUSES!r}", name="status"),
        sa.CheckConstraint("net_sales >= 0 AND royalty_due >= 0", name="amounts"),
        sa.CheckConstraint("period_end >= period_start", name="period"),
        sa.CheckConstraint(f"kind IN {REPORT_KINDS!r}", name="kind"),
        # Sales periods never overlap, and a license year's shortfall is charged once.
        sa.UniqueConstraint("license_id", "kind", "period_start"),
    )
    id: str = Field(default_factory=lambda: new_id("roy"), primary_key=True, max_length=40)
    license_id: str = Field(foreign_key="licenses.id", index=True, max_length=40)
    kind: str = Field(default="sales", max_length=20)
    period_start: date
    period_end: date
    net_sales: int = money_field()
    chargeable_days: int
    royalty_due: int = money_field()
    due_on: date = Field(index=True)
    status: str = Field(default="due", max_length=20, index=True)
    paid_on: date | None = None
    reported_on: date
    created_at: datetime = created_at_field()


class OpenLicenseDeclaration(SQLModel, table=True):
    """A patentee's public offer to license anyone on these terms (Patent Law arts. 50–52)."""

    __tablename__ = "open_license_declarations"
    __table_args__ = (sa.CheckConstraint(f"status IN {DECLARATION_STATUSES!r}", name="status"),)
    id: str = Field(default_factory=lambda: new_id("olc"), primary_key=True, max_length=40)
    asset_id: str = Field(foreign_key="assets.id", index=True, max_length=40)
    owner_org_id: str = Field(foreign_key="orgs.id", index=True, max_length=40)
    rate_bps: int | None = None
    fixed_fee: int | None = money_field(default=None)
    term_months: int
    free_months: int | None = None
    evaluation_report_ref: str | None = Field(default=None, max_length=100)
    warnings: list[str] = Field(default_factory=list, sa_type=sa.JSON)
    status: str = Field(default="active", max_length=20, index=True)
    declared_on: date
    withdrawn_on: date | None = None
    search_text: str = Field(default="", sa_type=sa.Text)
    created_at: datetime = created_at_field()
