"""Bulk imports: an uploaded CSV/XLSX becomes a job that the worker runs in chunks, one transaction each.

``POST /imports`` stores the file (``kernel.storage``), checks its header and answers 202 with a job
(``queued``; ``awaiting_approval`` for kinds the platform admin must approve first). The outbox job
``import.run`` then reads the whole file once, stages it as chunk blobs of ``import_chunk_rows`` rows,
and runs the chunks in order, each in its own short transaction that also advances the job's
``next_chunk``. So a worker killed mid-import loses only the chunk it was in (rolled back): whoever takes
the outbox job over resumes at ``next_chunk``, and nothing is imported twice (the chunk transaction
locks the job row and checks ``next_chunk`` first).

What a row means is the business of the package that registers an ``Importer`` for the kind (the asset
registry, the loan book): it judges each row with the same rules as the API and answers what it imported,
what was there already (duplicates) and what it refused, with the column and the reason.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel, col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from kernel import audit, event_log, i18n, outbox, storage, tabular
from kernel.actor import Actor
from kernel.db import TZDateTime, created_at_field, get_or_404, table_of, utcnow
from kernel.errors import DomainError, Forbidden, PayloadTooLarge, ValidationFailed
from kernel.ids import new_id
from kernel.import_files import Column, file_format, read_table
from kernel.settings import get_settings
from kernel.workflow import Workflow

log = logging.getLogger(__name__)

RUN = "import.run"
RUN_ATTEMPTS = 10
Rows = list[tuple[int, dict[str, str]]]

IMPORT = Workflow("import_job", {
    ("awaiting_approval", "approve"): "queued",
    ("awaiting_approval", "refuse"): "failed",
    ("queued", "start"): "running",
    ("queued", "fail"): "failed",
    ("running", "finish"): "done",
    ("running", "fail"): "failed",
}, initial=("queued", "awaiting_approval"))


class ImportJob(SQLModel, table=True):
    __tablename__ = "import_jobs"
    id: str = Field(default_factory=lambda: new_id("imp"), primary_key=True, max_length=40)
    kind: str = Field(max_length=20)
    org_id: str = Field(foreign_key="orgs.id", index=True, max_length=40)
    org_kind: str = Field(max_length=20)
    user_id: str = Field(max_length=40)
    role: str = Field(max_length=20)
    status: str = Field(default="queued", max_length=20, index=True)
    filename: str = Field(default="", max_length=255)
    file_format: str = Field(max_length=4)
    file_sha256: str = Field(max_length=64)
    file_size: int
    chunk_rows: int
    chunks: list[str] | None = Field(default=None, sa_type=sa.JSON)  # staged chunk blobs, once read
    next_chunk: int = 0
    total_rows: int | None = None
    processed_rows: int = 0
    imported: int = 0
    duplicates: int = 0
    rejected: int = 0
    error: str | None = Field(default=None, max_length=1000)
    created_at: datetime = created_at_field()
    updated_at: datetime = Field(default_factory=utcnow, sa_type=TZDateTime)
    finished_at: datetime | None = Field(default=None, sa_type=TZDateTime)


class ImportRowError(SQLModel, table=True):
    """One refused row (or the header): the column and the reason, in English with what translating it
    needs (a pydantic error type and its context, when the rule was a schema's)."""

    __tablename__ = "import_row_errors"
    __table_args__ = (sa.Index("ix_import_row_errors_job_row", "import_id", "row"),)
    id: int | None = Field(default=None, sa_column=sa.Column(sa.BigInteger().with_variant(sa.Integer, "sqlite"),
                                                              primary_key=True, autoincrement=True))
    import_id: str = Field(foreign_key="import_jobs.id", max_length=40)
    row: int
    column: str = Field(max_length=40)
    value: str | None = Field(default=None, max_length=200)
    reason: str = Field(max_length=500)
    error_type: str | None = Field(default=None, max_length=60)
    ctx: dict[str, Any] | None = Field(default=None, sa_type=sa.JSON)


_errors = table_of(ImportRowError)


@dataclass
class RowError:
    row: int
    column: str
    reason: str
    value: str | None = None
    error_type: str | None = None
    ctx: dict[str, Any] | None = None


@dataclass
class ChunkResult:
    imported: int = 0
    duplicates: int = 0
    errors: list[RowError] = field(default_factory=list)

    @property
    def rejected_rows(self) -> int:
        return len({e.row for e in self.errors})


ChunkRunner = Callable[[AsyncSession, Actor, Rows], Awaitable[ChunkResult]]


@dataclass(frozen=True)
class Importer:
    kind: str
    columns: tuple[Column, ...]
    may_import: Callable[[Actor], bool]
    who: str  # for the 403: "SMEs and universities"
    run_chunk: ChunkRunner
    needs_approval: bool = False

    def label(self, key: str, lang: str) -> str:
        found = next((c for c in self.columns if c.key == key), None)
        return found.label(lang) if found else key


_importers: dict[str, Importer] = {}


def register(importer: Importer) -> Importer:
    _importers[importer.kind] = importer
    return importer


def kinds() -> list[str]:
    return sorted(_importers)


def importer_for(kind: str) -> Importer:
    found = _importers.get(kind)
    if found is None:
        raise ValidationFailed.at(["body", "kind"], f"kind must be one of {', '.join(kinds())}")
    return found


# --- the request side ------------------------------------------------------------------------------------

def check_file(kind: str, data: bytes) -> str:
    """The file's format, after the checks a request makes at once (size, content type, header row)."""
    settings = get_settings()
    importer = importer_for(kind)
    if len(data) > settings.max_upload_bytes:
        raise PayloadTooLarge(f"the file must not exceed {settings.max_upload_bytes} bytes")
    if not data:
        raise ValidationFailed.at(["body", "file"], "the file is empty")
    fmt = file_format(data)
    read_table(data, fmt, importer.columns, settings.import_max_rows, header_only=True)
    return fmt


async def create_import(session: AsyncSession, actor: Actor, kind: str, *, sha256: str, size: int, fmt: str,
                        filename: str) -> ImportJob:
    """Record the job for a file already stored under ``sha256`` and queue it (or hold it for approval)."""
    importer = importer_for(kind)
    if not importer.may_import(actor):
        raise Forbidden(f"only {importer.who} may do this")
    job = ImportJob(kind=kind, org_id=actor.org_id, org_kind=actor.org_kind, user_id=actor.user_id,
                    role=actor.role, filename=filename[:255], file_format=fmt, file_sha256=sha256,
                    file_size=size, chunk_rows=get_settings().import_chunk_rows)
    IMPORT.start(job, "awaiting_approval" if importer.needs_approval else "queued")
    session.add(job)
    await session.flush()
    await audit.record(session, actor, "import_job.created", "import_job", job.id,
                       after={"kind": kind, "status": job.status, "file_sha256": sha256, "size": size})
    if job.status == "queued":
        await outbox.enqueue(session, RUN, {"import_id": job.id}, key=f"{RUN}:{job.id}")
    return job


def _visible(actor: Actor) -> Any:
    return sa.true() if actor.is_platform_admin else col(ImportJob.org_id) == actor.org_id


async def get_import(session: AsyncSession, actor: Actor, import_id: str) -> ImportJob:
    return await get_or_404(session, ImportJob, import_id, visible=_visible(actor), label="import")


async def list_imports(session: AsyncSession, actor: Actor, status: str | None, limit: int,
                       cursor: str | None) -> tuple[list[ImportJob], bool, str | None]:
    from kernel.pagination import paginate

    stmt = select(ImportJob).where(_visible(actor))
    if status:
        stmt = stmt.where(ImportJob.status == status)
    return await paginate(session, stmt, ImportJob.id, limit, cursor)


async def decide(session: AsyncSession, actor: Actor, import_id: str, action: str) -> ImportJob:
    """The platform admin approves (queues) or refuses an import that needs approval."""
    if not actor.is_platform_admin:
        raise Forbidden("only the platform admin may do this")
    job = await get_or_404(session, ImportJob, import_id, lock=True, label="import")
    await IMPORT.apply(session, actor, job, action)
    if action == "approve":
        await outbox.enqueue(session, RUN, {"import_id": job.id}, key=f"{RUN}:{job.id}")
    else:
        job.error = "refused by the platform admin"
        job.finished_at = utcnow()
    return job


# --- the worker side -------------------------------------------------------------------------------------

def _actor(job: ImportJob) -> Actor:
    return Actor(user_id=job.user_id, org_id=job.org_id, org_kind=job.org_kind, role=job.role)


def _row_errors(job_id: str, errors: Sequence[RowError]) -> list[dict[str, Any]]:
    return [{"import_id": job_id, "row": e.row, "column": e.column[:40], "reason": e.reason[:500],
             "value": None if e.value is None else str(e.value)[:200], "error_type": e.error_type,
             "ctx": e.ctx} for e in errors]


async def _fail(factory: Any, job_id: str, reason: str, column: str = "file") -> None:
    async with factory() as s:
        job = await get_or_404(s, ImportJob, job_id, lock=True)
        if job.status not in IMPORT.sources("fail"):
            return
        job.error = reason[:1000]
        job.finished_at = utcnow()
        await IMPORT.apply(s, _actor(job), job, "fail")
        await (await s.connection()).execute(sa.insert(_errors),
                                             _row_errors(job_id, [RowError(1, column, reason)]))
        await s.commit()


async def _prepare(factory: Any, job: ImportJob) -> None:
    """Read the whole file once and stage it as chunk blobs (storage first, then one short transaction)."""
    importer = importer_for(job.kind)
    settings = get_settings()
    data = await storage.get(job.file_sha256)
    try:
        parsed = read_table(data, job.file_format, importer.columns, settings.import_max_rows)
    except DomainError as exc:
        await _fail(factory, job.id, exc.detail)
        return
    size = max(job.chunk_rows, 1)
    chunks = [await storage.put_json(parsed.rows[i:i + size]) for i in range(0, len(parsed.rows), size)]
    async with factory() as s:
        locked = await get_or_404(s, ImportJob, job.id, lock=True)
        if locked.chunks is None and locked.status == "queued":
            locked.chunks, locked.total_rows = chunks, len(parsed.rows)
            await IMPORT.apply(s, _actor(locked), locked, "start", total_rows=len(parsed.rows))
            await s.commit()


async def _run_chunk(factory: Any, job_id: str, n: int, sha: str) -> None:
    rows: Rows = [(int(r), dict(v)) for r, v in await storage.get_json(sha)]  # the blob first, no transaction open
    async with factory() as s:
        job = await get_or_404(s, ImportJob, job_id, lock=True)
        if job.status != "running" or job.next_chunk != n:
            return  # another runner did this chunk (or the job ended)
        importer = importer_for(job.kind)
        result = await importer.run_chunk(s, _actor(job), rows)
        if result.errors:
            await (await s.connection()).execute(sa.insert(_errors),
                                                 _row_errors(job.id, result.errors))
        job.next_chunk = n + 1
        job.processed_rows += len(rows)
        job.imported += result.imported
        job.duplicates += result.duplicates
        job.rejected += result.rejected_rows
        job.updated_at = utcnow()
        if job.next_chunk >= len(job.chunks or []):
            job.finished_at = utcnow()
            await IMPORT.apply(s, _actor(job), job, "finish", imported=job.imported,
                               duplicates=job.duplicates, rejected=job.rejected)
        s.add(job)
        await s.commit()


@outbox.handler(RUN, max_attempts=RUN_ATTEMPTS)
async def run_import(ctx: outbox.JobContext, payload: dict[str, Any]) -> None:
    """Prepare (once), then run the chunks from ``next_chunk`` on, each committed on its own."""
    job_id = payload["import_id"]
    factory = ctx.session_factory
    try:
        while True:
            async with factory() as s:
                job = await s.get(ImportJob, job_id)
                if job is not None:
                    s.expunge(job)
            if job is None or job.status not in ("queued", "running"):
                return
            if job.chunks is None:
                await _prepare(factory, job)
                continue
            if job.status == "queued":  # a file without data rows was staged as no chunks
                return
            if job.next_chunk >= len(job.chunks):
                async with factory() as s:  # no rows at all: nothing to run
                    locked = await get_or_404(s, ImportJob, job_id, lock=True)
                    if locked.status == "running":
                        locked.finished_at = utcnow()
                        await IMPORT.apply(s, _actor(locked), locked, "finish", imported=0, duplicates=0,
                                           rejected=0)
                        await s.commit()
                return
            await _run_chunk(factory, job_id, job.next_chunk, job.chunks[job.next_chunk])
    except Exception as exc:
        if ctx.attempt >= RUN_ATTEMPTS:  # the last try: say so on the job rather than leave it running
            log.exception("import %s failed", job_id)
            await _fail(factory, job_id, f"the import stopped on an internal error ({type(exc).__name__})")
            return
        raise


@event_log.describer("import_job")
async def _describe(session: AsyncSession, ids: list[str]) -> dict[str, event_log.Described]:
    """``import.finished`` goes to the importing organisation (its integration learns the counts)."""
    found = (await session.exec(select(ImportJob).where(col(ImportJob.id).in_(ids)))).all()
    return {j.id: event_log.Described(
        {"id": j.id, "kind": j.kind, "status": j.status, "total_rows": j.total_rows, "imported": j.imported,
         "duplicates": j.duplicates, "rejected": j.rejected, "error": j.error}, {j.org_id}) for j in found}


# --- the errors file -------------------------------------------------------------------------------------

def _reason(importer: Importer, e: ImportRowError, lang: str) -> str:
    if e.error_type:
        text = i18n.validation_message(e.error_type, e.ctx, e.reason, lang)
    elif lang == i18n.ZH:
        text = i18n.translate_zh(e.reason) or i18n.detail(e.reason, lang, "validation_error")
    else:
        text = e.reason
    if lang == i18n.ZH:  # name the columns as the Chinese header does
        for c in importer.columns:
            text = re.sub(rf"(?<![A-Za-z_]){re.escape(c.key)}(?![A-Za-z_])", c.zh, text)
    return text


async def errors_table(session: AsyncSession, job: ImportJob, lang: str) -> tabular.Table:
    importer = importer_for(job.kind)
    found = (await session.exec(select(ImportRowError).where(ImportRowError.import_id == job.id)
                                .order_by(col(ImportRowError.row), col(ImportRowError.id)))).all()
    rows = [{"row": e.row, "column": importer.label(e.column, lang) if e.column != "file" else
             i18n.text("文件", lang), "value": e.value, "reason": _reason(importer, e, lang)} for e in found]
    return tabular.Table(title=i18n.text("导入错误", lang), columns=("row", "column", "value", "reason"),
                         rows=rows, money=frozenset(), filename=f"import-{job.id}-errors")
