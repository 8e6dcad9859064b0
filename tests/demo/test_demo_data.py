"""The demo data loads through the services, validates, and loads only once."""

from collections import Counter

from sqlmodel import func, select

from accounts.credit_code import normalise_credit_code
from accounts.models import Org, Region, User
from demo.seed import load, read_data
from market.assets.models import Asset, OwnershipRecord
from market.numbers import normalise_number
from tests.helpers import open_session


async def _count(app, model, *where) -> int:
    async with open_session(app) as session:
        return (await session.exec(select(func.count()).select_from(model).where(*where))).one()


async def test_demo_data_loads_once_and_validates(app, client):
    data = read_data()
    seeded = await load(app.state.session_factory)
    assert seeded.loaded
    assert await _count(app, Org, Org.kind != "platform") == len(data["orgs"])
    assert await _count(app, Asset) == len(data["assets"]) >= 30
    assert await _count(app, OwnershipRecord) == len(data["assets"])
    assert await _count(app, Region) == len(data["regions"])
    assert await _count(app, User) == 1 + sum(len(o["users"]) for o in data["orgs"])
    kinds = Counter(o["kind"] for o in data["orgs"])
    assert kinds["sme"] == 4 and kinds["university"] == 3 and kinds["bank"] == 3
    assert {"guarantor", "insurer", "evaluator", "fund", "regulator"} <= kinds.keys()
    asset_kinds = {a["kind"] for a in data["assets"]}
    assert {"invention_patent", "utility_model", "design_patent", "trademark", "software_copyright",
            "copyright"} <= asset_kinds
    async with open_session(app) as session:
        for org in (await session.exec(select(Org))).all():
            assert normalise_credit_code(org.credit_code) == org.credit_code
        for asset in (await session.exec(select(Asset))).all():
            assert normalise_number(asset.kind, asset.number) == asset.number

    # A second run adds nothing.
    again = await load(app.state.session_factory)
    assert not again.loaded
    assert await _count(app, Asset) == len(data["assets"])

    # Demo users log in with the shared password and find assets by Chinese and English words.
    r = await client.post("/auth/token", data={"username": "bank1@demo.ipm", "password": data["password"]})
    assert r.status_code == 200, r.text
    headers = {"Authorization": f"Bearer {r.json()['access_token']}"}
    zh = (await client.get("/assets", params={"q": "碳化硅"}, headers=headers)).json()["data"]
    assert len(zh) == 4 and all("碳化硅" in a["title"] for a in zh)
    en = (await client.get("/assets", params={"q": "battery", "limit": 100}, headers=headers)).json()["data"]
    assert len(en) >= 2
    dormant = (await client.get("/assets", params={"dormant": "true", "limit": 100}, headers=headers)).json()
    owners = {seeded.org_ids[k] for k in ("university1", "university2", "university3")}
    assert len(dormant["data"]) >= 5 and {a["owner_org_id"] for a in dormant["data"]} <= owners
    statuses = Counter(a["status"] for a in (await client.get("/assets", params={"limit": 100},
                                                              headers=headers)).json()["data"])
    high_value = 0
    for asset_id in seeded.asset_ids:
        high_value += (await client.get(f"/assets/{asset_id}", headers=headers)).json()["high_value"]["is_high_value"]
    assert high_value >= 8
    assert statuses["expired"] == 1 and statuses["lapsed"] == 1 and statuses["pending"] == 1
