"""Test harness: one app per run on SQLite (default) or PostgreSQL (IPM_TEST_DATABASE_URL).

The schema is made once per run; after each test every table is emptied, so tests are independent
and concurrency tests can really commit.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import AsyncIterator

_tmp = tempfile.mkdtemp(prefix="ipm-test-")
os.environ["IPM_ENV"] = "test"
os.environ["IPM_CLOCK"] = "manual"
os.environ["IPM_CLOCK_START"] = "2026-03-02"
os.environ["IPM_PAYMENT_PROVIDER"] = "local"
# Every test client shares one address, so per-client limits would trip across unrelated tests; the
# limits are tested on an app of their own (tests/api/test_rate_limit.py).
os.environ["IPM_RATE_LIMIT_ENABLED"] = "false"
os.environ["IPM_STORAGE_DIR"] = f"{_tmp}/storage"
os.environ["IPM_DATABASE_URL"] = os.environ.get("IPM_TEST_DATABASE_URL") or f"sqlite+aiosqlite:///{_tmp}/test.db"

import httpx  # noqa: E402
import pytest  # noqa: E402
import sqlalchemy as sa  # noqa: E402

from api.app import bootstrap, create_app  # noqa: E402
from kernel.db import metadata  # noqa: E402
from kernel.settings import get_settings  # noqa: E402
from tests.helpers import Api  # noqa: E402

IS_POSTGRES = os.environ["IPM_DATABASE_URL"].startswith("postgresql")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if IS_POSTGRES:
        return
    skip = pytest.mark.skip(reason="needs PostgreSQL (set IPM_TEST_DATABASE_URL)")
    for item in items:
        if "postgres" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
async def app():
    get_settings.cache_clear()
    application = create_app(get_settings())
    async with application.state.engine.begin() as conn:
        await conn.run_sync(metadata.drop_all)
        await conn.run_sync(metadata.create_all)
    await bootstrap(application)
    yield application
    await application.state.engine.dispose()


async def _empty_all_tables(application) -> None:
    tables = [t.name for t in reversed(metadata.sorted_tables)]
    async with application.state.engine.begin() as conn:
        if IS_POSTGRES:
            await conn.execute(sa.text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
        else:
            for name in tables:
                await conn.execute(sa.text(f"DELETE FROM {name}"))


@pytest.fixture(autouse=True)
async def _clean_database(app) -> AsyncIterator[None]:
    yield
    await _empty_all_tables(app)
    await bootstrap(app)


@pytest.fixture
async def client(app) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test/api/v1") as c:
        yield c


@pytest.fixture
async def api(client, app) -> Api:
    return Api(client, app)
