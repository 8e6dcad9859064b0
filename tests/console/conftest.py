"""The console's browser tests share one headless Chromium per test module, on the test app."""

from __future__ import annotations

import pytest

from tests.console.browser import Browser, serve


@pytest.fixture(scope="module")
async def chromium(app):
    async for base in serve(app):
        b = Browser(base)
        await b.start()
        try:
            yield b
        finally:
            await b.stop()
