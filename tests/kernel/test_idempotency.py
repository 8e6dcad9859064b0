"""Idempotency-Key: replay, conflict, per-organisation scope, failures not stored, concurrency."""

import asyncio

import httpx
import pytest
import sqlalchemy as sa

from kernel.idempotency import IdempotencyRecord
from market.assets.models import Asset
from tests.helpers import assert_problem, count, open_session, patent_number, table_counts

BODY = {"kind": "invention_patent", "title": "一种煤矸石综合利用方法", "filing_date": "2019-05-10",
        "grant_date": "2021-08-20"}


async def test_same_key_same_body_replays_and_writes_nothing(api, client, app):
    sme = await api.org("sme")
    body = {**BODY, "number": patent_number()}
    headers = {**sme.headers, "Idempotency-Key": "reg-asset-1"}
    first = await client.post("/assets", json=body, headers=headers)
    assert first.status_code == 201 and "idempotent-replayed" not in first.headers
    before = await table_counts(app)
    again = await client.post("/assets", json=body, headers=headers)
    assert again.status_code == 201
    assert again.headers["idempotent-replayed"] == "true"
    assert again.headers["content-type"].startswith("application/json")
    assert again.json() == first.json()
    assert await table_counts(app) == before
    assert await count(app, Asset) == 1


async def test_same_key_different_body_is_409(api, client, app):
    sme = await api.org("sme")
    headers = {**sme.headers, "Idempotency-Key": "k-2"}
    assert (await client.post("/assets", json={**BODY, "number": patent_number()}, headers=headers)).status_code == 201
    before = await table_counts(app)
    r = await client.post("/assets", json={**BODY, "number": patent_number()}, headers=headers)
    assert_problem(r, 409, "idempotency_conflict")
    # The same key on another path is another request too.
    r = await client.post("/orgs", json={"name": "x", "kind": "bank", "credit_code": "x"}, headers=headers)
    assert_problem(r, 409, "idempotency_conflict")
    assert await table_counts(app) == before


async def test_keys_are_scoped_per_organisation(api, client, app):
    a, b = await api.org("sme"), await api.org("university")
    body = {**BODY, "number": patent_number()}
    ra = await client.post("/assets", json=body, headers={**a.headers, "Idempotency-Key": "shared"})
    # Another organisation, same key and same body: its own request, not A's response.
    rb = await client.post("/assets", json=body, headers={**b.headers, "Idempotency-Key": "shared"})
    assert ra.status_code == 201
    assert_problem(rb, 409, "already_exists")
    rb = await client.post("/assets", json={**BODY, "number": patent_number()},
                           headers={**b.headers, "Idempotency-Key": "shared"})
    assert rb.status_code == 201 and rb.json()["owner_org_id"] == b.org_id and "idempotent-replayed" not in rb.headers
    # A second user of organisation A shares A's keys.
    a2 = await api.user(a.org_id, "sme", role="member")
    replay = await client.post("/assets", json=body, headers={**a2.headers, "Idempotency-Key": "shared"})
    assert replay.headers.get("idempotent-replayed") == "true" and replay.json() == ra.json()
    assert await count(app, IdempotencyRecord) == 2


async def test_a_failed_request_does_not_keep_its_key(api, client, app):
    sme = await api.org("sme")
    headers = {**sme.headers, "Idempotency-Key": "retry-me"}
    number = patent_number()
    body, check = number.split(".")
    bad = {**BODY, "number": f"{body}.{'0' if check != '0' else '1'}"}
    assert_problem(await client.post("/assets", json=bad, headers=headers), 422, "validation_error")
    assert_problem(await client.post("/assets", json={**BODY, "number": number, "grant_date": "2001-01-01"},
                                     headers=headers), 422, "validation_error")
    bank = await api.org("bank")
    assert_problem(await client.post("/assets", json={**BODY, "number": number},
                                     headers={**bank.headers, "Idempotency-Key": "retry-me"}), 403, "forbidden")
    assert await count(app, IdempotencyRecord) == 0
    r = await client.post("/assets", json={**BODY, "number": number}, headers=headers)
    assert r.status_code == 201 and "idempotent-replayed" not in r.headers
    assert await count(app, IdempotencyRecord) == 1


async def test_key_length(api, client, app):
    sme = await api.org("sme")
    before = await table_counts(app)
    r = await client.post("/assets", json={**BODY, "number": patent_number()},
                          headers={**sme.headers, "Idempotency-Key": "k" * 256})
    problem = assert_problem(r, 422, "validation_error")
    assert problem["errors"][0]["loc"] == ["header", "Idempotency-Key"]
    assert await table_counts(app) == before
    r = await client.post("/assets", json={**BODY, "number": patent_number()},
                          headers={**sme.headers, "Idempotency-Key": "k" * 255})
    assert r.status_code == 201


async def test_public_registration_replays(client, app):
    from tests.helpers import credit_code

    body = {"org_name": "晋中新材料", "org_kind": "sme", "credit_code": credit_code(), "email": "a@b.cn",
            "password": "long-enough-1"}
    first = await client.post("/auth/register", json=body, headers={"Idempotency-Key": "signup-1"})
    again = await client.post("/auth/register", json=body, headers={"Idempotency-Key": "signup-1"})
    assert first.status_code == again.status_code == 201 and first.json() == again.json()
    assert again.headers["idempotent-replayed"] == "true"


async def _concurrent_same_key(api, app, n: int):
    sme = await api.org("sme")
    body = {**BODY, "number": patent_number()}
    headers = {**sme.headers, "Idempotency-Key": "concurrent-1"}

    async def post():
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test/api/v1") as c:
            return await c.post("/assets", json=body, headers=headers)

    responses = await asyncio.gather(*(post() for _ in range(n)))
    assert [r.status_code for r in responses] == [201] * n, [r.text for r in responses]
    assert len({r.text for r in responses}) == 1
    assert sum(r.headers.get("idempotent-replayed") == "true" for r in responses) == n - 1
    assert await count(app, Asset) == 1
    assert await count(app, IdempotencyRecord) == 1
    async with app.state.engine.connect() as conn:
        stored = (await conn.execute(sa.select(IdempotencyRecord.response_status))).scalar_one()
    assert stored == 201


@pytest.mark.postgres
async def test_concurrent_identical_posts_execute_once_postgres(api, app):
    await _concurrent_same_key(api, app, 10)


async def test_concurrent_identical_posts_execute_once(api, app):
    # On SQLite writers serialise at BEGIN IMMEDIATE; on PostgreSQL the unique key row blocks the others.
    await _concurrent_same_key(api, app, 5)


async def test_an_expired_key_is_free_again_and_purged_at_day_end(api, client, app):
    from datetime import timedelta

    from kernel.db import utcnow
    from kernel.idempotency import purge_expired
    from tests.helpers import execute

    sme = await api.org("sme")
    headers = {**sme.headers, "Idempotency-Key": "old-key"}
    assert (await client.post("/assets", json={**BODY, "number": patent_number()}, headers=headers)).status_code == 201
    ttl = timedelta(hours=app.state.settings.idempotency_ttl_hours)
    await execute(app, sa.update(IdempotencyRecord).values(created_at=utcnow() - ttl - timedelta(minutes=1)))
    # Past its lifetime the key names a new request (a different body is not a conflict any more).
    r = await client.post("/assets", json={**BODY, "number": patent_number()}, headers=headers)
    assert r.status_code == 201 and "idempotent-replayed" not in r.headers
    assert await count(app, Asset) == 2 and await count(app, IdempotencyRecord) == 1
    await execute(app, sa.update(IdempotencyRecord).values(created_at=utcnow() - ttl - timedelta(minutes=1)))
    other = await client.post("/assets", json={**BODY, "number": patent_number()},
                              headers={**sme.headers, "Idempotency-Key": "fresh"})
    assert other.status_code == 201
    async with open_session(app) as session:
        await purge_expired(session, None)
        await session.commit()
    async with app.state.engine.connect() as conn:
        keys = (await conn.execute(sa.select(IdempotencyRecord.key))).scalars().all()
    assert keys == ["fresh"]


async def test_anonymous_callers_never_replay_each_others_responses(client, app):
    from tests.helpers import credit_code

    def body(email):
        return {"org_name": "晋中新材料", "org_kind": "sme", "credit_code": credit_code(), "email": email,
                "password": "long-enough-1"}

    first = await client.post("/auth/register", json=body("a@b.cn"), headers={"Idempotency-Key": "signup"})
    other = await client.post("/auth/register", json=body("c@d.cn"), headers={"Idempotency-Key": "signup"})
    assert first.status_code == other.status_code == 201
    assert "idempotent-replayed" not in other.headers
    assert other.json()["user"]["email"] == "c@d.cn" != first.json()["user"]["email"]
