"""/docs and /redoc work with the network blocked: headless Chromium loads them from the app alone."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import httpx
import pytest
import uvicorn

from api.app import create_app
from kernel.settings import get_settings
from tests.helpers import CHROMIUM, free_port, needs_browser

pytestmark = needs_browser


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    """The app served by uvicorn on a loopback port (docs need no database: no lifespan)."""
    port = free_port()
    app = create_app(get_settings())
    app.openapi()  # built once up front, as the lifespan does (it takes seconds on a busy machine)
    config = uvicorn.Config(app, host="127.0.0.1", port=port, lifespan="off",
                            log_level="warning")
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    for _ in range(200):
        if srv.started:
            break
        threading.Event().wait(0.05)
    assert srv.started, "uvicorn did not start"
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    thread.join(timeout=10)


async def _load(base: str, path: str, ready_selector: str) -> tuple[int, list[str]]:
    """Open ``path`` with every request to another host refused; count ``ready_selector`` elements."""
    from playwright.async_api import Route, async_playwright

    foreign: list[str] = []

    async def guard(route: Route) -> None:
        if route.request.url.startswith(base):
            await route.continue_()
        else:
            foreign.append(route.request.url)
            await route.abort("internetdisconnected")

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=[
            "--no-sandbox", "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"])
        try:
            page = await browser.new_page()
            await page.route("**/*", guard)
            await page.goto(base + path, wait_until="networkidle")
            await page.wait_for_selector(ready_selector, timeout=60_000)
            count = await page.locator(ready_selector).count()
        finally:
            await browser.close()
    return count, foreign


async def _operation_count(base: str) -> int:
    async with httpx.AsyncClient() as c:
        spec = (await c.get(base + "/openapi.json")).json()
    return sum(1 for item in spec["paths"].values() for m in item if m in {"get", "post", "put", "patch", "delete"})


async def test_swagger_ui_shows_every_operation_offline(server: str) -> None:
    count, foreign = await _load(server, "/docs", ".opblock")
    assert foreign == [], f"/docs asked the network for {foreign}"
    assert count == await _operation_count(server) > 50


async def test_redoc_renders_offline(server: str) -> None:
    count, foreign = await _load(server, "/redoc", "[data-section-id^='operation/']")
    assert foreign == [], f"/redoc asked the network for {foreign}"
    assert count == await _operation_count(server)


async def test_root_redirects_to_the_docs(server: str) -> None:
    async with httpx.AsyncClient() as c:
        r = await c.get(server + "/", follow_redirects=False)
        assert r.status_code == 307 and r.headers["location"] == "/console/"
        docs = await c.get(server + "/docs")
        page = docs.text
    assert "default-src 'self'" in docs.headers["content-security-policy"]
    assert "cdn" not in page.lower() and "fonts.googleapis" not in page
    assert "/static/docs/swagger-ui-bundle.js" in page

