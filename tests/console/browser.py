"""Headless Chromium (Debian's ``chromium``, driven by Playwright for Python) against the test app.

The app is served by uvicorn in the tests' own event loop, so pages and the test's API calls share one
database and one engine. Every request to another host is refused and recorded: the console must work
offline. Screenshots of the main pages go to ``bench/out/console/`` (CI artefacts, not committed).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import uvicorn

from tests.console.helpers import PASSWORD
from tests.helpers import CHROMIUM, Party, free_port

SHOTS = Path(__file__).resolve().parents[2] / "bench" / "out" / "console"


async def serve(app: Any) -> AsyncIterator[str]:
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, lifespan="off", log_level="warning"))
    task = asyncio.create_task(server.serve())
    for _ in range(400):
        if server.started:
            break
        await asyncio.sleep(0.05)
    assert server.started, "uvicorn did not start"
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, timeout=20)


class Browser:
    """One Chromium for a test module; a fresh context (cookies) per person."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.foreign: list[str] = []
        self._pw: Any = None
        self._browser: Any = None

    async def start(self) -> None:
        from playwright.async_api import async_playwright

        self._pw = await async_playwright().start()
        self._browser = await self._pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=[
            "--no-sandbox", "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"])

    async def stop(self) -> None:
        await self._browser.close()
        await self._pw.stop()

    async def page(self, width: int = 1366, height: int = 768) -> Any:
        context = await self._browser.new_context(viewport={"width": width, "height": height}, locale="zh-CN")
        page = await context.new_page()
        page.set_default_timeout(30_000)

        async def guard(route: Any) -> None:
            if route.request.url.startswith(self.base):
                await route.continue_()
            else:
                self.foreign.append(route.request.url)
                await route.abort("internetdisconnected")

        await page.route("**/*", guard)
        return page

    async def sign_in(self, person: Party, **size: int) -> Any:
        page = await self.page(**size)
        await page.goto(self.base + "/")
        await page.get_by_label("邮箱").fill(person.email)
        await page.get_by_label("密码").fill(PASSWORD)
        await page.get_by_role("button", name="登录").click()
        await page.wait_for_url(self.base + "/console/")
        return page


async def shot(page: Any, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    await page.evaluate("document.fonts.ready.then(() => true)")  # the app's CJK font, not empty boxes
    await page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)
