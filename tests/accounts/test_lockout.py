"""Lockout is per (account, client address), grows with each lockout, is audited, and reveals nothing."""

from contextlib import asynccontextmanager
from datetime import timedelta

import httpx
import sqlalchemy as sa
from argon2 import extract_parameters

from accounts import passwords
from accounts.models import LoginThrottle
from kernel.audit import AuditEvent
from kernel.db import utcnow
from tests.helpers import assert_problem, execute


@asynccontextmanager
async def _from(app, address):
    transport = httpx.ASGITransport(app=app, client=(address, 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://test/api/v1") as c:
        yield c


async def _login(client, email, password):
    return await client.post("/auth/token", data={"username": email, "password": password})


async def _lock(client, email, settings):
    for _ in range(settings.login_max_failures):
        assert_problem(await _login(client, email, "wrong-password"), 401, "not_authenticated")


async def test_an_attacker_cannot_lock_the_owner_out(api, app):
    settings = app.state.settings
    admin = settings.admin_email
    async with _from(app, "203.0.113.9") as attacker, _from(app, "198.51.100.4") as owner:
        await _lock(attacker, admin, settings)
        r = await _login(attacker, admin, settings.admin_password)
        assert_problem(r, 429, "rate_limited")
        assert int(r.headers["retry-after"]) > 0
        # The owner's address has no failures: the right password passes at once.
        assert (await _login(owner, admin, settings.admin_password)).status_code == 200
        # And the owner's success does not lift the attacker's lockout.
        assert_problem(await _login(attacker, admin, settings.admin_password), 429, "rate_limited")


async def test_lockouts_grow_and_are_audited(api, app):
    settings = app.state.settings
    sme = await api.org("sme")
    async with _from(app, "203.0.113.10") as attacker:
        await _lock(attacker, sme.email, settings)
        first = (await _throttle(app, sme.email, "203.0.113.10")).locked_until
        await _expire(app, sme.email)
        await _lock(attacker, sme.email, settings)
        row = await _throttle(app, sme.email, "203.0.113.10")
        # The second lockout lasts twice as long as the first.
        second_wait = row.locked_until - utcnow()
        assert row.lockouts == 2
        assert timedelta(seconds=settings.login_lockout_seconds * 2 - 5) < second_wait \
            <= timedelta(seconds=settings.login_lockout_seconds * 2)
        assert first is not None
    async with app.state.engine.connect() as conn:
        locks = (await conn.execute(sa.select(AuditEvent).where(AuditEvent.object_id == sme.user_id,
                                                                AuditEvent.action == "user.locked"))).all()
    assert len(locks) == 2
    assert locks[0].actor_org_id == sme.org_id and locks[0].after["client"] == "203.0.113.10"


async def test_the_delay_is_capped(api, app):
    settings = app.state.settings
    sme = await api.org("sme")
    await execute(app, sa.insert(LoginThrottle).values(email=sme.email, client="203.0.113.11", failures=0,
                                                       lockouts=40, updated_at=utcnow()))
    async with _from(app, "203.0.113.11") as attacker:
        await _lock(attacker, sme.email, settings)
    wait = (await _throttle(app, sme.email, "203.0.113.11")).locked_until - utcnow()
    assert timedelta(seconds=settings.login_lockout_max_seconds - 5) < wait \
        <= timedelta(seconds=settings.login_lockout_max_seconds)


async def test_unknown_emails_lock_exactly_like_known_ones(api, app):
    settings = app.state.settings
    sme = await api.org("sme")
    async with _from(app, "203.0.113.12") as prober:
        answers = {}
        for email in (sme.email, "nobody@nowhere.cn"):
            statuses = [(await _login(prober, email, "wrong-password")).status_code
                        for _ in range(settings.login_max_failures + 1)]
            answers[email] = statuses
        assert answers[sme.email] == answers["nobody@nowhere.cn"] == [401] * settings.login_max_failures + [429]
    async with app.state.engine.connect() as conn:
        probe = (await conn.execute(sa.select(AuditEvent).where(AuditEvent.action == "login.locked"))).one()
    assert probe.after["email"] == "nobody@nowhere.cn" and probe.after["client"] == "203.0.113.12"


async def test_a_correct_login_clears_only_its_own_address(api, app):
    settings = app.state.settings
    sme = await api.org("sme")
    async with _from(app, "203.0.113.13") as a, _from(app, "203.0.113.14") as b:
        for c in (a, b):
            for _ in range(settings.login_max_failures - 1):
                assert_problem(await _login(c, sme.email, "wrong"), 401, "not_authenticated")
        assert (await _login(a, sme.email, "s3cret-pass")).status_code == 200
        assert await _throttle(app, sme.email, "203.0.113.13") is None
        assert (await _throttle(app, sme.email, "203.0.113.14")).failures == settings.login_max_failures - 1


async def test_the_unknown_email_check_costs_a_real_hash(app):
    # The dummy verified for an unknown email has the very parameters of a real hash.
    assert extract_parameters(passwords.dummy_hash()) == extract_parameters(await passwords.hash_password("x" * 9))
    passwords._dummy_hash.cache_clear()
    real = passwords._hasher(False)
    assert extract_parameters(passwords._dummy_hash(False)) == extract_parameters(real.hash("y" * 9))
    assert extract_parameters(passwords._dummy_hash(False)).memory_cost == real.memory_cost
    assert not await passwords.verify_password(None, "anything")


async def test_hashing_runs_in_a_bounded_worker_pool(app, monkeypatch):
    import threading

    seen = []
    real_verify = passwords._verify

    def spy(password_hash, password):
        seen.append(threading.current_thread() is threading.main_thread())
        return real_verify(password_hash, password)

    monkeypatch.setattr(passwords, "_verify", spy)
    assert await passwords.verify_password(await passwords.hash_password("pw-123456"), "pw-123456")
    assert seen == [False]
    assert passwords.limiter().total_tokens == app.state.settings.password_hash_threads


async def _throttle(app, email, client):
    async with app.state.session_factory() as session:
        return await session.get(LoginThrottle, (email, client))


async def _expire(app, email):
    await execute(app, sa.update(LoginThrottle).where(LoginThrottle.email == email)
                  .values(locked_until=utcnow() - timedelta(seconds=1)))
