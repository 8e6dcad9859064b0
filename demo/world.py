"""The living demo world: stories told through the HTTP API in-process, on the manual clock.

Each area of the demo is one *story*: an async generator that makes its calls as the people it names
and ``yield``s the business date it wants to go on at (a number of days after the world's first day, or
a ``date``). ``run`` interleaves the stories in date order and moves the clock between them with
``POST /clock/advance``, so every day-end (accrual, overdue classification, auction closes, month-end
provisions) runs exactly as it would in production, and every rule of every call applies. A new area is
one more generator in ``demo/stories.py``'s ``STORIES``; stories share what they made through
``World.made``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import httpx
from fastapi import FastAPI
from sqlmodel import select

from accounts.models import Org, User
from api.security import create_access_token

YUAN = 100  # fen
WAN = 10_000 * YUAN  # ¥10,000 (万元)
Story = Callable[["World"], AsyncIterator["int | date"]]


class DemoError(RuntimeError):
    """A call of the demo story was refused: the data or a rule changed; the message says which."""


@dataclass
class Person:
    email: str
    user_id: str
    org_id: str
    org_kind: str
    role: str


class World:
    def __init__(self, app: FastAPI, client: httpx.AsyncClient, people: dict[str, Person], start: date) -> None:
        self.app, self.client, self.people = app, client, people
        self.start = start
        self.today = start
        self.made: dict[str, Any] = {}  # what one story made that another uses (ids), by name

    # --- people and calls ------------------------------------------------------------------------------
    def org(self, email: str) -> str:
        return self.people[email].org_id

    def headers(self, email: str) -> dict[str, str]:
        p = self.people[email]
        # Minted per call: the demo takes longer than one access token lives.
        return {"Authorization": f"Bearer {create_access_token(p.user_id, p.org_id, self.app.state.settings)}",
                "Accept-Language": "zh-CN"}

    async def call(self, method: str, path: str, who: str, json: Any = None, expect: tuple[int, ...] = (200, 201),
                   **params: Any) -> Any:
        r = await self.client.request(method, path, json=json, params=params or None, headers=self.headers(who))
        if r.status_code not in expect:
            raise DemoError(f"{method} {path} as {who} on {self.today}: {r.status_code} {r.text}")
        return r.json() if r.content else None

    async def post(self, path: str, who: str, json: Any = None, **kw: Any) -> Any:
        return await self.call("POST", path, who, json=json if json is not None else {}, **kw)

    async def get(self, path: str, who: str, **params: Any) -> Any:
        return await self.call("GET", path, who, **params)

    # --- the clock -------------------------------------------------------------------------------------
    def day(self, when: int | date) -> date:
        return when if isinstance(when, date) else self.start + timedelta(days=when)

    async def advance_to(self, when: int | date) -> None:
        target = self.day(when)
        days = (target - self.today).days
        if days > 0:
            out = await self.post("/clock/advance", self.admin, {"days": days})
            self.today = date.fromisoformat(out["business_date"])

    @property
    def admin(self) -> str:
        return self.app.state.settings.admin_email


async def people_of(app: FastAPI) -> dict[str, Person]:
    """Every user by email, with its organisation: who the stories act as."""
    async with app.state.session_factory() as session:
        rows = (await session.exec(select(User, Org).where(User.org_id == Org.id))).all()
    return {u.email: Person(u.email, u.id, o.id, o.kind, u.role) for u, o in rows}


async def run(world: World, stories: list[Story], end: int) -> None:
    """Run every story to its end in date order (ties: in the order listed), then move to day ``end``."""
    pending: list[tuple[date, int, AsyncIterator[int | date]]] = [
        (world.today, i, story(world)) for i, story in enumerate(stories)]
    while pending:
        pending.sort(key=lambda x: (x[0], x[1]))
        when, i, gen = pending.pop(0)
        await world.advance_to(when)
        try:
            nxt = await gen.__anext__()
        except StopAsyncIteration:
            continue
        pending.append((max(world.day(nxt), world.today), i, gen))
    await world.advance_to(end)


def client_for(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://demo/api/v1", timeout=None)
