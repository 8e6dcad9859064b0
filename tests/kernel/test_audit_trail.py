"""GET /audit-events: everything for the admin and regulators, the own organisation's for an org admin."""

from __future__ import annotations

from tests.helpers import assert_problem


async def test_audit_trail_scopes_and_filters(api, client):
    sme, other = await api.org("sme"), await api.org("sme")
    asset = await api.asset(sme)
    await api.asset(other)
    member = await api.user(sme.org_id, "sme", role="member")

    async def trail(party, **params):
        r = await client.get("/audit-events", params=params, headers=party.headers)
        assert r.status_code == 200, r.text
        return r.json()["data"]

    mine = await trail(sme, action="asset.registered")
    assert [(e["object_id"], e["actor_org_id"], e["actor_user_id"]) for e in mine] == [
        (asset["id"], sme.org_id, sme.user_id)]
    assert mine[0]["after"]["title"] == asset["title"] and mine[0]["before"] is None
    assert {e["actor_org_id"] for e in await trail(sme, limit=100)} == {sme.org_id}
    assert await trail(sme, actor_org_id=other.org_id) == []
    for reader in (await api.org("regulator"), await api.admin()):
        got = await trail(reader, action="asset.registered")
        assert {e["actor_org_id"] for e in got} == {sme.org_id, other.org_id}
        assert [e["object_id"] for e in await trail(reader, object_type="asset", object_id=asset["id"])] == [
            asset["id"]]
        assert len(await trail(reader, action="asset.registered", **{"from": "2026-03-02", "to": "2026-03-02"})) == 2
        assert await trail(reader, action="asset.registered", **{"from": "2026-03-03"}) == []
        assert len(await trail(reader, action="asset.registered", **{"from": "2020-01-01T00:00:00Z"})) == 2
    assert_problem(await client.get("/audit-events", headers=member.headers), 403, "forbidden")
