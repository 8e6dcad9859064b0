from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from kernel.db import TZDateTime, attach_ddl, created_at_field, table_of, utcnow
from kernel.ids import new_id
from kernel.workflow import Workflow
from market.numbers import ASSET_KINDS, GI_FORMS

ASSET_STATUSES = ("pending", "valid", "lapsed", "expired", "invalidated")
ENCUMBRANCE_KINDS = ("pledge", "exclusive_license", "sole_license", "open_license")

# Legal-status moves an owner records (a lapsed patent may be restored by paying the fees late); the
# day-end expires what reached its term. A patent is pending until granted; other rights start valid.
ASSET = Workflow("asset", {
    ("pending", "grant"): "valid",
    ("pending", "invalidate"): "invalidated",
    ("valid", "lapse"): "lapsed",
    ("valid", "expire"): "expired",
    ("valid", "invalidate"): "invalidated",
    ("lapsed", "restore"): "valid",
    ("lapsed", "expire"): "expired",
}, initial=("valid", "pending"))


class Asset(SQLModel, table=True):
    __tablename__ = "assets"
    __table_args__ = (
        sa.UniqueConstraint("kind", "number"),
        sa.CheckConstraint(f"kind IN {ASSET_KINDS!r}", name="kind"),
        sa.CheckConstraint(f"status IN {ASSET_STATUSES!r}", name="status"),
        sa.CheckConstraint("claims_count IS NULL OR claims_count >= 0", name="claims_count"),
        sa.CheckConstraint(f"gi_form IS NULL OR gi_form IN {GI_FORMS!r}", name="gi_form"),
    )
    id: str = Field(default_factory=lambda: new_id("ast"), primary_key=True, max_length=40)
    kind: str = Field(max_length=30, index=True)
    number: str = Field(max_length=64)
    title: str = Field(max_length=300)
    abstract: str | None = Field(default=None, sa_type=sa.Text)
    ipc_codes: list[str] = Field(default_factory=list, sa_type=sa.JSON)
    # First IPC subclass (e.g. "H01M"): the cohort key for scores and comparables, and an index for filters.
    ipc_subclass: str | None = Field(default=None, max_length=8, index=True)
    nice_classes: list[int] = Field(default_factory=list, sa_type=sa.JSON)
    filing_date: date | None = None
    grant_date: date | None = None
    expiry_date: date | None = None
    fees_paid_until: date | None = None
    claims_count: int | None = None
    forward_citations: int | None = None
    family_countries: list[str] = Field(default_factory=list, sa_type=sa.JSON)
    awards: list[str] = Field(default_factory=list, sa_type=sa.JSON)
    industry: str | None = Field(default=None, max_length=80, index=True)
    strategic_emerging: bool = False
    # Geographical indications only: the form of protection, the product, the region of origin (an
    # administrative-division code, GB/T 2260) and the registrant as on the certificate (often an association).
    gi_form: str | None = Field(default=None, max_length=20)
    product: str | None = Field(default=None, max_length=100)
    region: str | None = Field(default=None, max_length=12, index=True)
    registrant: str | None = Field(default=None, max_length=200)
    status: str = Field(default="valid", max_length=20)
    owner_org_id: str = Field(foreign_key="orgs.id", index=True, max_length=40)
    # Largest pledge-financing amount ever registered against it (high-value criterion 4), fen.
    max_pledge_amount: int = Field(default=0, sa_type=sa.BigInteger)
    # Last assignment or license: the dormant pool is what has had none for years.
    last_transaction_on: date | None = None
    # Normalised title + abstract and their CJK bigrams: what `q` matches (market.assets.search). Written
    # only through market.assets.search.search_text.
    search_text: str = Field(default="", sa_type=sa.Text)
    created_at: datetime = created_at_field()
    # Indexed: matching re-indexes the assets changed since its newest indexed version (a range scan).
    updated_at: datetime = Field(default_factory=utcnow, sa_type=TZDateTime, index=True)


class OwnershipRecord(SQLModel, table=True):
    """Who owned an asset when, and through what (registration or a recorded deal). Never deleted."""

    __tablename__ = "ownership_records"
    id: str = Field(default_factory=lambda: new_id("own"), primary_key=True, max_length=40)
    asset_id: str = Field(foreign_key="assets.id", index=True, max_length=40)
    owner_org_id: str = Field(foreign_key="orgs.id", max_length=40)
    from_date: date
    to_date: date | None = None
    via: str = Field(max_length=20)  # registration | deal | disposal
    ref_id: str | None = Field(default=None, max_length=40)


class Encumbrance(SQLModel, table=True):
    __tablename__ = "encumbrances"
    __table_args__ = (sa.CheckConstraint(f"kind IN {ENCUMBRANCE_KINDS!r}", name="kind"),)
    id: str = Field(default_factory=lambda: new_id("enc"), primary_key=True, max_length=40)
    asset_id: str = Field(foreign_key="assets.id", index=True, max_length=40)
    kind: str = Field(max_length=20)
    ref_id: str = Field(max_length=40, index=True)  # the loan, license or declaration behind it
    holder_org_id: str | None = Field(default=None, max_length=40)  # pledgee or licensee
    since: date
    released_on: date | None = None
    # Pledgee's consent (Civil Code art. 444): actions it lets the owner take despite the pledge.
    consents: list[str] = Field(default_factory=list, sa_type=sa.JSON)


# Search index DDL per dialect (see market.assets.search). The Alembic migration runs these too.
# The FTS5 table uses the assets rowid (external content). A VACUUM may renumber the rowids of a table
# without an INTEGER PRIMARY KEY: after one, run INSERT INTO assets_fts(assets_fts) VALUES ('rebuild').
SEARCH_DDL: dict[str, list[str]] = {
    "postgresql": [
        "CREATE EXTENSION IF NOT EXISTS pg_trgm",
        "CREATE INDEX IF NOT EXISTS ix_assets_search_text_trgm ON assets USING gin (search_text gin_trgm_ops)",
    ],
    "sqlite": [
        "CREATE VIRTUAL TABLE IF NOT EXISTS assets_fts USING fts5("
        "search_text, content='assets', content_rowid='rowid', tokenize='trigram')",
        "CREATE TRIGGER IF NOT EXISTS assets_fts_ai AFTER INSERT ON assets BEGIN "
        "INSERT INTO assets_fts(rowid, search_text) VALUES (new.rowid, new.search_text); END",
        "CREATE TRIGGER IF NOT EXISTS assets_fts_ad AFTER DELETE ON assets BEGIN "
        "INSERT INTO assets_fts(assets_fts, rowid, search_text) VALUES ('delete', old.rowid, old.search_text); END",
        "CREATE TRIGGER IF NOT EXISTS assets_fts_au AFTER UPDATE OF search_text ON assets BEGIN "
        "INSERT INTO assets_fts(assets_fts, rowid, search_text) VALUES ('delete', old.rowid, old.search_text); "
        "INSERT INTO assets_fts(rowid, search_text) VALUES (new.rowid, new.search_text); END",
        # Existing rows, when the index is added to a database that already has assets.
        "INSERT INTO assets_fts(assets_fts) VALUES ('rebuild')",
    ],
}
SEARCH_DROP_DDL: dict[str, list[str]] = {
    "postgresql": ["DROP INDEX IF EXISTS ix_assets_search_text_trgm"],
    "sqlite": ["DROP TRIGGER IF EXISTS assets_fts_ai", "DROP TRIGGER IF EXISTS assets_fts_ad",
               "DROP TRIGGER IF EXISTS assets_fts_au", "DROP TABLE IF EXISTS assets_fts"],
}
# Objects the migration makes by hand, which autogenerate must not compare (alembic/env.py).
SEARCH_OBJECT_PREFIXES = ("assets_fts", "ix_assets_search_text_trgm",
                          "ix_listings_search_text_trgm",  # market.trading.models.LISTING_SEARCH_DDL
                          "ix_listing_words_term_trgm")  # and LISTING_WORDS_DDL

attach_ddl(table_of(Asset), SEARCH_DDL, SEARCH_DROP_DDL)
