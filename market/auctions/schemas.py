from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

Money = Annotated[int, Field(gt=0, le=10**14)]
AuctionStatus = Literal["open", "sold", "unsold", "cancelled"]


class AuctionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    asset_ids: list[Annotated[str, StringConstraints(min_length=1, max_length=40)]] = Field(min_length=1,
                                                                                            max_length=50)
    start_price: Money
    reserve_price: Annotated[int, Field(ge=0, le=10**14)]
    min_increment: Money
    ends_on: date
    extension_days: int = Field(default=1, ge=0, le=30)
    title: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=300)] | None = None


class RelistIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reserve_price: Annotated[int, Field(ge=0, le=10**14)]
    start_price: Money | None = None
    ends_on: date


class BidIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    amount: Money


class AuctionOut(BaseModel):
    id: str
    seller_org_id: str
    organiser_org_id: str
    asset_ids: list[str]
    title: str
    start_price: int
    reserve_price: int | None = Field(description="shown to the seller only")
    reserve_met: bool
    min_increment: int
    minimum_next_bid: int
    opened_on: date
    ends_on: date
    extension_days: int
    status: str
    highest_bid: int | None
    bid_count: int
    deal_id: str | None
    relisted_from: str | None
    relisted_as: str | None
    proceeds_to: str | None
    closed_on: date | None
    created_at: datetime


class BidOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: str
    auction_id: str
    bidder_org_id: str
    amount: int
    placed_on: date
    extended_to: date | None


class BidResultOut(BaseModel):
    bid: BidOut
    auction: AuctionOut
