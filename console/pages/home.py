"""The first page after sign-in: the organisation's inbox (GET /inbox), each item linked to its page."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from console.web import context, object_page, render

router = APIRouter()


@router.get("/")
async def home(request: Request) -> Response:
    ctx = await context(request)
    answer = await ctx.api.get("/inbox")
    items = [{**item, "href": object_page(item["object_type"], item["object_id"], item["action"]["path"])} for item in answer.data]
    return render(ctx, "home.html", items=items, error=None if answer.ok else answer.problem())
