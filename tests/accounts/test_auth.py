"""Registration, login, tokens, organisations and users: every rule and every refusal."""

from datetime import timedelta

import jwt
import pytest
import sqlalchemy as sa

from accounts.models import LoginThrottle, Org, User
from api import security
from api.security import create_access_token
from kernel.audit import AuditEvent
from kernel.db import utcnow
from tests.helpers import assert_problem, count, credit_code, execute, table_counts


def _register_body(**over):
    body = {"org_name": "太原智造科技有限公司", "org_kind": "sme", "credit_code": credit_code(),
            "email": "founder@zhizao.cn", "password": "correct-horse-9", "region": "140100"}
    return {**body, **over}


async def _login(client, email, password):
    return await client.post("/auth/token", data={"username": email, "password": password})


async def test_register_then_token_then_me(client, app):
    body = _register_body()
    r = await client.post("/auth/register", json=body)
    assert r.status_code == 201, r.text
    out = r.json()
    assert out["org"]["kind"] == "sme" and out["org"]["credit_code"] == body["credit_code"]
    assert out["user"]["role"] == "org_admin" and out["user"]["email"] == body["email"]
    assert "password" not in r.text and "password_hash" not in r.text

    t = await _login(client, "FOUNDER@zhizao.cn ", body["password"])
    assert t.status_code == 200, t.text
    token = t.json()
    assert token["token_type"] == "bearer" and token["expires_in"] == app.state.settings.jwt_ttl_seconds
    me = await client.get("/me", headers={"Authorization": f"Bearer {token['access_token']}"})
    assert me.status_code == 200
    assert me.json()["user"]["id"] == out["user"]["id"] and me.json()["org"]["id"] == out["org"]["id"]
    # Registration is audited: the organisation and its first user.
    actions = {a async for a in _audit_actions(app, out["org"]["id"])}
    assert "org.registered" in actions


async def _audit_actions(app, org_id):
    async with app.state.engine.connect() as conn:
        for action in (await conn.execute(sa.select(AuditEvent.action).where(AuditEvent.actor_org_id == org_id))).scalars():
            yield action


async def test_register_refuses_bad_input_and_writes_nothing(client, app):
    before = await table_counts(app)
    good = _register_body()
    cases = [
        {**good, "credit_code": good["credit_code"][:17] + ("0" if good["credit_code"][17] != "0" else "1")},
        {**good, "credit_code": "91140100MA0L1N8K"},
        {**good, "credit_code": "91140100MA0L1N8KO2"[:18]},
        {**good, "org_kind": "bank"},
        {**good, "org_kind": "platform"},
        {**good, "password": "short"},
        {**good, "email": "not-an-email"},
        {**good, "org_name": "x" * 201},
        {**good, "org_name": "   "},
        {**good, "region": "1" * 13},
        {**good, "is_admin": True},
    ]
    for body in cases:
        problem = assert_problem(await client.post("/auth/register", json=body), 422, "validation_error")
        assert problem["errors"] and {"loc", "msg"} <= problem["errors"][0].keys()
    assert await table_counts(app) == before


async def test_duplicate_credit_code_or_email_is_409_and_writes_nothing(client, app):
    first = _register_body()
    assert (await client.post("/auth/register", json=first)).status_code == 201
    before = await table_counts(app)
    same_code = _register_body(email="other@zhizao.cn", credit_code=first["credit_code"].lower())
    assert_problem(await client.post("/auth/register", json=same_code), 409, "already_exists")
    same_email = _register_body(email="Founder@Zhizao.cn")
    assert_problem(await client.post("/auth/register", json=same_email), 409, "already_exists")
    assert await table_counts(app) == before


async def test_only_the_admin_creates_organisations(api, client, app):
    admin = await api.admin()
    sme = await api.org("sme")
    bank = await api.org("bank")
    body = {"name": "晋城担保", "kind": "guarantor", "credit_code": credit_code()}
    before = await table_counts(app)
    for party in (sme, bank):
        assert_problem(await client.post("/orgs", json=body, headers=party.headers), 403, "forbidden")
    assert_problem(await client.post("/orgs", json=body), 401, "not_authenticated")
    assert_problem(await client.post("/orgs", json={**body, "kind": "platform"}, headers=admin.headers),
                   422, "validation_error")
    assert_problem(await client.post("/orgs", json={**body, "rd_spending_last_year": -1}, headers=admin.headers),
                   422, "validation_error")
    assert await table_counts(app) == before
    r = await client.post("/orgs", json=body, headers=admin.headers)
    assert r.status_code == 201 and r.json()["kind"] == "guarantor"
    assert_problem(await client.post("/orgs", json=body, headers=admin.headers), 409, "already_exists")


async def test_org_admin_adds_users_to_its_own_organisation_only(api, client, app):
    sme = await api.org("sme")
    other = await api.org("university")
    member = await api.user(sme.org_id, "sme", role="member")
    new = {"email": "engineer@sme.cn", "password": "s3cret-pass", "role": "member"}
    r = await client.post(f"/orgs/{sme.org_id}/users", json=new, headers=sme.headers)
    assert r.status_code == 201 and r.json()["org_id"] == sme.org_id
    before = await table_counts(app)
    elsewhere = {**new, "email": "spy@sme.cn"}
    assert_problem(await client.post(f"/orgs/{other.org_id}/users", json=elsewhere, headers=sme.headers),
                   404, "not_found")
    assert_problem(await client.post("/orgs/org_nope/users", json=elsewhere, headers=sme.headers), 404, "not_found")
    assert_problem(await client.post(f"/orgs/{sme.org_id}/users", json=elsewhere, headers=member.headers),
                   403, "forbidden")
    assert_problem(await client.post(f"/orgs/{sme.org_id}/users", json={**elsewhere, "role": "admin"},
                                     headers=sme.headers), 422, "validation_error")
    assert_problem(await client.post(f"/orgs/{sme.org_id}/users", json=new, headers=sme.headers),
                   409, "already_exists")
    assert await table_counts(app) == before


async def test_regions_admin_or_regulator(api, client, app):
    admin = await api.admin()
    regulator = await api.org("regulator")
    bank = await api.org("bank")
    body = {"code": "140100", "name": "太原市", "population": 5_430_000}
    assert_problem(await client.post("/regions", json=body, headers=bank.headers), 403, "forbidden")
    assert_problem(await client.post("/regions", json={**body, "population": 0}, headers=admin.headers),
                   422, "validation_error")
    assert (await client.post("/regions", json=body, headers=admin.headers)).status_code == 201
    r = await client.post("/regions", json={**body, "population": 5_500_000}, headers=regulator.headers)
    assert r.status_code == 201 and r.json()["population"] == 5_500_000


async def test_expired_forged_and_orphaned_tokens_are_401(api, client, app):
    sme = await api.org("sme")
    settings = app.state.settings
    expired = create_access_token(sme.user_id, sme.org_id, settings.model_copy(update={"jwt_ttl_seconds": -5}))
    forged = create_access_token(sme.user_id, sme.org_id,
                                 settings.model_copy(update={"jwt_secret": "another-secret-" + "x" * 32}))
    now = utcnow()
    wrong_type = jwt.encode({"sub": sme.user_id, "org": sme.org_id, "iat": now, "exp": now + timedelta(hours=1),
                             "typ": "refresh"}, settings.jwt_secret, algorithm="HS256")
    no_exp = jwt.encode({"sub": sme.user_id, "org": sme.org_id, "iat": now, "typ": "access"},
                        settings.jwt_secret, algorithm="HS256")
    other_org = create_access_token(sme.user_id, "org_other", settings)
    for token in (expired, forged, wrong_type, no_exp, other_org, "garbage", ""):
        r = await client.get("/me", headers={"Authorization": f"Bearer {token}"})
        problem = assert_problem(r, 401, "not_authenticated")
        assert r.headers.get("www-authenticate") == "Bearer", problem
    assert "expired" in assert_problem(await client.get("/me", headers={"Authorization": f"Bearer {expired}"}),
                                       401, "not_authenticated")["detail"]
    # A deleted user's still-unexpired token stops working.
    assert (await client.get("/me", headers=sme.headers)).status_code == 200
    await execute(app, sa.delete(User).where(User.id == sme.user_id))
    assert_problem(await client.get("/me", headers=sme.headers), 401, "not_authenticated")


async def test_a_remembered_token_still_expires_and_is_still_revocable(api, client, app, monkeypatch):
    sme = await api.org("sme")
    assert (await client.get("/me", headers=sme.headers)).status_code == 200  # verified once, remembered
    claims = security.decode_access_token(sme.headers["Authorization"].removeprefix("Bearer "), app.state.settings)
    # Revocation is read from the database on every request, remembered token or not.
    await execute(app, sa.update(User).where(User.id == sme.user_id).values(disabled=True))
    assert "revoked" in assert_problem(await client.get("/me", headers=sme.headers), 401, "not_authenticated")["detail"]
    await execute(app, sa.update(User).where(User.id == sme.user_id).values(disabled=False))
    assert (await client.get("/me", headers=sme.headers)).status_code == 200
    monkeypatch.setattr(security.time, "time", lambda: claims["exp"] + 1)
    assert "expired" in assert_problem(await client.get("/me", headers=sme.headers), 401, "not_authenticated")["detail"]


async def test_repeated_failed_logins_lock_the_account(api, client, app):
    settings = app.state.settings
    sme = await api.org("sme")
    for _ in range(settings.login_max_failures):
        assert_problem(await _login(client, sme.email, "wrong-password"), 401, "not_authenticated")
    # Locked: even the right password is refused for a while, with Retry-After.
    r = await _login(client, sme.email, "s3cret-pass")
    assert_problem(r, 429, "rate_limited")
    assert 0 < int(r.headers["retry-after"]) <= settings.login_lockout_seconds
    # Another account is not affected.
    other = await api.org("sme")
    assert (await _login(client, other.email, "s3cret-pass")).status_code == 200
    # Once the lockout has passed the right password works and the counters reset.
    await _expire_lockout(app, sme.email)
    assert (await _login(client, sme.email, "s3cret-pass")).status_code == 200
    assert await count(app, LoginThrottle, LoginThrottle.email == sme.email) == 0


async def _expire_lockout(app, email):
    await execute(app, sa.update(LoginThrottle).where(LoginThrottle.email == email)
                  .values(locked_until=utcnow() - timedelta(seconds=1)))


async def test_failures_below_the_limit_do_not_lock(api, client, app):
    sme = await api.org("sme")
    for _ in range(app.state.settings.login_max_failures - 1):
        assert_problem(await _login(client, sme.email, "nope-nope"), 401, "not_authenticated")
    assert (await _login(client, sme.email, "s3cret-pass")).status_code == 200
    # Unknown email: same answer as a wrong password.
    assert_problem(await _login(client, "nobody@nowhere.cn", "s3cret-pass"), 401, "not_authenticated")
    assert await count(app, Org, Org.kind == "sme") == 1


async def _concurrent_wrong_logins(api, app, n):
    import asyncio

    import httpx

    sme = await api.org("sme")

    async def attempt():
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test/api/v1") as c:
            return await _login(c, sme.email, "wrong-password")

    results = await asyncio.gather(*(attempt() for _ in range(n)))
    assert sorted(r.status_code for r in results) == [401] * n
    return sme


@pytest.mark.postgres
async def test_concurrent_wrong_logins_all_count(api, client, app):
    # Each failure is counted even when the guesses arrive at once: the fifth locks the account.
    sme = await _concurrent_wrong_logins(api, app, app.state.settings.login_max_failures)
    assert_problem(await _login(client, sme.email, "s3cret-pass"), 429, "rate_limited")


async def test_admin_actions_are_audited(api, client, app):
    admin = await api.admin()
    r = await client.post("/orgs", json={"name": "晋城担保", "kind": "guarantor", "credit_code": credit_code()},
                          headers=admin.headers)
    async with app.state.engine.connect() as conn:
        event = (await conn.execute(sa.select(AuditEvent).where(AuditEvent.object_id == r.json()["id"]))).one()
    assert (event.action, event.actor_user_id, event.actor_org_id) == ("org.created", admin.user_id, admin.org_id)
    assert event.before is None and event.after["kind"] == "guarantor" and str(event.business_date) == "2026-03-02"


async def test_failed_logins_lockout_and_reset_are_audited(api, client, app):
    settings = app.state.settings
    sme = await api.org("sme")
    for _ in range(settings.login_max_failures):
        assert_problem(await _login(client, sme.email, "wrong-password"), 401, "not_authenticated")
    await _expire_lockout(app, sme.email)
    assert (await _login(client, sme.email, "s3cret-pass")).status_code == 200
    async with app.state.engine.connect() as conn:
        rows = (await conn.execute(sa.select(AuditEvent).where(AuditEvent.object_id == sme.user_id,
                                                               AuditEvent.action.like("user.%"))
                                   .order_by(AuditEvent.at, AuditEvent.id))).all()
    actions = [r.action for r in rows]
    assert actions == ["user.created"] + ["user.login_failed"] * (settings.login_max_failures - 1) + [
        "user.locked", "user.login_reset"]
    locked = rows[-2]
    assert locked.actor_org_id == sme.org_id and locked.actor_user_id == "login"
    assert locked.after["locked_until"] is not None and locked.after["failed_logins"] == 0
    assert rows[1].before == {"failed_logins": 0, "locked_until": None} and rows[1].after["failed_logins"] == 1


async def test_the_asset_read_checks_its_caller_in_its_own_statement(api, client, app):
    """``GET /assets/{id}`` checks the token in the asset's statement (api.deps.Caller): the same 401s as
    every endpoint's, before the asset's own 404, and an asset without history is still found."""
    sme = await api.org("sme")
    asset = await api.asset(sme)
    path = f"/assets/{asset['id']}"
    assert (await client.get(path, headers=sme.headers)).json()["id"] == asset["id"]
    assert_problem(await client.get("/assets/ast_missing", headers=sme.headers), 404, "not_found")
    assert_problem(await client.get(path), 401, "not_authenticated")
    assert_problem(await client.get(path, headers={"Authorization": "Bearer garbage"}), 401, "not_authenticated")
    await execute(app, sa.update(User).where(User.id == sme.user_id).values(disabled=True))
    for p in (path, "/assets/ast_missing"):
        assert "revoked" in assert_problem(await client.get(p, headers=sme.headers), 401, "not_authenticated")["detail"]
    await execute(app, sa.update(User).where(User.id == sme.user_id).values(disabled=False, token_version=User.token_version + 1))
    assert "revoked" in assert_problem(await client.get(path, headers=sme.headers), 401, "not_authenticated")["detail"]
    other = create_access_token(sme.user_id, "org_other", app.state.settings)
    assert_problem(await client.get(path, headers={"Authorization": f"Bearer {other}"}), 401, "not_authenticated")
    await execute(app, sa.delete(User).where(User.id == sme.user_id))
    assert "no longer exists" in assert_problem(await client.get("/assets/ast_missing", headers=sme.headers),
                                                401, "not_authenticated")["detail"]
