from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from kernel.db import TZDateTime, created_at_field, utcnow
from kernel.ids import new_id

NEED_STATUSES = ("open", "closed")
VERDICTS = ("interested", "not_relevant")


class TechNeed(SQLModel, table=True):
    __tablename__ = "tech_needs"
    __table_args__ = (sa.CheckConstraint(f"status IN {NEED_STATUSES!r}", name="status"),)
    id: str = Field(default_factory=lambda: new_id("ned"), primary_key=True, max_length=40)
    org_id: str = Field(foreign_key="orgs.id", index=True, max_length=40)
    title: str = Field(max_length=300)
    description: str = Field(sa_type=sa.Text)
    ipc_codes: list[str] = Field(default_factory=list, sa_type=sa.JSON)
    industry: str | None = Field(default=None, max_length=80, index=True)
    status: str = Field(default="open", max_length=20, index=True)
    search_text: str = Field(default="", sa_type=sa.Text)
    created_at: datetime = created_at_field()


class MatchFeedback(SQLModel, table=True):
    """The need owner's verdict on a recommended pair; the latest verdict counts."""

    __tablename__ = "match_feedback"
    __table_args__ = (sa.UniqueConstraint("need_id", "asset_id"),
                      sa.CheckConstraint(f"verdict IN {VERDICTS!r}", name="verdict"))
    id: str = Field(default_factory=lambda: new_id("mfb"), primary_key=True, max_length=40)
    need_id: str = Field(foreign_key="tech_needs.id", index=True, max_length=40)
    asset_id: str = Field(foreign_key="assets.id", index=True, max_length=40)
    org_id: str = Field(foreign_key="orgs.id", max_length=40)
    verdict: str = Field(max_length=20)
    created_at: datetime = created_at_field()
    updated_at: datetime = Field(default_factory=utcnow, sa_type=TZDateTime)


DOC_TYPES = ("asset", "need")


class MatchDoc(SQLModel, table=True):
    """One indexed document: its term counts (for exact re-ranking and reasons) and vector length.

    ``source_updated_at`` is the asset's ``updated_at`` when it was indexed: a different value means the
    text may have changed and the document is re-indexed (lazily at query time, or by the day-end).
    """

    __tablename__ = "match_docs"
    __table_args__ = (sa.CheckConstraint(f"doc_type IN {DOC_TYPES!r}", name="doc_type"),
                      sa.Index(None, "doc_type", "source_updated_at"))
    doc_type: str = Field(primary_key=True, max_length=10)
    doc_id: str = Field(primary_key=True, max_length=40)
    counts: dict[str, int] = Field(default_factory=dict, sa_type=sa.JSON)
    ipc_terms: list[str] = Field(default_factory=list, sa_type=sa.JSON)
    norm: float = 1.0
    source_updated_at: datetime | None = Field(default=None, sa_type=TZDateTime)
    indexed_at: datetime = Field(default_factory=utcnow, sa_type=TZDateTime)


class MatchTerm(SQLModel, table=True):
    """The inverted index: one posting per (term, document); weight = tf / the document's vector length
    at indexing (IPC terms 1).

    The primary key (doc_type, term, doc_id) is the lookup order; on SQLite the table is clustered on
    it (WITHOUT ROWID) so reading a term's postings is one range scan.
    """

    __tablename__ = "match_terms"
    __table_args__ = ({"sqlite_with_rowid": False},)
    doc_type: str = Field(primary_key=True, max_length=10)
    term: str = Field(primary_key=True, max_length=80)
    doc_id: str = Field(primary_key=True, max_length=40)
    weight: float


class MatchDf(SQLModel, table=True):
    """Document frequency of each term per document type (IPC terms included, under their prefix)."""

    __tablename__ = "match_dfs"
    doc_type: str = Field(primary_key=True, max_length=10)
    term: str = Field(primary_key=True, max_length=80)
    df: int = 0

