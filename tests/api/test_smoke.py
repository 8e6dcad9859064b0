from tests.helpers import assert_problem


async def test_health(client):
    r = await client.get("/health")
    assert r.json() == {"status": "ok", "database": "ok"}


async def test_asset_roundtrip(api, client):
    sme = await api.org("sme")
    a = await api.asset(sme)
    r = await client.get(f"/assets/{a['id']}", headers=sme.headers)
    assert r.status_code == 200
    assert r.json()["owner_org_id"] == sme.org_id


async def test_needs_auth(client):
    assert_problem(await client.get("/me"), 401, "not_authenticated")
