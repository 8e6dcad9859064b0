from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

ListingMode = Literal["assignment", "exclusive_license", "sole_license", "nonexclusive_license"]
ListingStatus = Literal["open", "under_contract", "sold", "withdrawn", "expired"]
DealStatus = Literal["awaiting_payment", "paid", "recorded", "cancelled"]
Money = Annotated[int, Field(gt=0, le=10**14)]  # up to ¥1 trillion in fen
AssetId = Annotated[str, StringConstraints(min_length=1, max_length=40)]


class Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class ListingIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    asset_ids: list[AssetId] = Field(min_length=1, max_length=50)
    mode: ListingMode
    price: Money
    title: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=300)] | None = None
    description: Annotated[str, StringConstraints(strip_whitespace=True, max_length=10000)] | None = None
    expires_on: date | None = None
    # License modes only: term and running royalty on net sales ("use first, pay later" free months).
    term_months: int | None = Field(default=None, ge=1, le=600)
    rate_bps: int | None = Field(default=None, ge=1, le=10000)
    free_months: int | None = Field(default=None, ge=0, le=120)
    minimum_annual: Money | None = None

    @model_validator(mode="after")
    def _terms_for_licenses(self) -> ListingIn:
        if self.mode == "assignment" and any(v is not None for v in (self.term_months, self.rate_bps,
                                                                      self.free_months, self.minimum_annual)):
            raise ValueError("license terms belong to license listings, not assignments")
        return self


class ListingOut(Out):
    id: str
    seller_org_id: str
    mode: str
    price: int
    title: str
    description: str | None
    asset_ids: list[str]
    ipc_codes: list[str]
    term_months: int | None
    rate_bps: int | None
    free_months: int | None
    minimum_annual: int | None
    status: str
    listed_on: date
    expires_on: date | None
    deal_id: str | None
    created_at: datetime


class OfferIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    amount: Money
    message: Annotated[str, StringConstraints(strip_whitespace=True, max_length=2000)] | None = None


class OfferOut(Out):
    id: str
    listing_id: str
    buyer_org_id: str
    seller_org_id: str
    amount: int
    message: str | None
    status: str
    deal_id: str | None
    created_at: datetime


class DealOut(Out):
    id: str
    contract_no: str
    source: str
    mode: str
    status: str
    amount: int
    # The platform's service fee, borne by the seller, and what the seller's side receives.
    platform_fee: int = 0
    seller_proceeds: int = 0
    seller_region: str | None
    buyer_region: str | None
    industry: str | None
    asset_ids: list[str]
    seller_org_id: str
    buyer_org_id: str
    organiser_org_id: str | None
    proceeds_to: str | None
    listing_id: str | None
    offer_id: str | None
    auction_id: str | None
    license_id: str | None
    term_months: int | None
    rate_bps: int | None
    free_months: int | None
    minimum_annual: int | None
    payment_id: str | None
    blocked_reason: str | None
    cancel_reason: str | None
    agreed_on: date
    paid_on: date | None
    recorded_on: date | None
    cancelled_on: date | None
    created_at: datetime

    @model_validator(mode="after")
    def _net(self) -> DealOut:
        self.seller_proceeds = self.amount - self.platform_fee
        return self


class AcceptOut(Out):
    offer: OfferOut
    deal: DealOut
