"""Demo data: ``python -m demo.seed`` loads ``demo_data.json`` through the services into an empty database,
then lives the demo's stories through the HTTP API on the manual clock (``demo/world.py``).

Each part runs once: the organisations and assets when no organisation besides the platform exists, the
stories when no fund programme exists yet (and the clock is manual), so a second run changes nothing.
Everything goes through the same services and routes the API uses, so every number and credit code is
validated on the way in, every rule applies and every row is audited.
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import func, select
from sqlmodel.ext.asyncio.session import AsyncSession

import api.registry  # noqa: F401  (every table and handler)
from accounts import service as accounts
from accounts.models import Org, User
from accounts.schemas import OrgIn, RegionIn, UserIn
from demo.world import run as run_world
from finance.fund.models import FundProgram
from kernel import clock
from kernel.actor import SYSTEM
from kernel.settings import Settings, get_settings
from market.assets import service as assets
from market.assets.models import Asset
from market.assets.schemas import AssetIn, AssetPatch

DATA_FILE = Path(__file__).with_name("demo_data.json")


@dataclass
class Seeded:
    """What ``load`` created: organisation ids and asset ids by the data file's keys."""

    loaded: bool
    org_ids: dict[str, str] = field(default_factory=dict)
    asset_ids: list[str] = field(default_factory=list)
    logins: list[tuple[str, str, str]] = field(default_factory=list)  # (email, org kind, role)
    password: str = ""
    lived: bool = False  # the stories ran (loans, deals, claims...)
    end: date | None = None  # the business date the stories stopped on


def read_data(path: Path = DATA_FILE) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


async def _has_tenants(session: AsyncSession) -> bool:
    count = (await session.exec(select(func.count()).select_from(Org).where(Org.kind != "platform"))).one()
    return count > 0


async def load(session_factory: async_sessionmaker[AsyncSession], settings: Settings | None = None,
               data: dict[str, Any] | None = None) -> Seeded:
    """Load the demo data in one transaction when no tenant exists yet; otherwise do nothing."""
    settings = settings or get_settings()
    data = data or read_data()
    result = Seeded(loaded=False, password=data["password"])
    async with session_factory() as session:
        await accounts.ensure_platform_admin(session, settings)
        await clock.ensure_clock_state(session, settings)
        if await _has_tenants(session):
            await session.commit()
            return result
        for region in data["regions"]:
            await accounts.upsert_region(session, SYSTEM, RegionIn(**region))
        actors = {}
        for raw in data["orgs"]:
            spec = dict(raw)
            key, users = spec.pop("key"), spec.pop("users")
            org = await accounts.create_org(session, SYSTEM, OrgIn(**spec))
            result.org_ids[key] = org.id
            for u in users:
                user = await accounts.create_user(session, SYSTEM, org.id,
                                                  UserIn(email=u["email"], password=data["password"], role=u["role"]))
                result.logins.append((user.email, org.kind, user.role))
                actors.setdefault(key, accounts.actor_for(user, org))
        for raw in data["assets"]:
            spec = dict(raw)
            owner, status = spec.pop("owner"), spec.pop("status", None)
            asset = await assets.create_asset(session, actors[owner], AssetIn(**spec))
            if status is not None:
                asset = await assets.update_asset(session, actors[owner], asset.id, AssetPatch(status=status))
            result.asset_ids.append(asset.id)
        await session.commit()
    result.loaded = True
    return result


async def live(app: FastAPI) -> date | None:
    """Run the demo's stories when none has run yet; the business date they end on, else None."""
    from demo import stories
    from demo.world import World, client_for, people_of

    settings = app.state.settings
    async with app.state.session_factory() as session:
        if settings.clock != "manual" or (await session.exec(select(func.count()).select_from(FundProgram))).one():
            return None
        assets = {a.number: a.id for a in (await session.exec(select(Asset))).all()}
        start = await clock.business_date(session, settings)
    async with client_for(app) as client:
        world = World(app, client, await people_of(app), start)
        world.made.update(assets=assets, end=stories.END)
        await run_world(world, stories.STORIES, stories.END)
    return world.today


async def seed(app: FastAPI, data: dict[str, Any] | None = None) -> Seeded:
    """Everything ``make run`` loads: the organisations and assets, then the stories."""
    seeded = await load(app.state.session_factory, app.state.settings, data)
    seeded.end = await live(app)
    seeded.lived = seeded.end is not None
    return seeded


async def _main() -> None:
    from api.app import bootstrap, create_app

    # In-process calls all come from one address: the per-client request limits would trip. The stories'
    # hundreds of request log lines would bury the logins printed at the end.
    settings = get_settings().model_copy(update={"rate_limit_enabled": False, "log_level": "WARNING"})
    app = create_app(settings)
    logging.getLogger().setLevel(logging.WARNING)
    try:
        await bootstrap(app)
        print("Demo: organisations and assets, then six months of business lived through the API "
              "(a minute or two the first time)...", flush=True)
        seeded = await seed(app)
        async with app.state.session_factory() as session:
            users = (await session.exec(select(func.count()).select_from(User))).one()
            today = await clock.business_date(session, settings)
    finally:
        await app.state.engine.dispose()
    if seeded.loaded:
        print(f"Demo data loaded: {len(seeded.org_ids)} organisations, {len(seeded.asset_ids)} assets.")
    else:
        print(f"Demo organisations already present ({users} users).")
    if seeded.lived:
        print(f"Demo stories lived: loans, deals, claims and subsidies up to {seeded.end}.")
    elif settings.clock != "manual":
        print("Demo stories skipped: they need the manual clock (IPM_CLOCK=manual, as `make run` sets).")
    else:
        print("Demo stories already lived; nothing changed.")
    print(f"Business date: {today} ({settings.clock} clock).")
    print(f"Platform admin: {settings.admin_email} / {'(IPM_ADMIN_PASSWORD)' if settings.env == 'production' else settings.admin_password}")
    data = read_data()
    print(f"Demo logins (password {data['password']}):")
    for org in data["orgs"]:
        for u in org["users"]:
            print(f"  {u['email']:<28} {org['kind']:<10} {u['role']:<9} {org['name']}")


if __name__ == "__main__":
    asyncio.run(_main())
