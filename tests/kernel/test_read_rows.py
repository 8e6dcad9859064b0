"""``kernel.db.read_rows``: on PostgreSQL a read-only session runs hot reads on the asyncpg connection
itself; its rows must be SQLAlchemy's, name for name and value for value, and a dead connection must
still be retried as SQLAlchemy's own errors are."""

from __future__ import annotations

import json

import sqlalchemy as sa

from api.deps import _ACTOR_ROW
from kernel.db import read_rows
from market.assets.service import _READ_WITH_HISTORY
from market.trading.service import ListingFilters, list_listings
from tests.conftest import IS_POSTGRES


async def _both(app, stmt, params):
    async with app.state.read_session_factory() as session:
        ours = await read_rows(session, stmt, params)
        theirs = (await session.execute(stmt, params)).all()
    return ours, theirs


async def test_rows_are_sqlalchemys(api, client, app):
    sme = await api.org("sme")
    asset = await api.asset(sme)  # dates, JSON (IPC codes), money, an ownership record
    ours, theirs = await _both(app, _READ_WITH_HISTORY, {"asset_id": asset["id"]})
    assert len(ours) == len(theirs) >= 1
    assert [tuple(r) for r in ours] == [tuple(r) for r in theirs]
    assert all(type(a) is type(b) for r, t in zip(ours, theirs, strict=True) for a, b in zip(r, t, strict=True))
    assert ours[0]._fields == tuple(theirs[0]._fields)
    assert (type(ours[0]) is sa.Row) is not IS_POSTGRES  # the driver's path on PostgreSQL only
    ours, theirs = await _both(app, _ACTOR_ROW, {"user_id": sme.user_id})
    assert [tuple(r) for r in ours] == [tuple(r) for r in theirs] and ours[0].business_date is not None


async def test_listing_search_shapes(api, app):
    """Statements built once per shape of search: each filter and the cursor still narrow the rows."""
    sme = await api.org("sme")
    ids = []
    for title in ("graphene anode", "graphene sheet", "perovskite anode"):
        asset = await api.asset(sme)
        r = await api.client.post("/listings", json={"asset_ids": [asset["id"]], "mode": "assignment",
                                                     "price": 100_000_00, "title": title}, headers=sme.headers)
        assert r.status_code == 201, r.text
        ids.append(r.json()["id"])
    async with app.state.read_session_factory() as session:
        async def search(limit=20, cursor=None, **f):
            rows, more, nxt = await list_listings(session, ListingFilters(**f), limit, cursor)
            return [r.id for r in rows], more, nxt

        assert await search(q="graphene", status="open") == ([ids[1], ids[0]], False, None)
        assert await search(q="anode graphene") == ([ids[0]], False, None)
        assert await search(q="anode", mode="license") == ([], False, None)
        first, more, nxt = await search(limit=1, q="anode", seller_org_id=sme.org_id)
        assert first == [ids[2]] and more and nxt
        assert (await search(limit=1, cursor=nxt, q="anode", seller_org_id=sme.org_id))[:2] == ([ids[0]], False)
        assert await search(q="50%_off") == ([], False, None)  # LIKE's wildcards are the text's own


async def test_dead_connection_is_retried(api, client, app):
    """A pooled connection the server dropped fails at its first statement (no pre-ping); the request
    runs again on a fresh one."""
    sme = await api.org("sme")
    asset = await api.asset(sme)
    assert (await client.get(f"/assets/{asset['id']}", headers=sme.headers)).status_code == 200
    if not IS_POSTGRES:
        return
    async with app.state.engine.connect() as conn:
        await conn.execute(sa.text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                   "WHERE datname = current_database() AND pid <> pg_backend_pid()"))
    r = await client.get(f"/assets/{asset['id']}", headers=sme.headers)
    assert r.status_code == 200 and r.json()["id"] == asset["id"]


async def test_listing_json_is_pydantics(api, client, app):
    """On PostgreSQL the search's page is written by the database: byte for byte what pydantic writes."""
    from kernel.pagination import Page
    from market.trading.schemas import ListingOut

    sme = await api.org("sme")
    assets = [await api.asset(sme) for _ in range(3)]
    for i, body in enumerate([{"title": '"quote" back\\slash é 储能 \u2028 😀 graphene',
                               "description": "tab\ttwo\r\nlines", "asset_ids": [a["id"] for a in assets[:2]]},
                              {"title": "plain graphene", "asset_ids": [assets[2]["id"]], "mode": "nonexclusive_license",
                               "term_months": 12, "rate_bps": 250, "free_months": 0, "minimum_annual": 1_000_00}]):
        r = await client.post("/listings", json={"mode": "assignment", "price": 100_000_00 + i, **body},
                              headers=sme.headers)
        assert r.status_code == 201, r.text
    async with app.state.engine.begin() as conn:  # a whole second, an expiry date, controls the API refuses
        await conn.execute(sa.text("UPDATE listings SET created_at = '2026-03-02 01:02:03+00', "
                                   "expires_on = '2027-01-31', title = title || :odd WHERE id = :id"),
                           {"id": r.json()["id"], "odd": " \x01\x1f\x7f\x85 \\u0000"})
        # Lists as json.dumps stores them: a quoted ", " inside an element; non-ASCII (\u escapes)
        for codes, title in ((['a", "b', "H01M"], "plain%"), (["储能", 'q"x', "H01M"], '"quote%')):
            await conn.execute(sa.text("UPDATE listings SET ipc_codes = :codes WHERE title LIKE :title"),
                               {"codes": json.dumps(codes), "title": title})
    for limit in (1, 20):
        got = await client.get("/listings", params={"q": "graphene", "limit": limit}, headers=sme.headers)
        assert got.status_code == 200
        async with app.state.read_session_factory() as session:
            rows, more, nxt = await list_listings(session, ListingFilters(q="graphene"), limit, None)
            as_json = await list_listings(session, ListingFilters(q="graphene"), limit, None, as_json=True)
        assert hasattr(as_json[0][0], "row_json") is IS_POSTGRES  # SQLite's answer is pydantic's own
        want = Page[ListingOut].model_validate({"data": rows, "has_more": more, "next_cursor": nxt},
                                               from_attributes=True).model_dump_json(by_alias=True)
        assert got.text == want
        assert len(got.json()["data"]) == limit if limit == 1 else 2
    assert [d["ipc_codes"] for d in got.json()["data"]] == [['a", "b', "H01M"], ["储能", 'q"x', "H01M"]]


async def test_an_overflow_connection_goes_back_cleanly(api, app, caplog):
    """Reads beyond the pool's size take overflow connections; giving one back to a full pool closes it,
    which awaits the driver: nothing may fail there, and no connection stays counted as out."""
    import asyncio

    from kernel.db import make_engine, read_only_factory

    sme = await api.org("sme")
    engine = make_engine(app.state.settings.database_url, pool_size=1, max_overflow=3)
    factory = read_only_factory(engine)
    try:
        async def read() -> list:
            async with factory() as session:
                return await read_rows(session, _ACTOR_ROW, {"user_id": sme.user_id})

        for _ in range(3):
            assert all(len(rows) == 1 for rows in await asyncio.gather(*(read() for _ in range(4))))
        assert engine.sync_engine.pool.checkedout() == 0
        assert not [r for r in caplog.records if r.levelname in ("ERROR", "WARNING") and "pool" in r.name], \
            [r.getMessage() for r in caplog.records]
    finally:
        await engine.dispose()
