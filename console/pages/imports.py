"""Bulk imports from the console: upload a CSV/XLSX of assets (owners) or of a loan book (banks), then
follow the job — the page refreshes itself (a meta refresh, no JavaScript) until the worker is done — and
read the refused rows as the API lists them."""

from __future__ import annotations

import csv
import io

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.datastructures import UploadFile

from console.pages.reports import file_url, raw_get
from console.web import PREFIX, Ctx, context, form, not_found, redirect, render

router = APIRouter()
RUNNING = ("queued", "awaiting_approval", "running")  # the page refreshes itself while the job is in one
KIND_OF = {"sme": "assets", "university": "assets", "bank": "loans"}


async def _list(ctx: Ctx, status_code: int = 200, **values: object) -> Response:
    jobs = await ctx.api.get("/imports", limit=50)
    return render(ctx, "imports.html", status_code=status_code, jobs=jobs.data, kind_of=KIND_OF.get(ctx.kind),
                  **values)


@router.get("/imports")
async def imports(request: Request) -> Response:
    return await _list(await context(request))


@router.post("/imports")
async def upload(request: Request) -> Response:
    ctx = await context(request)
    await form(request)  # multipart: the CSRF token is one of its fields
    data = await request.form()
    file, kind = data.get("file"), KIND_OF.get(ctx.kind, "")
    if not isinstance(file, UploadFile) or not file.filename:
        return await _list(ctx, status_code=422, errors={"file": "import_choose_file"})
    answer = await ctx.api.upload("/imports", file.filename, await file.read(), kind=kind)
    if not answer.ok:
        return await _list(ctx, status_code=answer.status, error=answer.problem())
    return redirect(ctx, f"{PREFIX}/imports/{answer.body['id']}")


@router.get("/imports/{import_id}")
async def job(request: Request, import_id: str) -> Response:
    ctx = await context(request)
    answer = await ctx.api.get(f"/imports/{import_id}")
    if not answer.ok:
        return not_found(ctx, answer)
    j = answer.body
    rows: list[list[str]] = []
    if j["rejected"]:
        errors = await raw_get(ctx, f"/imports/{import_id}/errors", {"format": "csv"})
        if errors.status_code == 200:
            rows = list(csv.reader(io.StringIO(errors.content.decode("utf-8-sig"))))
    total = j["total_rows"]
    return render(ctx, "import.html", job=j, running=j["status"] in RUNNING,
                  percent=round(100 * j["processed_rows"] / total) if total else 0,
                  header=rows[0] if rows else [], errors=rows[1:101], more_errors=max(len(rows) - 101, 0),
                  csv=file_url(f"imports/{import_id}/errors", "csv"), xlsx=file_url(f"imports/{import_id}/errors", "xlsx"))
