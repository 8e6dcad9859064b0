from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

Purpose = Literal["deal", "repayment", "disbursement", "payout", "compensation", "subsidy", "recovery",
                  "royalty", "fee"]
PayoutPurpose = Literal["payout", "compensation", "subsidy", "recovery"]
Status = Literal["processing", "succeeded", "failed", "canceled", "refunded"]
Ref = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=40,
                                       pattern=r"^[A-Za-z0-9_.:-]+$")]


class PaymentOut(BaseModel):
    id: str
    method: Literal["charge", "payout"]
    purpose: Purpose
    payer_org_id: str
    payee_org_id: str
    object_type: str
    object_id: str
    amount: int
    currency: str
    provider: str
    provider_reference: str | None
    status: Status
    escrow: bool
    escrow_state: Literal["held", "released", "refunded"] | None
    # What the platform keeps of an escrowed deal payment as its service fee (the payee gets the rest).
    platform_fee: int = 0
    failure_code: str | None
    failure_message: str | None
    description: str | None
    created_at: datetime
    updated_at: datetime
    settled_at: datetime | None
    released_at: datetime | None
    refunded_at: datetime | None


class PayoutIn(BaseModel):
    """A payout by the platform to an organisation's account."""

    model_config = ConfigDict(extra="forbid")

    payee_org_id: Ref
    amount: int = Field(gt=0, le=10**13, description="fen")
    purpose: PayoutPurpose = "payout"
    object_type: Ref
    object_id: Ref
    reference: Ref = Field(default="default", description="distinguishes several payouts for one object; "
                                                          "the same reference never pays twice")
    description: Annotated[str, StringConstraints(strip_whitespace=True, max_length=300)] | None = None


class WebhookAck(BaseModel):
    received: bool
    event_id: str
    outcome: str
