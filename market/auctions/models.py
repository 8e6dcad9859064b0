from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from kernel.db import TZDateTime, created_at_field, money_field, utcnow
from kernel.ids import new_id
from kernel.workflow import Workflow

AUCTION_STATUSES = ("open", "sold", "unsold", "cancelled")

AUCTION = Workflow("auction", {
    ("open", "sell"): "sold",  # reserve met at the close: a deal awaits the winner's payment
    ("open", "close_unsold"): "unsold",
    ("open", "cancel"): "cancelled",
    # A sold lot whose deal is cancelled (the winner never paid) is unsold and may be re-listed.
    ("sold", "cancel_sale"): "unsold",
}, initial="open")


class Auction(SQLModel, table=True):
    __tablename__ = "auctions"
    __table_args__ = (
        sa.CheckConstraint(f"status IN {AUCTION_STATUSES!r}", name="status"),
        sa.CheckConstraint("start_price > 0 AND reserve_price >= 0 AND min_increment > 0", name="prices"),
        sa.CheckConstraint("extension_days >= 0", name="extension_days"),
    )
    id: str = Field(default_factory=lambda: new_id("auc"), primary_key=True, max_length=40)
    seller_org_id: str = Field(foreign_key="orgs.id", index=True, max_length=40)  # the assets' owner
    organiser_org_id: str = Field(foreign_key="orgs.id", index=True, max_length=40)  # owner or pledgee
    asset_ids: list[str] = Field(default_factory=list, sa_type=sa.JSON)
    title: str = Field(max_length=300)
    start_price: int = money_field()
    reserve_price: int = money_field()
    min_increment: int = money_field()
    opened_on: date
    ends_on: date = Field(index=True)
    extension_days: int = 1
    status: str = Field(default="open", max_length=20, index=True)
    highest_bid: int | None = money_field(default=None)
    highest_bidder_org_id: str | None = Field(default=None, max_length=40)
    bid_count: int = 0
    deal_id: str | None = Field(default=None, max_length=40)
    relisted_from: str | None = Field(default=None, max_length=40)
    relisted_as: str | None = Field(default=None, max_length=40)
    # Disposal of collateral: the pledge being enforced (not a blocker) and where proceeds go.
    allow_pledged_by: str | None = Field(default=None, max_length=40)
    proceeds_to: str | None = Field(default=None, max_length=120)
    closed_on: date | None = None
    created_at: datetime = created_at_field()
    updated_at: datetime = Field(default_factory=utcnow, sa_type=TZDateTime)


class AuctionAsset(SQLModel, table=True):
    __tablename__ = "auction_assets"
    auction_id: str = Field(foreign_key="auctions.id", primary_key=True, max_length=40)
    asset_id: str = Field(foreign_key="assets.id", primary_key=True, max_length=40, index=True)


class Bid(SQLModel, table=True):
    __tablename__ = "bids"
    __table_args__ = (sa.CheckConstraint("amount > 0", name="amount"),)
    id: str = Field(default_factory=lambda: new_id("bid"), primary_key=True, max_length=40)
    auction_id: str = Field(foreign_key="auctions.id", index=True, max_length=40)
    bidder_org_id: str = Field(foreign_key="orgs.id", max_length=40)
    amount: int = money_field()
    placed_on: date
    extended_to: date | None = None
    created_at: datetime = created_at_field()
