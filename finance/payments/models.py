"""Tables of the payment gateway: one row per money movement, and every provider event received."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from kernel.db import TZDateTime, created_at_field, money_field, utcnow
from kernel.ids import new_id
from kernel.workflow import Workflow

# What a payment is for. A refund is not a payment of its own: it reverses one payment, whose row moves
# to ``refunded`` (so the unique key of the domain action and the escrow state stay on one row).
PURPOSES = ("deal", "repayment", "disbursement", "payout", "compensation", "subsidy", "recovery",
            "royalty", "fee")
# charge: a payment intent taking money from the payer; payout: money from the platform to an account.
METHODS = ("charge", "payout")
STATUSES = ("processing", "succeeded", "failed", "canceled", "refunded")
ESCROW_STATES = ("held", "released", "refunded")
PROVIDERS = ("local", "http")

# The provider lifecycle. A status never moves backwards: an event that would is recorded and ignored
# (events arrive out of order).
PAYMENT = Workflow("payment", {
    ("processing", "succeed"): "succeeded",
    ("processing", "fail"): "failed",
    ("processing", "cancel"): "canceled",
    ("succeeded", "refund"): "refunded",
}, initial="processing")
# The action that reaches each status the provider reports.
ACTION_TO: dict[str, str] = {"succeeded": "succeed", "failed": "fail", "canceled": "cancel", "refunded": "refund"}
# Escrow of a deal's payment: held once the buyer's money arrives (``start``), then released to the
# seller when the deal is recorded, or refunded to the buyer when it is cancelled. ``None``: nothing held.
ESCROW = Workflow("payment_escrow", {
    ("held", "release"): "released",
    ("held", "refund"): "refunded",
}, initial="held", field="escrow_state")
EVENT_OUTCOMES = ("applied", "ignored", "stale", "unknown_object", "conflict")


def _in(values: tuple[str, ...]) -> str:
    return "(" + ", ".join(f"'{v}'" for v in values) + ")"


class Payment(SQLModel, table=True):
    __tablename__ = "payments"
    __table_args__ = (
        # One domain action can never create two payments: a retry names the same key and gets this row.
        sa.UniqueConstraint("purpose", "object_type", "object_id", "idempotency_key"),
        sa.UniqueConstraint("provider", "provider_reference"),
        sa.CheckConstraint("amount > 0", name="amount_positive"),
        sa.CheckConstraint("currency = 'CNY'", name="currency"),
        sa.CheckConstraint(f"purpose IN {_in(PURPOSES)}", name="purpose"),
        sa.CheckConstraint(f"method IN {_in(METHODS)}", name="method"),
        sa.CheckConstraint(f"status IN {_in(STATUSES)}", name="status"),
        sa.CheckConstraint(f"provider IN {_in(PROVIDERS)}", name="provider"),
        sa.CheckConstraint(f"escrow_state IS NULL OR escrow_state IN {_in(ESCROW_STATES)}", name="escrow_state"),
        sa.CheckConstraint("escrow OR escrow_state IS NULL", name="escrow_only_when_escrowed"),
        sa.CheckConstraint("payer_org_id <> payee_org_id", name="distinct_parties"),
        sa.CheckConstraint("platform_fee >= 0 AND platform_fee < amount", name="platform_fee"),
        sa.CheckConstraint("escrow OR platform_fee = 0", name="fee_only_when_escrowed"),
    )
    id: str = Field(default_factory=lambda: new_id("pay"), primary_key=True, max_length=40)
    method: str = Field(max_length=10)
    purpose: str = Field(max_length=20)
    payer_org_id: str = Field(foreign_key="orgs.id", index=True, max_length=40)
    payee_org_id: str = Field(foreign_key="orgs.id", index=True, max_length=40)
    object_type: str = Field(max_length=40)
    object_id: str = Field(max_length=40, index=True)
    idempotency_key: str = Field(max_length=100)
    amount: int = money_field()
    currency: str = Field(default="CNY", max_length=3)
    provider: str = Field(max_length=10)
    # The key sent to the provider: derived from the unique key above, so even a retry after our own
    # transaction rolled back reaches the provider's stored result instead of charging twice.
    provider_key: str = Field(max_length=80)
    provider_reference: str | None = Field(default=None, max_length=80)
    status: str = Field(default="processing", max_length=12)
    escrow: bool = False
    # Of an escrowed charge, what the platform keeps as its service fee when the escrow is paid on.
    platform_fee: int = money_field(default=0)
    escrow_state: str | None = Field(default=None, max_length=10)
    transfer_reference: str | None = Field(default=None, max_length=80)
    refund_reference: str | None = Field(default=None, max_length=80)
    failure_code: str | None = Field(default=None, max_length=60)
    failure_message: str | None = Field(default=None, max_length=300)
    description: str | None = Field(default=None, max_length=300)
    created_by: str = Field(max_length=40)
    created_at: datetime = created_at_field()
    updated_at: datetime = Field(default_factory=utcnow, sa_type=TZDateTime)
    settled_at: datetime | None = Field(default=None, sa_type=TZDateTime)
    # Asked of the provider after commit (outbox jobs); set when requested, cleared if the provider refuses.
    release_requested_at: datetime | None = Field(default=None, sa_type=TZDateTime)
    refund_requested_at: datetime | None = Field(default=None, sa_type=TZDateTime)
    # Refunds asked so far: one asked again after the provider refused the last is a new request (its own key).
    refund_attempts: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    released_at: datetime | None = Field(default=None, sa_type=TZDateTime)
    refunded_at: datetime | None = Field(default=None, sa_type=TZDateTime)


class PaymentEvent(SQLModel, table=True):
    """A provider event, kept once per event id (the unique key makes each event take effect once)."""

    __tablename__ = "payment_events"
    __table_args__ = (sa.CheckConstraint(f"outcome IN {_in(EVENT_OUTCOMES)}", name="outcome"),)
    id: str = Field(default_factory=lambda: new_id("pev"), primary_key=True, max_length=40)
    event_id: str = Field(max_length=100, unique=True)
    type: str = Field(max_length=60)
    source: str = Field(max_length=10)  # webhook | local
    provider_object_id: str | None = Field(default=None, max_length=80, index=True)
    payment_id: str | None = Field(default=None, foreign_key="payments.id", index=True, max_length=40)
    outcome: str = Field(default="ignored", max_length=20)
    payload: dict[str, Any] = Field(default_factory=dict, sa_type=sa.JSON)
    received_at: datetime = created_at_field()
