"""Helpers that drive the HTTP API the way a client would, for tests and e2e workflows."""

from __future__ import annotations

import itertools
import os
import random
import shutil
import socket
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from sqlmodel.ext.asyncio.session import AsyncSession

from accounts.credit_code import ALPHABET, make_credit_code
from api.security import create_access_token
from kernel.audit import AuditEvent
from kernel.db import metadata
from market.numbers import patent_check_character

_counter = itertools.count(1)


@asynccontextmanager
async def open_session(app: Any) -> AsyncIterator[AsyncSession]:
    """The one way tests open a session of the app's database (commit it yourself to keep the work)."""
    async with app.state.session_factory() as session:
        yield session


async def count(app: Any, table: Any, *where: Any) -> int:
    """Rows of a model or table matching ``where``: how a test shows what a request wrote, or did not."""
    stmt = sa.select(sa.func.count()).select_from(table)
    for condition in where:
        stmt = stmt.where(condition)
    async with app.state.engine.connect() as conn:
        return int((await conn.execute(stmt)).scalar_one())


async def table_counts(app: Any) -> dict[str, int]:
    """Rows in every table, so a refused request can be shown to have written nothing."""
    return {table.name: await count(app, table) for table in metadata.sorted_tables}


async def execute(app: Any, stmt: Any) -> None:
    """Run one statement in its own committed transaction (to set up what the API cannot)."""
    async with app.state.engine.begin() as conn:
        await conn.execute(stmt)


async def audit_count(app: Any, action: str, object_id: str | None = None) -> int:
    """Audit events named ``action`` (about ``object_id``, when given)."""
    where = [AuditEvent.action == action] + ([AuditEvent.object_id == object_id] if object_id else [])
    return await count(app, AuditEvent, *where)


def credit_code(seed: int | None = None) -> str:
    rng = random.Random(seed if seed is not None else next(_counter) * 7919)
    return make_credit_code("91" + "".join(rng.choice(ALPHABET) for _ in range(15)))


def patent_number(year: int = 2019, kind_digit: str = "1", serial: int | None = None) -> str:
    serial = serial if serial is not None else next(_counter) + random.randrange(10**6)
    body = f"{year}{kind_digit}{serial % 10**7:07d}"
    return f"{body}.{patent_check_character(body)}"


@dataclass
class Party:
    """An organisation and one logged-in user of it."""

    org_id: str
    user_id: str
    email: str
    token: str
    kind: str
    headers: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.headers = {"Authorization": f"Bearer {self.token}"}


class Api:
    def __init__(self, client: httpx.AsyncClient, app: Any) -> None:
        self.client = client
        self.app = app
        self._admin: Party | None = None

    async def admin(self) -> Party:
        if self._admin is None:
            settings = self.app.state.settings
            r = await self.client.post("/auth/token", data={"username": settings.admin_email,
                                                            "password": settings.admin_password})
            assert r.status_code == 200, r.text
            token = r.json()["access_token"]
            me = (await self.client.get("/me", headers={"Authorization": f"Bearer {token}"})).json()
            self._admin = Party(me["org"]["id"], me["user"]["id"], settings.admin_email, token, "platform")
        return self._admin

    async def org(self, kind: str, name: str | None = None, role: str = "org_admin", **extra: Any) -> Party:
        """Onboard an organisation through the admin and log a user of it in."""
        admin = await self.admin()
        n = next(_counter)
        body = {"name": name or f"{kind} {n}", "kind": kind, "credit_code": credit_code(), **extra}
        r = await self.client.post("/orgs", json=body, headers=admin.headers)
        assert r.status_code == 201, r.text
        org_id = r.json()["id"]
        return await self.user(org_id, kind, role=role)

    async def user(self, org_id: str, kind: str, role: str = "org_admin") -> Party:
        admin = await self.admin()
        email = f"user{next(_counter)}-{random.randrange(10**9)}@example.cn"
        r = await self.client.post(f"/orgs/{org_id}/users", json={"email": email, "password": "s3cret-pass",
                                                                  "role": role}, headers=admin.headers)
        assert r.status_code == 201, r.text
        token = create_access_token(r.json()["id"], org_id, self.app.state.settings)
        return Party(org_id, r.json()["id"], email, token, kind)

    async def asset(self, owner: Party, **fields: Any) -> dict[str, Any]:
        body = {"kind": "invention_patent", "number": patent_number(), "title": "一种锂电池热管理装置",
                "abstract": "本发明公开了一种锂电池热管理装置 battery thermal management",
                "ipc_codes": ["H01M 10/613"], "filing_date": "2019-05-10", "grant_date": "2021-08-20",
                "expiry_date": "2039-05-10", "fees_paid_until": "2026-05-10", "claims_count": 10,
                **fields}
        r = await self.client.post("/assets", json=body, headers=owner.headers)
        assert r.status_code == 201, r.text
        return r.json()

    async def advance(self, days: int) -> dict[str, Any]:
        r = await self.client.post("/clock/advance", json={"days": days}, headers=(await self.admin()).headers)
        assert r.status_code == 200, r.text
        return r.json()


def assert_problem(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json"), response.headers
    body = response.json()
    assert body["code"] == code, body
    assert body["status"] == status
    assert {"type", "title", "detail"} <= body.keys()
    return body


# --- browser tests: Debian's chromium driven by Playwright for Python (tests/docs, tests/console) -----------
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
needs_browser = pytest.mark.skipif(
    not os.path.exists(CHROMIUM) and not os.environ.get("IPM_REQUIRE_BROWSER"),
    reason="Debian's chromium is not installed (.ci/run installs it)")


def free_port() -> int:
    """A loopback port nothing listens on now, for a test server."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def statements(app: Any) -> Iterator[list[str]]:
    """Every SQL statement the app's engine sends while the block runs (BEGIN/COMMIT excluded)."""
    seen: list[str] = []
    engine = app.state.engine.sync_engine

    def before(conn: Any, cursor: Any, statement: str, params: Any, context: Any, executemany: bool) -> None:
        seen.append(statement)

    sa.event.listen(engine, "before_cursor_execute", before)
    try:
        yield seen
    finally:
        sa.event.remove(engine, "before_cursor_execute", before)
