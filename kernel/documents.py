"""Documents attached to the objects they prove: appraisal reports, pledge registration notices, contracts,
claim evidence. The file itself is a content-addressed blob (``kernel.storage``); this is the record of
what it is, on which object, uploaded by whom.

Who may see or attach is the business of the package that owns the object type: it registers an
``access`` function (``@documents.object_type("loan", kinds=...)``) answering, for an actor and an object
id, whether the actor may read (else 404, as for the object itself) and whether it may attach. Uploads are
PDF, PNG, JPEG or XLSX by content (``kernel.uploads``), 20 MiB at most. A document is never changed; a
delete is a soft delete (``deleted_at``), recorded in the audit log, and the blob stays.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel, col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from kernel import audit
from kernel.actor import Actor
from kernel.db import TZDateTime, created_at_field, get_or_404, utcnow
from kernel.errors import Forbidden, NotFound, ValidationFailed
from kernel.ids import new_id
from kernel.pagination import paginate

KINDS = ("appraisal_report", "pledge_registration", "loan_contract", "pledge_contract", "license_contract",
         "claim_evidence", "other")


class Document(SQLModel, table=True):
    __tablename__ = "documents"
    __table_args__ = (sa.Index("ix_documents_object", "object_type", "object_id"),
                      sa.CheckConstraint(f"kind IN {KINDS!r}", name="kind"))
    id: str = Field(default_factory=lambda: new_id("doc"), primary_key=True, max_length=40)
    object_type: str = Field(max_length=40)
    object_id: str = Field(max_length=40)
    kind: str = Field(max_length=30)
    sha256: str = Field(max_length=64, index=True)
    size: int
    content_type: str = Field(max_length=100)
    filename: str = Field(default="", max_length=255)
    org_id: str = Field(foreign_key="orgs.id", max_length=40)
    user_id: str = Field(max_length=40)
    created_at: datetime = created_at_field()
    deleted_at: datetime | None = Field(default=None, sa_type=TZDateTime)
    deleted_by_user_id: str | None = Field(default=None, max_length=40)


@dataclass(frozen=True)
class Access:
    read: bool
    attach: bool


AccessFn = Callable[[AsyncSession, Actor, str], Awaitable[Access]]


@dataclass(frozen=True)
class ObjectType:
    name: str
    kinds: tuple[str, ...]
    access: AccessFn


_types: dict[str, ObjectType] = {}


def object_type(name: str, *, kinds: tuple[str, ...]) -> Callable[[AccessFn], AccessFn]:
    """Register who may read and attach documents of objects of ``name`` (the fn raises or answers
    ``Access``; not readable is 404)."""

    def register(fn: AccessFn) -> AccessFn:
        _types[name] = ObjectType(name, kinds, fn)
        return fn

    return register


def object_types() -> list[str]:
    return sorted(_types)


def _type(name: str) -> ObjectType:
    found = _types.get(name)
    if found is None:
        raise ValidationFailed.at(["body", "object_type"], f"object_type must be one of {', '.join(object_types())}")
    return found


async def access(session: AsyncSession, actor: Actor, object_type_name: str, object_id: str) -> Access:
    """What ``actor`` may do with the documents of the object; NotFound when it may not see the object."""
    kind = _type(object_type_name)
    found = await kind.access(session, actor, object_id)
    if not found.read:
        raise NotFound(f"{object_type_name.replace('_', ' ')} {object_id} not found")
    return found


async def attach(session: AsyncSession, actor: Actor, *, object_type_name: str, object_id: str, kind: str,
                 sha256: str, size: int, content_type: str, filename: str) -> tuple[Document, bool]:
    """Record a stored file as a document of the object; (document, created). The same bytes attached
    again as the same kind to the same object answer the document already there."""
    registered = _type(object_type_name)
    if kind not in registered.kinds:
        raise ValidationFailed.at(["body", "kind"], f"kind must be one of {', '.join(registered.kinds)}")
    allowed = await access(session, actor, object_type_name, object_id)
    if not allowed.attach:
        raise Forbidden("only the parties of the object attach documents")
    existing = (await session.exec(select(Document).where(
        Document.object_type == object_type_name, Document.object_id == object_id, Document.kind == kind,
        Document.sha256 == sha256, col(Document.deleted_at).is_(None)))).first()
    if existing is not None:
        return existing, False
    doc = Document(object_type=object_type_name, object_id=object_id, kind=kind, sha256=sha256, size=size,
                   content_type=content_type, filename=filename[:255], org_id=actor.org_id,
                   user_id=actor.user_id)
    session.add(doc)
    await session.flush()
    await audit.record(session, actor, "document.attached", "document", doc.id,
                       after={"object_type": object_type_name, "object_id": object_id, "kind": kind,
                              "sha256": sha256, "size": size, "content_type": content_type})
    return doc, True


async def list_documents(session: AsyncSession, actor: Actor, object_type_name: str, object_id: str,
                         kind: str | None, limit: int, cursor: str | None) -> tuple[list[Document], bool, str | None]:
    await access(session, actor, object_type_name, object_id)
    stmt = select(Document).where(Document.object_type == object_type_name, Document.object_id == object_id,
                                  col(Document.deleted_at).is_(None))
    if kind:
        stmt = stmt.where(Document.kind == kind)
    return await paginate(session, stmt, Document.id, limit, cursor)


async def get_document(session: AsyncSession, actor: Actor, document_id: str, *, lock: bool = False) -> Document:
    """A live document whose object the caller may see; anything else is 404."""
    doc = await get_or_404(session, Document, document_id, lock=lock,
                           visible=lambda d: d.deleted_at is None)
    try:
        await access(session, actor, doc.object_type, doc.object_id)
    except NotFound:
        raise NotFound(f"document {document_id} not found") from None
    return doc


async def delete_document(session: AsyncSession, actor: Actor, document_id: str) -> Document:
    """Soft delete by the uploading organisation: hidden from lists, kept (with the blob) for the audit."""
    doc = await get_document(session, actor, document_id, lock=True)
    if doc.org_id != actor.org_id:
        raise Forbidden("only the organisation that attached a document deletes it")
    doc.deleted_at, doc.deleted_by_user_id = utcnow(), actor.user_id
    session.add(doc)
    await audit.record(session, actor, "document.deleted", "document", doc.id,
                       before={"deleted_at": None},
                       after={"deleted_at": doc.deleted_at, "object_type": doc.object_type,
                              "object_id": doc.object_id, "sha256": doc.sha256})
    return doc


async def has_document(session: AsyncSession, object_type_name: str, object_id: str, kind: str) -> bool:
    """Whether the object carries a live document of ``kind`` (a rule may require one)."""
    found = await session.exec(select(Document.id).where(
        Document.object_type == object_type_name, Document.object_id == object_id, Document.kind == kind,
        col(Document.deleted_at).is_(None)).limit(1))
    return found.first() is not None
