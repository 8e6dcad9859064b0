"""Listing search through its inverted index (PostgreSQL) answers exactly what LIKE answers: every part
of ``q`` a substring of the listing's text, newest first, page after page; SQLite scans for the same."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from accounts.models import User
from kernel.db import read_rows
from kernel.text import query_parts
from market.trading.models import Listing, ListingTerm, ListingWord
from market.trading.service import ListingFilters, list_listings, listing_index_rows
from tests.conftest import IS_POSTGRES
from tests.helpers import assert_problem, execute, open_session
from tests.market.helpers import listing, offer

# (title, description): words inside words, CJK runs, a word longer than the index's pieces, wildcards.
TEXTS = [
    ("Graphene anode coating", None),
    ("nanographene sheets", "thermal film"),
    ("GRAPHENES 石墨烯导热膜", None),
    ("li-ion battery pack 锂电池", "电池热管理系统"),
    ("锂 电池 separated", "lithium"),
    ("long word", "x" * 450 + "graphene" + "y" * 30 + " tail"),
    ("50%_off sale", "graphene ion"),
    ("电池热管理", "ＳＯＬＡＲ panel"),
]
QUERIES = ["graphene", "raphen", "graphenes", "nanographene", "石墨烯", "石墨", "电池", "锂电池", "锂电", "热管理 电池",
           "li-ion", "ion", "graphene 石墨烯", "xgraphene", "xxxgraphene" + "y" * 30, "yyy", "50%_off", "锂", "a",
           "nothing", "ene coat", "solar", "Graphene ANODE", "thermal graphene", "tail graphene", "sheets 热管理"]


async def _texts(app: Any) -> dict[str, tuple[str, str]]:
    async with open_session(app) as session:
        rows = (await session.execute(sa.select(Listing.id, Listing.search_text, Listing.status))).all()
    return {r.id: (r.search_text, r.status) for r in rows}


def _expected(texts: dict[str, tuple[str, str]], q: str, status: str | None = "open") -> list[str]:
    parts = query_parts(q)
    return sorted((i for i, (text, st) in texts.items()
                   if all(p in text for p in parts) and (status is None or st == status)), reverse=True)


async def _pages(client: Any, headers: dict[str, str], limit: int, **params: Any) -> list[str]:
    """Every page of a search, cursor after cursor."""
    out: list[str] = []
    cursor = None
    while True:
        r = await client.get("/listings", params={**params, "limit": limit, **({"cursor": cursor} if cursor else {})},
                             headers=headers)
        assert r.status_code == 200, r.text
        page = r.json()
        out += [x["id"] for x in page["data"]]
        assert len(page["data"]) <= limit
        if not page["has_more"]:
            assert page["next_cursor"] is None
            return out
        cursor = page["next_cursor"]


async def _cast(api: Any) -> tuple[Any, Any, list[dict[str, Any]]]:
    uni = await api.org("university")
    sme = await api.org("sme")
    made = []
    for title, description in TEXTS:
        asset = await api.asset(uni, title="专利 patent", abstract=None)
        made.append(await listing(api, uni, [asset["id"]], title=title,
                                  **({"description": description} if description else {})))
    return uni, sme, made


async def test_search_answers_what_like_answers(api, client, app):
    _, sme, _ = await _cast(api)
    texts = await _texts(app)
    for q in QUERIES:
        want = _expected(texts, q)
        assert await _pages(client, sme.headers, 100, q=q) == want, q
        assert await _pages(client, sme.headers, 1, q=q) == want, q  # one per page: the cursor in the walk
    # The queries find something, and not everything: the comparison above says something.
    assert len(_expected(texts, "graphene")) == 5 and len(_expected(texts, "锂电池")) == 1
    assert len(_expected(texts, "xxxgraphene" + "y" * 30)) == 1 and not _expected(texts, "nothing")


async def test_search_follows_status_and_filters(api, client, app):
    uni, sme, made = await _cast(api)
    by_title = {m["title"]: m for m in made}
    anode = by_title["Graphene anode coating"]["id"]
    r = await client.post(f"/listings/{anode}/withdraw", headers=uni.headers)
    assert r.status_code == 200, r.text
    sheets = by_title["nanographene sheets"]["id"]
    o = await offer(api, sme, sheets)
    assert (await client.post(f"/offers/{o['id']}/accept", headers=uni.headers)).status_code == 200
    texts = await _texts(app)
    assert texts[anode][1] == "withdrawn" and texts[sheets][1] == "under_contract"
    open_ones = await _pages(client, sme.headers, 2, q="graphene")
    assert open_ones == _expected(texts, "graphene") and anode not in open_ones and sheets not in open_ones
    assert await _pages(client, sme.headers, 1, q="graphene", status="withdrawn") == [anode]
    assert await _pages(client, sme.headers, 1, q="raphen", status="under_contract") == [sheets]
    assert await _pages(client, sme.headers, 5, q="graphene", seller_org_id=sme.org_id) == []
    asset_id = by_title["GRAPHENES 石墨烯导热膜"]["asset_ids"][0]
    assert await _pages(client, sme.headers, 5, q="graphene", asset_id=asset_id) == [by_title["GRAPHENES 石墨烯导热膜"]["id"]]
    assert await _pages(client, sme.headers, 5, q="graphene", mode="sole_license") == []


async def test_a_new_listing_writes_its_terms(api, app):
    _, _, made = await _cast(api)
    async with open_session(app) as session:
        for m in made:
            text = (await session.get(Listing, m["id"])).search_text
            terms, words = listing_index_rows(m["id"], text)
            got = (await session.execute(sa.select(ListingTerm.term).where(ListingTerm.listing_id == m["id"]))).scalars()
            assert sorted(got) == sorted(t["term"] for t in terms) and terms
            vocabulary = set((await session.execute(sa.select(ListingWord.term))).scalars())
            assert {w["term"] for w in words} <= vocabulary
    long_text = next(m for m in made if m["title"] == "long word")
    pieces = [t["term"] for t in listing_index_rows(long_text["id"], "x" * 450 + "graphene")[0]]
    assert [len(p) for p in pieces] == [400, 258] and all("graphene" in p or "x" * 200 in p for p in pieces)


async def test_the_index_drives_the_search_on_postgresql(api, app):
    """An indexable part (a word, CJK) reads listing_terms; a mixed part the trigram index; SQLite neither."""
    await _cast(api)
    seen: list[str] = []

    async def read(session: Any, stmt: Any, params: dict[str, Any]) -> list[Any]:
        seen.append(str(stmt))
        return await read_rows(session, stmt, params)

    async with app.state.read_session_factory() as session:
        for q in ("graphene", "石墨烯", "锂电", "li-ion graphene", "li-ion", "a"):
            for f in (ListingFilters(q=q), ListingFilters(q=q, mode="assignment", status=None),
                      ListingFilters(q=q, ipc="H01M")):
                seen.clear()
                rows, _, _ = await list_listings(session, f, 20, None, read=read)
                driven = IS_POSTGRES and q not in ("li-ion", "a") and not f.ipc  # a selective filter: trigram
                assert ("listing_terms" in seen[0]) is driven, (q, f)
                assert [r.id for r in rows] == sorted((r.id for r in rows), reverse=True)


async def test_the_search_checks_its_caller_in_its_own_statement(api, client, app):
    """The caller's check rides in the search's first statement (with the listings' version): the same
    401s, whether the page has rows or not, read afresh or cached."""
    _, sme, _ = await _cast(api)
    assert await _pages(client, sme.headers, 3, q="graphene")
    for params in ({"q": "graphene"}, {"q": "nothing"}, {}):
        assert_problem(await client.get("/listings", params=params, headers={"Authorization": "Bearer garbage"}),
                       401, "not_authenticated")
    await execute(app, sa.update(User).where(User.id == sme.user_id).values(disabled=True))
    for params in ({"q": "graphene"}, {"q": "nothing"}, {"q": "li-ion"}):
        r = await client.get("/listings", params=params, headers=sme.headers)
        assert "revoked" in assert_problem(r, 401, "not_authenticated")["detail"]
