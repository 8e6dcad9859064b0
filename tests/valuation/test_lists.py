"""GET /valuations: the requester, the assets' owner, banks and evaluators; filters by asset and status."""

from __future__ import annotations

from tests.helpers import assert_problem
from tests.valuation.helpers import VECTOR_INPUTS as INPUTS
from tests.valuation.helpers import value


async def test_valuations_list_for_who_may_read(api, client):
    owner, rival = await api.org("sme"), await api.org("sme")
    a1, a2 = await api.asset(owner, title="一种光伏逆变器"), await api.asset(owner)
    mine = await value(api, owner, [a1["id"]], inputs=INPUTS)
    bundle = await value(api, owner, [a1["id"], a2["id"]], inputs=INPUTS)
    other = await value(api, rival, [(await api.asset(rival))["id"]], inputs=INPUTS)
    evaluator = await api.org("evaluator")
    r = await client.post(f"/valuations/{mine['id']}/certify", json={}, headers=evaluator.headers)
    assert r.status_code == 200, r.text

    async def ids(party, **params):
        r = await client.get("/valuations", params=params, headers=party.headers)
        assert r.status_code == 200, r.text
        return [v["id"] for v in r.json()["data"]]

    assert await ids(owner) == [bundle["id"], mine["id"]]
    assert await ids(rival) == [other["id"]]
    assert await ids(await api.org("guarantor")) == []
    for reader in (await api.org("bank"), evaluator, await api.admin()):
        assert await ids(reader) == [other["id"], bundle["id"], mine["id"]]
    assert await ids(owner, asset_id=a2["id"]) == [bundle["id"]]
    assert await ids(owner, status="certified") == [mine["id"]]
    assert await ids(rival, asset_id=a1["id"]) == []
    row = (await client.get("/valuations", params={"status": "certified"}, headers=owner.headers)).json()["data"][0]
    assert row["assets"][0] == {"asset_id": a1["id"], "title": "一种光伏逆变器", "value": row["assets"][0]["value"],
                                "borrowing_base": row["assets"][0]["borrowing_base"]}
    assert row["certified_by"] == evaluator.org_id and row["certified_by_name"] and row["requested_by_name"]
    assert_problem(await client.get("/valuations", params={"status": "x"}, headers=owner.headers),
                   422, "validation_error")
