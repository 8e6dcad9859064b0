from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from kernel.db import TZDateTime, attach_ddl, created_at_field, money_field, table_of, utcnow
from kernel.ids import new_id
from kernel.text import WORD_PART_MAX
from kernel.workflow import Workflow

LISTING_MODES = ("assignment", "exclusive_license", "sole_license", "nonexclusive_license")
LISTING_STATUSES = ("open", "under_contract", "sold", "withdrawn", "expired")
OFFER_STATUSES = ("pending", "accepted", "rejected", "withdrawn", "declined")
DEAL_STATUSES = ("awaiting_payment", "paid", "recorded", "cancelled")
DEAL_SOURCES = ("listing", "auction", "open_license")

LISTING = Workflow("listing", {
    ("open", "contract"): "under_contract",  # an offer was accepted: a deal awaits payment
    ("open", "withdraw"): "withdrawn",
    ("open", "expire"): "expired",
    ("under_contract", "sell"): "sold",  # its deal was recorded
    ("under_contract", "reopen"): "open",  # its deal was cancelled before the listing expired
    # Its deal was cancelled after the listing expired, or ownership moved by another deal.
    ("under_contract", "withdraw"): "withdrawn",
}, initial="open")
OFFER = Workflow("offer", {
    ("pending", "accept"): "accepted",
    ("pending", "reject"): "rejected",
    ("pending", "withdraw"): "withdrawn",
    ("pending", "decline"): "declined",  # another offer was accepted, or the listing closed
}, initial="pending")
DEAL = Workflow("deal", {
    ("awaiting_payment", "pay"): "paid",  # the gateway holds the buyer's money in escrow
    ("awaiting_payment", "cancel"): "cancelled",
    # An open license is granted by notice: its deal is recorded at once, with nothing to escrow.
    ("awaiting_payment", "record_by_notice"): "recorded",
    ("paid", "record"): "recorded",
    # A paid deal whose recording is refused (e.g. a pledge registered meanwhile) may be cancelled
    # and the escrowed money returned.
    ("paid", "cancel"): "cancelled",
}, initial="awaiting_payment")


class Listing(SQLModel, table=True):
    __tablename__ = "listings"
    __table_args__ = (
        sa.CheckConstraint(f"mode IN {LISTING_MODES!r}", name="mode"),
        sa.CheckConstraint(f"status IN {LISTING_STATUSES!r}", name="status"),
        sa.CheckConstraint("price > 0", name="price"),
        # Searches filter by status and page newest first: this index serves both without a sort.
        sa.Index("ix_listings_status_id", "status", "id"),
    )
    id: str = Field(default_factory=lambda: new_id("lst"), primary_key=True, max_length=40)
    seller_org_id: str = Field(foreign_key="orgs.id", index=True, max_length=40)
    mode: str = Field(max_length=30, index=True)
    price: int = money_field()
    title: str = Field(max_length=300)
    description: str | None = Field(default=None, sa_type=sa.Text)
    asset_ids: list[str] = Field(default_factory=list, sa_type=sa.JSON)
    ipc_codes: list[str] = Field(default_factory=list, sa_type=sa.JSON)
    # " H01M 10/613 | H01M " joined codes and subclasses, what the `ipc` filter matches with LIKE.
    ipc_text: str = Field(default="", sa_type=sa.Text)
    # Normalised listing title/description and the assets' titles/abstracts, what `q` matches.
    search_text: str = Field(default="", sa_type=sa.Text)
    # License terms (license modes only): price is the fixed fee; running royalty on net sales.
    term_months: int | None = None
    rate_bps: int | None = None
    free_months: int | None = None
    minimum_annual: int | None = money_field(default=None)
    status: str = Field(default="open", max_length=20, index=True)
    listed_on: date
    expires_on: date | None = Field(default=None, index=True)
    deal_id: str | None = Field(default=None, max_length=40)
    created_at: datetime = created_at_field()
    updated_at: datetime = Field(default_factory=utcnow, sa_type=TZDateTime)


# Listing search on PostgreSQL: a pg_trgm GIN index serves ``q``'s LIKE conditions (a scan of every listing
# otherwise). SQLite scans. The Alembic migration runs these too; see market.assets.models.SEARCH_DDL.
def _trigram_index(model: type[SQLModel], name: str, column: str) -> list[str]:
    """The DDL of a pg_trgm GIN index on ``model``'s ``column``, attached to create_all and drop_all on
    PostgreSQL (the migration runs the same statements)."""
    table = table_of(model)
    ddl = ["CREATE EXTENSION IF NOT EXISTS pg_trgm",
           f"CREATE INDEX IF NOT EXISTS {name} ON {table.name} USING gin ({column} gin_trgm_ops)"]
    attach_ddl(table, {"postgresql": ddl}, {"postgresql": [f"DROP INDEX IF EXISTS {name}"]})
    return ddl


LISTING_SEARCH_DDL = _trigram_index(Listing, "ix_listings_search_text_trgm", "search_text")


class ListingTerm(SQLModel, table=True):
    """Listing search's inverted index on PostgreSQL (see market.trading.service.list_listings): each
    listing's words and CJK bigrams (kernel.text.index_terms of its search_text), written with the
    listing (its search_text never changes). Ordered by term then listing, so a search walks one term's
    listings newest first and stops after a page."""

    __tablename__ = "listing_terms"
    term: str = Field(primary_key=True, max_length=2 * WORD_PART_MAX)
    listing_id: str = Field(foreign_key="listings.id", primary_key=True, max_length=40)


class ListingWord(SQLModel, table=True):
    """Every word of ``listing_terms`` once (no CJK bigrams): a query word is looked up in them by
    substring, through the trigram index of LISTING_WORDS_DDL; a word stays when its listings close."""

    __tablename__ = "listing_words"
    term: str = Field(primary_key=True, max_length=2 * WORD_PART_MAX)


LISTING_WORDS_DDL = _trigram_index(ListingWord, "ix_listing_words_term_trgm", "term")


class ListingsVersion(SQLModel, table=True):
    """One row, rewritten by LISTINGS_VERSION_DDL's triggers in every transaction that changes a listing or
    its assets: a worker's cached search page (api.routers.trading) is served only while the version it
    was read under is still the current one. PostgreSQL writes the writer's transaction id, SQLite a
    random number: neither comes back, so a version once replaced never matches again. No row: no
    listing has changed since the table was made."""

    __tablename__ = "listings_version"
    id: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})  # always 1
    n: int = Field(sa_type=sa.BigInteger)


_VERSIONED = ("listings", "listing_assets")  # the tables whose changes move ListingsVersion
LISTINGS_VERSION_DDL = {
    # Deferred to the commit, so a transaction takes the one row's lock last, when it already holds its
    # listings' (no new lock-order deadlock).
    "postgresql": [
        "CREATE OR REPLACE FUNCTION ipm_listings_changed() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        "INSERT INTO listings_version (id, n) VALUES (1, txid_current()) ON CONFLICT (id) DO UPDATE "
        "SET n = EXCLUDED.n WHERE listings_version.n <> EXCLUDED.n; RETURN NULL; END $$",
        *(f"CREATE CONSTRAINT TRIGGER {t}_changed AFTER INSERT OR UPDATE OR DELETE ON {t} "
          f"DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION ipm_listings_changed()" for t in _VERSIONED)],
    "sqlite": [f"CREATE TRIGGER IF NOT EXISTS {t}_changed_{op[0].lower()} AFTER {op} ON {t} BEGIN "
               f"INSERT OR REPLACE INTO listings_version (id, n) VALUES (1, random()); END"
               for t in _VERSIONED for op in ("INSERT", "UPDATE", "DELETE")],
}
LISTINGS_VERSION_DROP_DDL = {
    "postgresql": [*(f"DROP TRIGGER IF EXISTS {t}_changed ON {t}" for t in _VERSIONED),
                   "DROP FUNCTION IF EXISTS ipm_listings_changed()"],
    "sqlite": [f"DROP TRIGGER IF EXISTS {t}_changed_{op}" for t in _VERSIONED for op in "iud"],
}


class ListingAsset(SQLModel, table=True):
    """Which assets a listing offers (indexed both ways for the in-flight checks)."""

    __tablename__ = "listing_assets"
    listing_id: str = Field(foreign_key="listings.id", primary_key=True, max_length=40)
    asset_id: str = Field(foreign_key="assets.id", primary_key=True, max_length=40, index=True)


class Offer(SQLModel, table=True):
    __tablename__ = "offers"
    __table_args__ = (
        sa.CheckConstraint(f"status IN {OFFER_STATUSES!r}", name="status"),
        sa.CheckConstraint("amount > 0", name="amount"),
    )
    id: str = Field(default_factory=lambda: new_id("ofr"), primary_key=True, max_length=40)
    listing_id: str = Field(foreign_key="listings.id", index=True, max_length=40)
    buyer_org_id: str = Field(foreign_key="orgs.id", index=True, max_length=40)
    seller_org_id: str = Field(foreign_key="orgs.id", max_length=40)
    amount: int = money_field()
    message: str | None = Field(default=None, max_length=2000)
    status: str = Field(default="pending", max_length=20)
    deal_id: str | None = Field(default=None, max_length=40)
    created_at: datetime = created_at_field()
    updated_at: datetime = Field(default_factory=utcnow, sa_type=TZDateTime)


class Deal(SQLModel, table=True):
    """A contract to assign or license: paid through the gateway (escrow), then recorded (合同备案).

    Amount, mode, date and the parties are kept for the statistics (region and industry are reached
    through the organisations and assets).
    """

    __tablename__ = "deals"
    __table_args__ = (
        sa.CheckConstraint(f"status IN {DEAL_STATUSES!r}", name="status"),
        sa.CheckConstraint(f"source IN {DEAL_SOURCES!r}", name="source"),
        sa.CheckConstraint("amount >= 0", name="amount"),
        sa.CheckConstraint("platform_fee >= 0 AND platform_fee <= amount", name="platform_fee"),
    )
    id: str = Field(default_factory=lambda: new_id("dl"), primary_key=True, max_length=40)
    contract_no: str = Field(max_length=20, unique=True)
    source: str = Field(max_length=20)
    mode: str = Field(max_length=30, index=True)  # assignment | *_license | open_license
    listing_id: str | None = Field(default=None, max_length=40, index=True)
    offer_id: str | None = Field(default=None, max_length=40)
    auction_id: str | None = Field(default=None, max_length=40, index=True)
    asset_ids: list[str] = Field(default_factory=list, sa_type=sa.JSON)
    seller_org_id: str = Field(foreign_key="orgs.id", index=True, max_length=40)  # the assets' owner
    buyer_org_id: str = Field(foreign_key="orgs.id", index=True, max_length=40)
    # Who ran the sale when not the owner (a pledgee bank disposing of collateral).
    organiser_org_id: str | None = Field(default=None, max_length=40, index=True)
    # Where the proceeds go, for finance to route (e.g. "loan:<id>" for a disposal).
    proceeds_to: str | None = Field(default=None, max_length=120)
    # The pledge being enforced by this sale: it does not block recording the assignment.
    allow_pledged_by: str | None = Field(default=None, max_length=40)
    amount: int = money_field()
    # The platform's service fee (IPM_DEAL_FEE_BPS of the amount, half-up, fixed when agreed), borne by
    # the seller: kept by the platform when the escrow is paid on at settlement.
    platform_fee: int = money_field(default=0)
    # Kept as they were when agreed, so the statistics by region and industry do not move when an
    # organisation's profile changes later: the parties' regions and the assets' industry.
    seller_region: str | None = Field(default=None, max_length=12, index=True)
    buyer_region: str | None = Field(default=None, max_length=12, index=True)
    industry: str | None = Field(default=None, max_length=80, index=True)
    # License terms for license deals.
    term_months: int | None = None
    rate_bps: int | None = None
    free_months: int | None = None
    minimum_annual: int | None = money_field(default=None)
    status: str = Field(default="awaiting_payment", max_length=20, index=True)
    payment_id: str | None = Field(default=None, max_length=80)
    license_id: str | None = Field(default=None, max_length=40)
    # Why a paid deal could not be recorded yet (e.g. a pledge registered meanwhile).
    blocked_reason: str | None = Field(default=None, max_length=500)
    cancel_reason: str | None = Field(default=None, max_length=500)
    agreed_on: date
    paid_on: date | None = None
    recorded_on: date | None = Field(default=None, index=True)
    cancelled_on: date | None = None
    created_at: datetime = created_at_field()
    updated_at: datetime = Field(default_factory=utcnow, sa_type=TZDateTime)


class DealAsset(SQLModel, table=True):
    __tablename__ = "deal_assets"
    deal_id: str = Field(foreign_key="deals.id", primary_key=True, max_length=40)
    asset_id: str = Field(foreign_key="assets.id", primary_key=True, max_length=40, index=True)


class ContractCounter(SQLModel, table=True):
    """The last contract number issued per year (IPM-2026-000123), locked to issue the next."""

    __tablename__ = "contract_counters"
    year: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    last_no: int = 0


# ListingsVersion's triggers (the migration runs the same SQL). They go in after listing_assets, made after
# listings; the functions' bodies are only resolved when they run, after listings_version exists too.
attach_ddl(table_of(ListingAsset), LISTINGS_VERSION_DDL, LISTINGS_VERSION_DROP_DDL)
