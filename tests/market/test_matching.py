"""Technology needs, dormant-pool matching both ways, and feedback moving the rankings."""

from __future__ import annotations

from market.matching.engine import Doc, ipc_overlap, rank, term_counts
from tests.helpers import assert_problem
from tests.market.helpers import listing


async def _pool(api):
    uni = await api.org("university")
    a = await api.asset(uni, title="一种锂电池热管理装置", abstract="用于电动汽车锂电池组的液冷热管理 battery thermal",
                        ipc_codes=["H01M 10/613"])
    b = await api.asset(uni, title="太阳能电池减反射涂层", abstract="光伏 coating", ipc_codes=["H01L 31/0216"])
    c = await api.asset(uni, title="一种中药提取方法", abstract="黄芪多糖的提取工艺", ipc_codes=["A61K 36/481"])
    d = await api.asset(uni, title="燃料电池双极板", abstract="金属双极板 冲压成型", ipc_codes=["H01M 8/0206"])
    e = await api.asset(uni, title="固态电解质膜", abstract="硫化物 电解质", ipc_codes=["H01M 10/0562"])
    return uni, a, b, c, d, e


async def _need(client, sme, **body):
    r = await client.post("/tech-needs", json={"title": "锂电池散热技术需求",
                                                "description": "寻找电动汽车锂电池热管理技术，液冷方案 battery thermal",
                                                "ipc_codes": ["H01M 10/60"], "industry": "new_energy_vehicles", **body},
                          headers=sme.headers)
    assert r.status_code == 201, r.text
    return r.json()


async def test_need_matches_rank_and_explain(api, client):
    uni, a, _b, c, _d, _e = await _pool(api)
    sme = await api.org("sme")
    need = await _need(client, sme)
    r = await client.get(f"/tech-needs/{need['id']}/matches", headers=sme.headers)
    assert r.status_code == 200, r.text
    ranked = r.json()
    ids = [m["asset_id"] for m in ranked]
    assert ids[0] == a["id"] and c["id"] not in ids
    top = ranked[0]
    assert "shared IPC main group H01M 10" in top["reasons"]
    assert any(x.startswith("shared terms:") and "锂电" in x for x in top["reasons"])
    assert "dormant university patent" in top["reasons"] and 0 < top["score"] <= 1.5
    assert [m["score"] for m in ranked] == sorted((m["score"] for m in ranked), reverse=True)
    # The other way: the university sees the need ranked for its asset.
    r = await client.get(f"/assets/{a['id']}/matches", headers=uni.headers)
    assert r.json()[0]["need_id"] == need["id"] and r.json()[0]["score"] > 0.3
    # Only the owners see matches.
    assert_problem(await client.get(f"/tech-needs/{need['id']}/matches", headers=uni.headers), 403, "forbidden")
    assert_problem(await client.get(f"/assets/{a['id']}/matches", headers=sme.headers), 403, "forbidden")
    assert_problem(await client.get("/tech-needs/ned_x/matches", headers=sme.headers), 404, "not_found")


async def test_only_dormant_or_marketed_assets_are_candidates(api, client):
    sme_seller = await api.org("sme")
    buyer = await api.org("sme")
    f = await api.asset(sme_seller, title="锂电池热管理液冷板", abstract="锂电池 液冷", ipc_codes=["H01M 10/613"])
    need = await _need(client, buyer)
    ids = [m["asset_id"] for m in (await client.get(f"/tech-needs/{need['id']}/matches", headers=buyer.headers)).json()]
    assert f["id"] not in ids  # an SME's patent is not dormant
    await listing(api, sme_seller, [f["id"]])
    ranked = (await client.get(f"/tech-needs/{need['id']}/matches", headers=buyer.headers)).json()
    assert ranked[0]["asset_id"] == f["id"] and "on the market" in ranked[0]["reasons"]


async def test_feedback_moves_rankings(api, client):
    uni, a, b, _c, d, e = await _pool(api)
    sme = await api.org("sme")
    need = await _need(client, sme)
    url = f"/tech-needs/{need['id']}/matches"
    before = {m["asset_id"]: m for m in (await client.get(url, headers=sme.headers)).json()}
    assert a["id"] in before and d["id"] in before and e["id"] in before
    r = await client.post("/matches/feedback", json={"need_id": need["id"], "asset_id": a["id"],
                                                     "verdict": "not_relevant"}, headers=sme.headers)
    assert r.status_code == 201 and r.json()["verdict"] == "not_relevant"
    r = await client.post("/matches/feedback", json={"need_id": need["id"], "asset_id": d["id"],
                                                     "verdict": "interested"}, headers=sme.headers)
    after = {m["asset_id"]: m for m in (await client.get(url, headers=sme.headers)).json()}
    assert a["id"] not in after
    assert after[d["id"]]["score"] > before[d["id"]]["score"] and "marked interested" in after[d["id"]]["reasons"]
    # A patent in the same subclass as one marked interested rises too.
    assert after[e["id"]]["score"] > before[e["id"]]["score"]
    assert "similar to a patent marked interested (H01M)" in after[e["id"]]["reasons"]
    # Changing one's mind: the latest verdict counts.
    await client.post("/matches/feedback", json={"need_id": need["id"], "asset_id": a["id"], "verdict": "interested"},
                      headers=sme.headers)
    again = {m["asset_id"]: m for m in (await client.get(url, headers=sme.headers)).json()}
    assert again[a["id"]]["score"] > before[a["id"]]["score"]
    # The asset side hides a pair marked not relevant.
    await client.post("/matches/feedback", json={"need_id": need["id"], "asset_id": b["id"],
                                                 "verdict": "not_relevant"}, headers=sme.headers)
    assert need["id"] not in [m["need_id"] for m in
                              (await client.get(f"/assets/{b['id']}/matches", headers=uni.headers)).json()]


async def test_need_and_feedback_refusals(api, client):
    uni, a, *_ = await _pool(api)
    sme = await api.org("sme")
    other = await api.org("sme")
    body = {"title": "需求", "description": "描述"}
    assert_problem(await client.post("/tech-needs", json=body, headers=uni.headers), 403, "forbidden")
    for bad in ({"title": "", "description": "x"}, {"title": "x"}, {**body, "ipc_codes": ["nope"]}, {**body, "x": 1}):
        assert_problem(await client.post("/tech-needs", json=bad, headers=sme.headers), 422, "validation_error")
    need = await _need(client, sme)
    fb = {"need_id": need["id"], "asset_id": a["id"], "verdict": "interested"}
    assert_problem(await client.post("/matches/feedback", json=fb, headers=other.headers), 403, "forbidden")
    assert_problem(await client.post("/matches/feedback", json={**fb, "verdict": "meh"}, headers=sme.headers),
                   422, "validation_error")
    assert_problem(await client.post("/matches/feedback", json={**fb, "asset_id": "ast_x"}, headers=sme.headers),
                   404, "not_found")
    listed = (await client.get("/tech-needs", params={"q": "锂电池"}, headers=uni.headers)).json()["data"]
    assert [n["id"] for n in listed] == [need["id"]]


def test_engine_units():
    assert ipc_overlap(["H01M 10/60"], ["H01M 10/613"]) == (1.0, "shared IPC main group H01M 10")
    assert ipc_overlap(["H01M 10/60"], ["H01M 8/02"]) == (0.6, "shared IPC subclass H01M")
    assert ipc_overlap(["H01M"], ["H01L 31/02"]) == (0.3, "shared IPC class H01")
    assert ipc_overlap(["A61K"], ["H01L"]) == (0.0, None)
    docs = [Doc("x", term_counts("锂电池热管理"), []), Doc("y", term_counts("中药提取"), []),
            Doc("z", term_counts("锂电池"), [])]
    out = rank("锂电池热管理", [], None, docs)
    assert [r["id"] for r in out] == ["x", "z"]
    assert out[0]["score"] == 1.0  # identical terms → cosine 1
