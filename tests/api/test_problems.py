"""problem+json for every error the framework raises, and the request-size limit."""

from market.assets.models import Asset
from tests.helpers import assert_problem, count, patent_number, table_counts


async def test_unknown_route_is_404_problem(client):
    assert_problem(await client.get("/no-such-thing"), 404, "not_found")
    assert_problem(await client.get("http://test/elsewhere"), 404, "not_found")


async def test_wrong_method_is_405_problem(client):
    r = await client.delete("/health")
    assert_problem(r, 405, "method_not_allowed")
    assert "GET" in r.headers["allow"]


async def test_validation_errors_carry_loc_and_msg(api, client):
    sme = await api.org("sme")
    r = await client.post("/assets", json={"kind": "invention_patent", "title": "", "claims_count": -1,
                                           "surprise": 1}, headers=sme.headers)
    body = assert_problem(r, 422, "validation_error")
    locs = [tuple(e["loc"]) for e in body["errors"]]
    assert ("body", "number") in locs and ("body", "claims_count") in locs and ("body", "surprise") in locs
    assert all(isinstance(e["msg"], str) and e["msg"] for e in body["errors"])
    assert body["type"] == "urn:ipm:problem:validation_error"
    r = await client.get("/assets", params={"limit": "many"}, headers=sme.headers)
    assert assert_problem(r, 422, "validation_error")["errors"][0]["loc"] == ["query", "limit"]


async def test_malformed_json_is_422(api, client):
    sme = await api.org("sme")
    r = await client.post("/assets", content=b'{"kind": ', headers={**sme.headers, "content-type": "application/json"})
    assert_problem(r, 422, "validation_error")


async def test_every_user_endpoint_needs_auth(client):
    for method, path in [("GET", "/me"), ("GET", "/orgs/org_x"), ("POST", "/orgs"), ("POST", "/orgs/org_x/users"),
                         ("POST", "/regions"), ("GET", "/clock"), ("POST", "/clock/advance"), ("GET", "/assets"),
                         ("POST", "/assets"), ("GET", "/assets/ast_x"), ("PATCH", "/assets/ast_x")]:
        # Even with an empty (invalid) body the missing token is what answers.
        r = await client.request(method, path, json={} if method != "GET" else None)
        assert_problem(r, 401, "not_authenticated")


async def test_oversize_body_is_413_and_writes_nothing(api, client, app):
    sme = await api.org("sme")
    limit = app.state.settings.max_body_bytes
    before = await table_counts(app)
    big = {"kind": "invention_patent", "number": patent_number(), "title": "t", "abstract": "字" * limit}
    r = await client.post("/assets", json=big, headers=sme.headers)
    assert_problem(r, 413, "payload_too_large")
    # Streamed without Content-Length: refused once the limit is passed.

    async def chunks():
        yield b'{"kind": "invention_patent", "title": "t", "abstract": "'
        for _ in range(limit // 65536 + 2):
            yield b"a" * 65536
        yield b'"}'

    r = await client.post("/assets", content=chunks(), headers={**sme.headers, "content-type": "application/json"})
    assert "content-length" not in r.request.headers
    assert_problem(r, 413, "payload_too_large")
    r = await client.post("/assets", content=chunks(),
                          headers={**sme.headers, "content-type": "application/json", "Idempotency-Key": "big"})
    assert_problem(r, 413, "payload_too_large")
    r = await client.post("/auth/token", content=b"username=" + b"a" * (limit + 1),
                          headers={"content-type": "application/x-www-form-urlencoded"})
    assert_problem(r, 413, "payload_too_large")
    assert await table_counts(app) == before
    # Just under the limit is parsed as usual (and here refused for its content, not its size).
    r = await client.post("/assets", json={**big, "abstract": "a" * 10_001}, headers=sme.headers)
    assert_problem(r, 422, "validation_error")
    assert await count(app, Asset) == 0
