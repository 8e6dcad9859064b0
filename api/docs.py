"""Swagger UI and ReDoc from the app's own static files, so the docs work on a network without internet.

The scripts and styles come from the ``fastapi-offline`` package (it ships Swagger UI and ReDoc builds);
no page loads anything from another host: no CDN, no web fonts, no validator badge.
"""

from __future__ import annotations

from pathlib import Path

import fastapi_offline
from fastapi import FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles

STATIC_URL = "/static/docs"
STATIC_DIR = Path(fastapi_offline.__file__).parent / "static"
# Where ``/`` sends a person: the web console (its package ``console``).
HOME = "/console/"
# Belt and braces: even a link a future Swagger UI or ReDoc build embeds (ReDoc's "powered by" logo is
# an image on its CDN) cannot leave the page.
CSP = ("default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
       "img-src 'self' data:; font-src 'self' data:; worker-src 'self' blob:; connect-src 'self'")
SWAGGER_PARAMETERS = {"validatorUrl": None, "persistAuthorization": True, "displayRequestDuration": True,
                      "tryItOutEnabled": True, "docExpansion": "list", "filter": True}


def install(app: FastAPI, *, home: str = HOME) -> None:
    """Serve ``/docs``, ``/redoc`` and their static files, and redirect ``/`` to ``home``."""
    app.mount(STATIC_URL, StaticFiles(directory=STATIC_DIR), name="docs-static")
    openapi_url = app.openapi_url or "/openapi.json"
    oauth_redirect = app.swagger_ui_oauth2_redirect_url or "/docs/oauth2-redirect"
    favicon = f"{STATIC_URL}/favicon.png"

    def _local(page: HTMLResponse) -> HTMLResponse:
        page.headers["Content-Security-Policy"] = CSP
        return page

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui() -> HTMLResponse:
        return _local(get_swagger_ui_html(openapi_url=openapi_url, title=f"{app.title} — Swagger UI",
                                   oauth2_redirect_url=oauth_redirect,
                                   swagger_js_url=f"{STATIC_URL}/swagger-ui-bundle.js",
                                   swagger_css_url=f"{STATIC_URL}/swagger-ui.css", swagger_favicon_url=favicon,
                                   swagger_ui_parameters=SWAGGER_PARAMETERS))

    @app.get(oauth_redirect, include_in_schema=False)
    async def swagger_ui_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    @app.get("/redoc", include_in_schema=False)
    async def redoc() -> HTMLResponse:
        return _local(get_redoc_html(openapi_url=openapi_url, title=f"{app.title} — ReDoc",
                              redoc_js_url=f"{STATIC_URL}/redoc.standalone.js", redoc_favicon_url=favicon,
                              with_google_fonts=False))

    @app.get("/", include_in_schema=False)
    async def root() -> RedirectResponse:
        return RedirectResponse(home, status_code=307)
