"""Per-client request limits: /auth/* and everything else, 429 problem+json with Retry-After."""

from contextlib import asynccontextmanager

import httpx
import pytest

from api.app import create_app
from tests.helpers import assert_problem


@pytest.fixture
async def limited(app):
    settings = app.state.settings.model_copy(update={"rate_limit_enabled": True, "rate_limit_auth": "3/minute",
                                                     "rate_limit_default": "5/minute;50/hour"})
    application = create_app(settings)
    yield application
    await application.state.engine.dispose()


@asynccontextmanager
async def _client(app, address):
    transport = httpx.ASGITransport(app=app, client=(address, 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://test/api/v1") as c:
        yield c


async def test_auth_paths_have_their_own_limit_per_client(limited, app):
    settings = app.state.settings
    form = {"username": settings.admin_email, "password": settings.admin_password}
    async with _client(limited, "203.0.113.20") as storm, _client(limited, "203.0.113.21") as other:
        for _ in range(3):
            assert (await storm.post("/auth/token", data=form)).status_code == 200
        r = await storm.post("/auth/token", data=form)
        body = assert_problem(r, 429, "rate_limited")
        assert 0 < int(r.headers["retry-after"]) <= 60 and body["retry_after"] == int(r.headers["retry-after"])
        assert_problem(await storm.post("/auth/refresh", json={"refresh_token": "x"}), 429, "rate_limited")
        # Another client is untouched, and the storm's other requests count against the default limit only.
        assert (await other.post("/auth/token", data=form)).status_code == 200
        assert_problem(await storm.get("/clock"), 401, "not_authenticated")


async def test_every_other_path_has_the_default_limit_but_health(limited):
    async with _client(limited, "203.0.113.22") as c:
        statuses = [(await c.get("/clock")).status_code for _ in range(6)]
        assert statuses == [401] * 5 + [429]
        assert_problem(await c.get("/clock"), 429, "rate_limited")
        assert_problem(await c.post("/assets", json={}), 429, "rate_limited")
        for _ in range(10):
            assert (await c.get("/health")).status_code == 200


def test_the_limits_are_settings():
    from kernel.settings import Settings

    s = Settings(rate_limit_auth="10/second", rate_limit_storage_url="redis://cache:6379")
    assert s.rate_limit_auth == "10/second" and Settings.model_fields["rate_limit_enabled"].default is True
    from api.ratelimit import _async_url

    assert _async_url(s.rate_limit_storage_url) == "async+redis://cache:6379"
    assert _async_url("async+memory://") == "async+memory://"
