"""Installs the console on the app: its pages under /console, its static files, its error pages."""

from __future__ import annotations

import importlib
import pkgutil

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

import console.pages
from console import labels
from console.web import HERE, PREFIX, CsrfRejected, Redirect, context, render

STATIC_URL = f"{PREFIX}/static"


def _routers() -> list[APIRouter]:
    found: list[APIRouter] = []
    for info in sorted(pkgutil.iter_modules(console.pages.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"console.pages.{info.name}")
        found.extend(v for v in vars(module).values() if isinstance(v, APIRouter) and v not in found)
    return found


async def _redirect(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, Redirect)
    return RedirectResponse(exc.to, status_code=303)


async def _csrf(request: Request, exc: Exception) -> Response:
    ctx = await context(request, signed_in=False)
    return render(ctx, "error.html", status_code=403, message=labels.t("csrf_failed", ctx.lang), detail="")


def install(app: FastAPI) -> None:
    app.mount(STATIC_URL, StaticFiles(directory=HERE / "static"), name="console-static")
    pages = APIRouter(prefix=PREFIX, include_in_schema=False)
    for router in _routers():
        pages.include_router(router)
    app.include_router(pages)
    app.add_exception_handler(Redirect, _redirect)
    app.add_exception_handler(CsrfRejected, _csrf)
