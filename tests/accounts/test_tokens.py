"""Refresh tokens rotate and work once; logout, disabling and revocation end every token of a user."""

import sqlalchemy as sa

from accounts import tokens
from accounts.models import RefreshToken, User
from api.security import create_access_token
from kernel.actor import SYSTEM
from kernel.audit import AuditEvent
from kernel.db import utcnow
from tests.helpers import assert_problem, count, execute


async def _login(client, party, password="s3cret-pass"):
    r = await client.post("/auth/token", data={"username": party.email, "password": password})
    assert r.status_code == 200, r.text
    return r.json()


def _bearer(token):
    return {"Authorization": f"Bearer {token}"}


async def test_login_returns_a_refresh_token_that_rotates(api, client, app):
    sme = await api.org("sme")
    first = await _login(client, sme)
    assert first["refresh_token"] and first["expires_in"] == app.state.settings.jwt_ttl_seconds
    r = await client.post("/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert r.status_code == 200, r.text
    second = r.json()
    assert second["refresh_token"] != first["refresh_token"] and second["token_type"] == "bearer"
    me = await client.get("/me", headers=_bearer(second["access_token"]))
    assert me.status_code == 200 and me.json()["user"]["id"] == sme.user_id
    # Only the hash is stored.
    async with app.state.engine.connect() as conn:
        hashes = (await conn.execute(sa.select(RefreshToken.token_hash)
                                     .where(RefreshToken.user_id == sme.user_id))).scalars().all()
    assert first["refresh_token"] not in hashes and len(hashes) == 2


async def test_a_reused_refresh_token_revokes_its_family(api, client, app):
    sme = await api.org("sme")
    first = await _login(client, sme)
    other_session = await _login(client, sme)  # another device: a family of its own
    second = (await client.post("/auth/refresh", json={"refresh_token": first["refresh_token"]})).json()
    # The old token again (a thief's copy): refused, and the successor dies with it.
    assert_problem(await client.post("/auth/refresh", json={"refresh_token": first["refresh_token"]}),
                   401, "not_authenticated")
    assert_problem(await client.post("/auth/refresh", json={"refresh_token": second["refresh_token"]}),
                   401, "not_authenticated")
    r = await client.post("/auth/refresh", json={"refresh_token": other_session["refresh_token"]})
    assert r.status_code == 200, r.text


async def test_bad_expired_and_malformed_refresh_tokens(api, client, app):
    sme = await api.org("sme")
    issued = await _login(client, sme)
    await execute(app, sa.update(RefreshToken).where(RefreshToken.user_id == sme.user_id).values(expires_at=utcnow()))
    for body in ({"refresh_token": issued["refresh_token"]}, {"refresh_token": "nope"}):
        assert_problem(await client.post("/auth/refresh", json=body), 401, "not_authenticated")
    for body in ({}, {"refresh_token": ""}, {"refresh_token": "x" * 201}, {"refresh_token": 5}):
        assert_problem(await client.post("/auth/refresh", json=body), 422, "validation_error")


async def test_logout_revokes_access_and_refresh_tokens(api, client, app):
    sme = await api.org("sme")
    issued = await _login(client, sme)
    headers = _bearer(issued["access_token"])
    other_device = await _login(client, sme)
    r = await client.post("/auth/logout", headers=headers)
    assert r.status_code == 204 and r.content == b""
    for access in (issued["access_token"], other_device["access_token"], sme.token):
        assert_problem(await client.get("/me", headers=_bearer(access)), 401, "not_authenticated")
    for refresh in (issued["refresh_token"], other_device["refresh_token"]):
        assert_problem(await client.post("/auth/refresh", json={"refresh_token": refresh}), 401, "not_authenticated")
    assert_problem(await client.post("/auth/logout", headers=headers), 401, "not_authenticated")
    # Logging in again works, and the logout is audited.
    fresh = await _login(client, sme)
    assert (await client.get("/me", headers=_bearer(fresh["access_token"]))).status_code == 200
    assert await count(app, AuditEvent, AuditEvent.action == "user.tokens_revoked",
                       AuditEvent.object_id == sme.user_id) == 1


async def test_revoke_all_and_disabling_end_every_token(api, client, app):
    sme = await api.org("sme")
    colleague = await api.user(sme.org_id, "sme", role="member")
    issued = await _login(client, sme)
    async with app.state.session_factory() as session:
        await tokens.revoke_all(session, SYSTEM, sme.user_id, "password_changed")
        await session.commit()
    assert_problem(await client.get("/me", headers=_bearer(issued["access_token"])), 401, "not_authenticated")
    assert_problem(await client.post("/auth/refresh", json={"refresh_token": issued["refresh_token"]}),
                   401, "not_authenticated")
    # A token made for the new version works; the colleague was never affected.
    assert (await client.get("/me", headers=_bearer(create_access_token(
        sme.user_id, sme.org_id, app.state.settings, version=1)))).status_code == 200
    assert (await client.get("/me", headers=colleague.headers)).status_code == 200
    # Disabled: its tokens stop at once and it cannot log in or refresh.
    again = await _login(client, colleague)
    await execute(app, sa.update(User).where(User.id == colleague.user_id).values(disabled=True))
    assert_problem(await client.get("/me", headers=colleague.headers), 401, "not_authenticated")
    assert_problem(await client.post("/auth/refresh", json={"refresh_token": again["refresh_token"]}),
                   401, "not_authenticated")
    r = await client.post("/auth/token", data={"username": colleague.email, "password": "s3cret-pass"})
    assert "disabled" in assert_problem(r, 401, "not_authenticated")["detail"]


async def test_a_deleted_user_loses_its_refresh_tokens(api, client, app):
    sme = await api.org("sme")
    issued = await _login(client, sme)
    await execute(app, sa.delete(User).where(User.id == sme.user_id))
    assert await count(app, RefreshToken, RefreshToken.user_id == sme.user_id) == 0
    assert_problem(await client.post("/auth/refresh", json={"refresh_token": issued["refresh_token"]}),
                   401, "not_authenticated")


async def test_expired_refresh_tokens_are_purged_at_day_end(api, client, app):
    sme = await api.org("sme")
    await _login(client, sme)
    await _login(client, sme)
    mine = RefreshToken.user_id == sme.user_id
    oldest = sa.select(sa.func.min(RefreshToken.id)).where(mine).scalar_subquery()
    await execute(app, sa.update(RefreshToken).where(RefreshToken.id == oldest).values(expires_at=utcnow()))
    await api.advance(1)
    assert await count(app, RefreshToken, mine) == 1


async def test_a_token_without_a_version_is_refused(api, client, app):
    import jwt

    sme = await api.org("sme")
    now = utcnow()
    legacy = jwt.encode({"sub": sme.user_id, "org": sme.org_id, "iat": now, "exp": now.timestamp() + 60,
                         "typ": "access"}, app.state.settings.jwt_secret, algorithm="HS256")
    for token in (legacy, create_access_token(sme.user_id, sme.org_id, app.state.settings, version=7)):
        assert_problem(await client.get("/me", headers=_bearer(token)), 401, "not_authenticated")
