"""Driving the console over HTTP as a browser would: cookies kept, the CSRF token read from each form."""

from __future__ import annotations

import re
from typing import Any

import httpx

from tests.helpers import Party

PASSWORD = "s3cret-pass"  # tests.helpers.Api.user's password
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_of(page: httpx.Response) -> str:
    found = _CSRF.search(page.text)
    assert found, page.text[:500]
    return found.group(1)


def browser(app: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")


async def sign_in(c: httpx.AsyncClient, party: Party, lang: str | None = None) -> httpx.Response:
    page = await c.get("/console/login")
    r = await c.post("/console/login", data={"csrf_token": csrf_of(page), "email": party.email,
                                             "password": PASSWORD, "next": "/console/"})
    assert r.status_code == 303, r.text
    if lang:
        home = await c.get("/console/")
        r2 = await c.post("/console/language", data={"csrf_token": csrf_of(home), "lang": lang,
                                                     "next": "/console/"})
        assert r2.status_code == 303
    return r


async def post_form(c: httpx.AsyncClient, page_path: str, action: str, data: dict[str, str]) -> httpx.Response:
    """Open ``page_path``, then submit ``data`` to ``action`` with the page's CSRF token (and, as a browser
    does, the page as the Referer)."""
    page = await c.get(page_path)
    assert page.status_code == 200, page.text[:500]
    return await c.post(action, data={"csrf_token": csrf_of(page), **data},
                        headers={"referer": f"{c.base_url}".rstrip("/") + page_path})
