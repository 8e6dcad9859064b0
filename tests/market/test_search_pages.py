"""A worker's cached search pages (market.trading.service.SearchPages) answer only while the listings'
version they were read under is current: every committed change to a listing or its assets, through the
API or by plain SQL, moves the version, and the next search reads afresh."""

from __future__ import annotations

import asyncio
from typing import Any

import sqlalchemy as sa

from market.trading.models import Listing, ListingAsset
from market.trading.service import SearchPages, listings_version, search_pages
from tests.helpers import execute, open_session, statements
from tests.market.helpers import listing


async def _version(app: Any) -> int:
    async with open_session(app) as session:
        return await listings_version(session)


async def _ids(client: Any, headers: dict[str, str], **params: Any) -> list[str]:
    r = await client.get("/listings", params=params, headers=headers)
    assert r.status_code == 200, r.text
    return [x["id"] for x in r.json()["data"]]


async def test_a_repeated_search_reads_only_the_version_with_the_caller(api, client, app):
    uni, sme = await api.org("university"), await api.org("sme")
    asset = await api.asset(uni, title="石墨烯 patent")
    made = await listing(api, uni, [asset["id"]], title="Graphene film")
    first = await _ids(client, sme.headers, q="graphene")
    assert first == [made["id"]]
    with statements(app) as counted:
        again = await client.get("/listings", params={"q": "graphene"}, headers=sme.headers)
    assert again.status_code == 200 and [x["id"] for x in again.json()["data"]] == first
    sent = [s for s in counted if s != "BEGIN"]  # SQLite's own BEGIN for a read
    assert len(sent) == 1 and "listings_version" in sent[0], sent  # the caller and the version, nothing else
    # A disabled caller is refused even when the page is cached: the check rides with the version.
    await execute(app, sa.text("UPDATE users SET disabled = :t WHERE id = :u").bindparams(t=True, u=sme.user_id))
    r = await client.get("/listings", params={"q": "graphene"}, headers=sme.headers)
    assert r.status_code == 401, r.text


async def test_every_change_to_a_listing_moves_the_version_and_the_page(api, client, app):
    uni, sme = await api.org("university"), await api.org("sme")
    a1, a2 = await api.asset(uni, title="锂电池 one"), await api.asset(uni, title="锂电池 two")
    one = await listing(api, uni, [a1["id"]], title="battery one")
    assert await _ids(client, sme.headers, q="battery") == [one["id"]]
    v0 = await _version(app)
    two = await listing(api, uni, [a2["id"]], title="battery two")  # through the API
    v1 = await _version(app)
    assert v1 != v0
    assert await _ids(client, sme.headers, q="battery") == [two["id"], one["id"]]
    r = await client.post(f"/listings/{two['id']}/withdraw", headers=uni.headers)
    assert r.status_code == 200, r.text
    assert await _ids(client, sme.headers, q="battery") == [one["id"]]
    # Plain SQL moves it too (the triggers are the database's): a title changed behind the API's back.
    await execute(app, sa.update(Listing).where(Listing.id == one["id"]).values(title="battery renamed"))
    assert (await client.get("/listings", params={"q": "battery"}, headers=sme.headers)).json()["data"][0]["title"] \
        == "battery renamed"
    # A listing's assets are part of what a search shows (the asset filter).
    assert await _ids(client, sme.headers, asset_id=a1["id"]) == [one["id"]]
    await execute(app, sa.delete(ListingAsset).where(ListingAsset.listing_id == one["id"]))
    assert await _ids(client, sme.headers, asset_id=a1["id"]) == []
    # A change rolled back moves nothing: the cached page stays the answer.
    before = await _version(app)
    async with open_session(app) as session:
        await session.execute(sa.update(Listing).where(Listing.id == one["id"]).values(title="never"))
        await session.rollback()
    assert await _version(app) == before


async def test_a_change_committed_while_a_page_is_read_is_seen_next_time(api, client, app):
    """Concurrent writers and readers: whatever order they commit and read in, a search after the last
    commit shows every listing (no page read under an older version outlives it)."""
    uni, sme = await api.org("university"), await api.org("sme")
    assets = [await api.asset(uni, title=f"graphene {i}") for i in range(6)]

    async def make(i: int) -> str:
        return (await listing(api, uni, [assets[i]["id"]], title=f"graphene sheet {i}"))["id"]

    async def search() -> None:
        await _ids(client, sme.headers, q="sheet")

    made = await asyncio.gather(*(make(i) for i in range(6)), *(search() for _ in range(6)))
    assert await _ids(client, sme.headers, q="sheet") == sorted(made[:6], reverse=True)


def test_pages_are_given_back_only_for_their_version_and_the_oldest_go_first():
    pages = SearchPages(size=2)
    pages.put(("a",), 1, b"A")
    assert pages.get(("a",), 1) == b"A" and pages.get(("a",), 2) is None
    pages.put(("b",), 1, b"B")
    assert pages.get(("a",), 1) == b"A"  # now the most recently used
    pages.put(("c",), 1, b"C")
    assert pages.get(("b",), 1) is None and pages.get(("a",), 1) == b"A" and pages.get(("c",), 1) == b"C"


async def test_each_app_has_its_own_pages(app):
    assert search_pages(app) is search_pages(app)
    assert isinstance(search_pages(app), SearchPages)
