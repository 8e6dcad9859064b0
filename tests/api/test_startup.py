"""Start-up is safe with many processes: concurrent boots on an empty database create one admin."""

import asyncio

import pytest
import sqlalchemy as sa

from accounts.models import Org, User
from api.app import create_app
from kernel.clock import ClockState
from tests.conftest import _empty_all_tables
from tests.helpers import count


async def _boot_concurrently(app, n):
    apps = [create_app(app.state.settings) for _ in range(n)]
    await _empty_all_tables(app)

    async def boot(application):
        async with application.router.lifespan_context(application):  # what uvicorn runs at start-up
            pass

    results = await asyncio.gather(*(boot(a) for a in apps), return_exceptions=True)
    assert [r for r in results if r is not None] == []


@pytest.mark.postgres
async def test_eight_processes_booting_at_once_on_postgres(app):
    await _boot_concurrently(app, 8)
    assert await count(app, Org, Org.kind == "platform") == 1
    assert await count(app, User, User.email == app.state.settings.admin_email) == 1
    assert await count(app, ClockState) == 1


async def test_concurrent_boots_on_sqlite_or_postgres(app):
    await _boot_concurrently(app, 3)
    assert await count(app, User, User.role == "admin") == 1
    async with app.state.engine.connect() as conn:
        assert (await conn.execute(sa.select(sa.func.count()).select_from(Org))).scalar_one() == 1
