"""The matching index: rankings equal to the engine's, re-indexing after an edit (an outbox job run after the
commit; match queries only read), the day-end refresh."""

from __future__ import annotations

import random
from collections import Counter

import sqlalchemy as sa
from sqlmodel import select

from bench.market_search import fake_text
from market.assets.models import Asset
from market.matching import index
from market.matching.engine import Doc, rank, term_counts
from market.matching.models import MatchDf, MatchDoc, MatchTerm
from tests.helpers import open_session, patent_number


async def _post_need(client, sme, **body):
    r = await client.post("/tech-needs", json=body, headers=sme.headers)
    assert r.status_code == 201, r.text
    return r.json()


async def _matches(client, sme, need_id):
    r = await client.get(f"/tech-needs/{need_id}/matches", headers=sme.headers)
    assert r.status_code == 200, r.text
    return r.json()


async def _index_rows(app, doc_type):
    async with open_session(app) as session:
        docs = {d.doc_id: d for d in (await session.exec(select(MatchDoc).where(MatchDoc.doc_type == doc_type))).all()}
        dfs = dict((await session.exec(select(MatchDf.term, MatchDf.df).where(MatchDf.doc_type == doc_type))).all())
        postings = (await session.exec(select(MatchTerm.term, sa.func.count()).where(MatchTerm.doc_type == doc_type)
                                       .group_by(MatchTerm.term))).all()
        updated = dict((await session.exec(select(Asset.id, Asset.updated_at))).all())
    return docs, dfs, dict(postings), updated


async def test_english_and_chinese_text_rank_by_similarity(api, client):
    uni = await api.org("university")
    spreader = await api.asset(uni, title="Graphene heat spreader film", ipc_codes=["C01B 32/182"],
                               abstract="A graphene film that spreads heat in phones; thermal conductivity 1500 W/mK")
    film = await api.asset(uni, title="Polyimide film for flexible displays", ipc_codes=["C08J 5/18"],
                           abstract="A film with low thermal expansion")
    await api.asset(uni, title="一种中药提取方法", abstract="黄芪多糖的提取工艺", ipc_codes=["A61K 36/481"])
    chinese = await api.asset(uni, title="石墨烯导热膜的制备方法", abstract="石墨烯导热膜 高导热 散热", ipc_codes=["C01B 32/184"])
    sme = await api.org("sme")
    english = await _post_need(client, sme, title="Graphene thermal film", description="graphene heat spreader for phones")
    ranked = await _matches(client, sme, english["id"])
    assert [m["asset_id"] for m in ranked] == [spreader["id"], film["id"]]
    assert ranked[0]["reasons"][0].startswith("shared terms: graphene")
    assert ranked[0]["score"] > ranked[1]["score"] > 0
    zh = await _post_need(client, sme, title="石墨烯散热膜需求", description="寻找石墨烯导热膜技术", ipc_codes=["C01B 32/20"])
    ranked = await _matches(client, sme, zh["id"])
    assert ranked[0]["asset_id"] == chinese["id"]
    assert "shared IPC main group C01B 32" in ranked[0]["reasons"]
    assert any(r.startswith("shared terms:") and "石墨" in r for r in ranked[0]["reasons"])
    # The English patent shares the IPC main group but no words: IPC alone (0.35) ranks it second.
    assert ranked[1]["asset_id"] == spreader["id"] and ranked[1]["score"] == 0.35


async def test_indexed_ranking_equals_the_engine_over_the_whole_pool(api, client, app):
    """Retrieval + re-ranking gives the engine's exact top N (a small corpus: every term is looked up)."""
    uni = await api.org("university")
    rng = random.Random(5)
    for i in range(24):
        title, abstract, codes = fake_text(rng)
        await api.asset(uni, title=title, abstract=abstract, ipc_codes=codes, number=patent_number(serial=900 + i),
                        industry=rng.choice(["new_energy", "materials"]))
    sme = await api.org("sme")
    title, abstract, codes = fake_text(rng)
    need = await _post_need(client, sme, title=title, description=abstract, ipc_codes=codes[:1], industry="materials")
    ranked = await _matches(client, sme, need["id"])
    docs, dfs, _, _ = await _index_rows(app, "asset")
    async with open_session(app) as session:
        rows = (await session.exec(select(Asset))).all()
    pool = [Doc(id=a.id, counts=term_counts(f"{a.title}\n{a.abstract}"), ipc_codes=a.ipc_codes, industry=a.industry,
                subclass=a.ipc_subclass, notes=["dormant university patent"]) for a in rows]
    exact = rank(f"{title}\n{abstract}", codes[:1], "materials", pool, limit=20, corpus=(len(docs), dfs))
    assert len(ranked) == 20
    assert [(m["asset_id"], m["score"], m["reasons"]) for m in ranked] == [
        (r["id"], r["score"], r["reasons"]) for r in exact]


async def test_editing_an_asset_reindexes_it_after_the_commit(api, client, app):
    uni = await api.org("university")
    a = await api.asset(uni, title="太阳能电池减反射涂层", abstract="光伏 coating", ipc_codes=["H01L 31/0216"])
    b = await api.asset(uni, title="一种中药提取方法", abstract="黄芪多糖的提取工艺", ipc_codes=["A61K 36/481"])
    sme = await api.org("sme")
    need = await _post_need(client, sme, title="黄芪多糖提取", description="寻找中药黄芪多糖提取工艺")
    assert [m["asset_id"] for m in await _matches(client, sme, need["id"])] == [b["id"]]
    r = await client.patch(f"/assets/{a['id']}", json={"title": "黄芪多糖的超声提取工艺", "abstract": "中药 黄芪 多糖 提取"},
                           headers=uni.headers)
    assert r.status_code == 200, r.text
    ranked = await _matches(client, sme, need["id"])
    assert ranked[0]["asset_id"] == a["id"] and "黄芪" in ranked[0]["reasons"][0]
    assert [m["asset_id"] for m in ranked] == [a["id"], b["id"]]
    docs, dfs, postings, updated = await _index_rows(app, "asset")
    assert docs[a["id"]].source_updated_at == updated[a["id"]]
    assert "黄芪" in docs[a["id"]].counts and "光伏" not in docs[a["id"]].counts
    assert "光伏" not in postings  # the old postings are gone ...
    assert dfs["黄芪"] == 2 and dfs.get("光伏", 0) == 0  # ... and the frequencies moved with them


async def _forget(app, doc_type):
    """Drop a document type from the index, as if its documents were loaded in bulk before it existed."""
    async with open_session(app) as session:
        for table in (MatchTerm, MatchDoc, MatchDf):
            await session.exec(sa.delete(table).where(table.doc_type == doc_type))
        await session.commit()


async def test_day_end_indexes_everything_stale_and_a_query_writes_nothing(api, client, app):
    uni = await api.org("university")
    a = await api.asset(uni, title="燃料电池双极板", abstract="金属双极板 冲压成型", ipc_codes=["H01M 8/0206"])
    b = await api.asset(uni, title="固态电解质膜", abstract="硫化物 电解质 battery", ipc_codes=["H01M 10/0562"])
    sme = await api.org("sme")
    need = await _post_need(client, sme, title="固态电池", description="硫化物固态电解质 battery")
    docs, _, _, _ = await _index_rows(app, "asset")
    assert set(docs) == {a["id"], b["id"]}  # indexed by the job each registration queued
    assert list((await _index_rows(app, "need"))[0]) == [need["id"]]  # a need is indexed when posted
    await _forget(app, "asset")
    assert await _matches(client, sme, need["id"]) == []  # the query reads the index as it is ...
    assert (await _index_rows(app, "asset"))[0] == {}  # ... and writes nothing
    await api.advance(1)
    docs, dfs, postings, updated = await _index_rows(app, "asset")
    assert set(docs) == {a["id"], b["id"]}
    assert all(docs[i].source_updated_at == updated[i] for i in docs)
    assert dfs == postings  # exact frequencies from the postings
    r = await client.patch(f"/assets/{b['id']}", json={"title": "氧化物固态电解质"}, headers=uni.headers)
    assert r.status_code == 200
    await api.advance(1)
    docs, dfs, postings, updated = await _index_rows(app, "asset")
    assert docs[b["id"]].source_updated_at == updated[b["id"]] and "氧化" in docs[b["id"]].counts
    assert dfs == postings and "质膜" not in dfs  # the old title's bigram
    async with open_session(app) as session:  # nothing left for a job to do
        assert await index.refresh_recent_assets(session) == 0
        assert await index.refresh_all_assets(session) == 0
    ranked = await _matches(client, sme, need["id"])
    assert ranked[0]["asset_id"] == b["id"]


async def test_needs_missing_from_the_index_are_indexed_by_the_next_job(api, client, app):
    uni = await api.org("university")
    a = await api.asset(uni, title="锂电池热管理", abstract="液冷 battery thermal", ipc_codes=["H01M 10/613"])
    sme = await api.org("sme")
    need = await _post_need(client, sme, title="锂电池液冷", description="battery thermal 液冷板")
    await _forget(app, "need")  # as if posted before the index existed
    r = await client.get(f"/assets/{a['id']}/matches", headers=uni.headers)
    assert r.json() == [] and (await _index_rows(app, "need"))[0] == {}  # the query writes nothing
    r = await client.patch(f"/assets/{a['id']}", json={"abstract": "液冷 battery thermal 热管理"}, headers=uni.headers)
    assert r.status_code == 200  # any asset write queues the index job, which also picks up missing needs
    r = await client.get(f"/assets/{a['id']}/matches", headers=uni.headers)
    assert [m["need_id"] for m in r.json()] == [need["id"]]
    docs, dfs, postings, _ = await _index_rows(app, "need")
    assert list(docs) == [need["id"]] and dfs == postings == Counter(docs[need["id"]].counts.keys()) + Counter(
        docs[need["id"]].ipc_terms)
