"""Installs the console on the app: its pages under /console, its static files, its error pages."""

from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path

import mplfonts
from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

import console.pages
from console import labels
from console.web import HERE, PREFIX, CsrfRejected, Redirect, context, render

STATIC_URL = f"{PREFIX}/static"
# A Chinese font for machines without one (a bare Linux desktop, CI): the one mplfonts ships for the
# charts, served from the installed package (the stylesheet asks for it only when no system font has CJK).
FONTS_DIR = Path(mplfonts.__file__).parent / "fonts"


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
    app.mount(f"{PREFIX}/fonts", StaticFiles(directory=FONTS_DIR), name="console-fonts")
    pages = APIRouter(prefix=PREFIX, include_in_schema=False)
    for router in _routers():
        pages.include_router(router)
    app.include_router(pages)
    app.add_exception_handler(Redirect, _redirect)
    app.add_exception_handler(CsrfRejected, _csrf)
