"""Bulk imports of patents (owners) and of a bank's loan book (admin-approved), run by the worker."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import File, Form, Query, Request, UploadFile
from fastapi.responses import Response
from pydantic import BaseModel

from api.deps import CurrentActor, Cursor, Limit, SessionDep, SettingsDep
from api.lang import Language, file_response
from api.routing import AreaRouter, TransactionalRoute
from api.uploads import BearerToken, receive
from kernel import imports
from kernel.pagination import Page

router = AreaRouter(tags=["imports"], route_class=TransactionalRoute)


class ImportOut(BaseModel):
    id: str
    kind: str
    status: str
    filename: str
    file_format: str
    file_sha256: str
    total_rows: int | None
    processed_rows: int
    imported: int
    duplicates: int
    rejected: int
    error: str | None
    created_at: datetime
    finished_at: datetime | None
    errors_url: str


def _out(job: imports.ImportJob) -> ImportOut:
    return ImportOut(**job.model_dump(include=set(ImportOut.model_fields) - {"errors_url"}),
                     errors_url=f"/api/v1/imports/{job.id}/errors")


@router.post("/imports", status_code=202, response_model=ImportOut,
             summary="Upload a CSV or XLSX to import (assets: SMEs and universities; loans: banks, approved "
                     "by the platform admin); the worker runs it in chunks")
async def create_import(request: Request, session: SessionDep, settings: SettingsDep,
                        token: BearerToken,
                        file: Annotated[UploadFile, File(description="CSV (UTF-8 or GB18030) or XLSX")],
                        kind: Annotated[Literal["assets", "loans"], Form()]) -> ImportOut:
    actor, stored = await receive(request, settings, token, file, settings.max_upload_bytes,
                                  lambda data: imports.check_file(kind, data))
    job = await imports.create_import(session, actor, kind, sha256=stored.sha256, size=stored.size,
                                      fmt=stored.checked, filename=stored.filename)
    return _out(job)


@router.get("/imports", response_model=Page[ImportOut], summary="The caller's organisation's imports")
async def list_imports(session: SessionDep, actor: CurrentActor, limit: Limit = 20, cursor: Cursor = None,
                       status: Annotated[str | None, Query(max_length=20)] = None) -> Page[ImportOut]:
    rows, has_more, next_cursor = await imports.list_imports(session, actor, status, limit, cursor)
    return Page[ImportOut](data=[_out(j) for j in rows], has_more=has_more, next_cursor=next_cursor)


@router.get("/imports/{import_id}", response_model=ImportOut, summary="An import's progress")
async def get_import(import_id: str, session: SessionDep, actor: CurrentActor) -> ImportOut:
    return _out(await imports.get_import(session, actor, import_id))


@router.get("/imports/{import_id}/errors", summary="The refused rows: row number, column, value, reason "
                                                   "(in the caller's language)")
async def import_errors(import_id: str, session: SessionDep, actor: CurrentActor, lang: Language,
                        format: Literal["csv", "xlsx"] = "csv") -> Response:
    job = await imports.get_import(session, actor, import_id)
    return file_response(await imports.errors_table(session, job, lang), format, lang)


@router.post("/imports/{import_id}/approve", response_model=ImportOut,
             summary="The platform admin lets a loan-book import run")
async def approve_import(import_id: str, session: SessionDep, actor: CurrentActor) -> ImportOut:
    return _out(await imports.decide(session, actor, import_id, "approve"))


@router.post("/imports/{import_id}/refuse", response_model=ImportOut,
             summary="The platform admin refuses a loan-book import")
async def refuse_import(import_id: str, session: SessionDep, actor: CurrentActor) -> ImportOut:
    return _out(await imports.decide(session, actor, import_id, "refuse"))
