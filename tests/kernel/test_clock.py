"""The business clock: reading it, advancing it, and day-end handlers once per date in order."""

import asyncio
from datetime import date, timedelta

import httpx
import pytest
import sqlalchemy as sa

from kernel import day_end
from kernel.clock import calendar_today
from kernel.day_end import DayEndRun
from tests.helpers import assert_problem, open_session, table_counts


@pytest.fixture
def recorder():
    """Two day-end handlers that record each run; removed from the registry afterwards."""
    runs: list[tuple[str, date]] = []

    @day_end.day_end_handler("test.second", order=2)
    async def second(session, run_date):
        runs.append(("second", run_date))

    @day_end.day_end_handler("test.first", order=1)
    async def first(session, run_date):
        await asyncio.sleep(0)  # let a concurrent advance interleave here if it can
        runs.append(("first", run_date))

    yield runs
    day_end._handlers.pop("test.first", None)
    day_end._handlers.pop("test.second", None)


async def test_get_clock_needs_auth(api, client):
    assert_problem(await client.get("/clock"), 401, "not_authenticated")
    sme = await api.org("sme", role="member")
    r = await client.get("/clock", headers=sme.headers)
    assert r.status_code == 200 and r.json() == {"business_date": "2026-03-02", "mode": "manual"}


async def test_only_the_admin_advances_with_sane_days(api, client, app):
    member = await api.org("sme", role="member")
    bank_admin = await api.org("bank")
    admin = await api.admin()
    before = await table_counts(app)
    for party in (member, bank_admin):
        assert_problem(await client.post("/clock/advance", json={"days": 1}, headers=party.headers), 403, "forbidden")
    assert_problem(await client.post("/clock/advance", json={"days": 1}), 401, "not_authenticated")
    for body in ({"days": 0}, {"days": -3}, {"days": 3661}, {"days": "one"}, {}, {"days": 1, "hours": 2}):
        assert_problem(await client.post("/clock/advance", json=body, headers=admin.headers), 422, "validation_error")
    assert await table_counts(app) == before
    assert (await client.get("/clock", headers=member.headers)).json()["business_date"] == "2026-03-02"


async def test_advance_runs_each_handler_once_per_date_in_order(api, client, app, recorder):
    r = await api.advance(3)
    assert r == {"business_date": "2026-03-05", "processed_days": 3}
    days = [date(2026, 3, 2), date(2026, 3, 3), date(2026, 3, 4)]
    assert recorder == [(name, d) for d in days for name in ("first", "second")]
    async with app.state.engine.connect() as conn:
        rows = (await conn.execute(sa.select(DayEndRun.handler, DayEndRun.run_date)
                                   .where(DayEndRun.handler.like("test.%")))).all()
    assert sorted(rows) == sorted((f"test.{n}", d) for n, d in recorder)
    # Running a closed date again does nothing.
    assert await day_end.run_day_end(app.state.session_factory, date(2026, 3, 3)) == 0
    assert len(recorder) == 6
    member = await api.org("sme", role="member")
    assert (await client.get("/clock", headers=member.headers)).json()["business_date"] == "2026-03-05"


async def test_concurrent_advances_never_run_a_handler_twice_for_a_date(api, app, recorder):
    admin = await api.admin()

    async def advance():
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test/api/v1") as c:
            return await c.post("/clock/advance", json={"days": 2}, headers=admin.headers)

    results = await asyncio.gather(advance(), advance())
    assert all(r.status_code == 200 for r in results), [r.text for r in results]
    for name in ("first", "second"):
        dates = [d for n, d in recorder if n == name]
        assert len(dates) == len(set(dates)), recorder
        assert dates == sorted(dates)
    final = max(date.fromisoformat(r.json()["business_date"]) for r in results)
    assert final >= date(2026, 3, 4)
    assert {d for _, d in recorder} == {date(2026, 3, 2) + timedelta(days=i) for i in range((final - date(2026, 3, 2)).days)}


async def test_system_mode_refuses_advance_and_catches_up_missing_days(api, client, app, recorder):
    admin = await api.admin()
    manual = app.state.settings
    system = manual.model_copy(update={"clock": "system"})
    app.state.settings = system
    try:
        before = await table_counts(app)
        assert_problem(await client.post("/clock/advance", json={"days": 1}, headers=admin.headers),
                       409, "invalid_state")
        assert await table_counts(app) == before
        today = calendar_today(system)
        assert (await client.get("/clock", headers=admin.headers)).json() == {"business_date": today.isoformat(),
                                                                              "mode": "system"}
        # Yesterday and three days ago were already closed (perhaps by another process).
        async with open_session(app) as session:
            for back in (1, 3):
                session.add(DayEndRun(handler="test.first", run_date=today - timedelta(days=back)))
            await session.commit()
        await day_end.catch_up_system_day_end(app.state.session_factory, system, lookback_days=4)
        firsts = [d for n, d in recorder if n == "first"]
        assert firsts == [today - timedelta(days=4), today - timedelta(days=2)]
        assert [d for n, d in recorder if n == "second"] == [today - timedelta(days=b) for b in (4, 3, 2, 1)]
        recorder.clear()
        await day_end.catch_up_system_day_end(app.state.session_factory, system, lookback_days=4)
        assert recorder == []  # a second pass (another process, the next poll) finds nothing to do
    finally:
        app.state.settings = manual


async def test_two_server_processes_catching_up_at_once_run_each_day_end_once(app, recorder):
    """Two processes' pollers (each its own engine and pool) close the same missed days at the same time."""
    from kernel.db import make_engine, make_session_factory

    system = app.state.settings.model_copy(update={"clock": "system"})
    engines = [make_engine(system.database_url) for _ in range(2)]
    try:
        factories = [make_session_factory(e) for e in engines]
        ran = await asyncio.gather(*(day_end.catch_up_system_day_end(f, system, lookback_days=3) for f in factories))
        # Every registered handler (the two here and the product's) × three days, whichever process ran each.
        assert sum(ran) == 3 * len(day_end.registered_handlers())
        today = calendar_today(system)
        days = [today - timedelta(days=b) for b in (3, 2, 1)]
        for name in ("first", "second"):
            assert sorted(d for n, d in recorder if n == name) == days, recorder
        # The next poll of either process finds nothing left to do.
        assert await day_end.catch_up_system_day_end(factories[1], system, lookback_days=3) == 0
    finally:
        for e in engines:
            await e.dispose()
    async with app.state.engine.connect() as conn:
        rows = (await conn.execute(sa.select(DayEndRun.handler, DayEndRun.run_date)
                                   .where(DayEndRun.handler.like("test.%")))).all()
    assert len(rows) == 6


async def test_a_failing_day_end_handler_is_retried_by_the_next_poll(app):
    attempts = []

    @day_end.day_end_handler("test.flaky", order=1)
    async def flaky(session, run_date):
        session.add(DayEndRun(handler="test.flaky.side-effect", run_date=run_date))
        await session.flush()
        attempts.append(run_date)
        if len(attempts) == 1:
            raise RuntimeError("the database went away")

    try:
        system = app.state.settings.model_copy(update={"clock": "system"})
        with pytest.raises(RuntimeError):
            await day_end.catch_up_system_day_end(app.state.session_factory, system, lookback_days=1)
        assert await day_end.catch_up_system_day_end(app.state.session_factory, system, lookback_days=1) >= 1
        yesterday = calendar_today(system) - timedelta(days=1)
        assert attempts == [yesterday, yesterday]
        async with app.state.engine.connect() as conn:
            rows = (await conn.execute(sa.select(DayEndRun.handler).where(DayEndRun.handler.like("test.flaky%"))
                                       .order_by(DayEndRun.handler))).scalars().all()
        assert rows == ["test.flaky", "test.flaky.side-effect"]  # the failed run left nothing behind
    finally:
        day_end._handlers.pop("test.flaky", None)


async def test_each_advanced_day_is_audited_as_the_admin(api, app):
    from kernel.audit import AuditEvent

    admin = await api.admin()
    await api.advance(2)
    async with app.state.engine.connect() as conn:
        rows = (await conn.execute(sa.select(AuditEvent).where(AuditEvent.action == "clock.advanced")
                                   .order_by(AuditEvent.at, AuditEvent.id))).all()
    assert [(r.before, r.after) for r in rows] == [
        ({"business_date": "2026-03-02"}, {"business_date": "2026-03-03"}),
        ({"business_date": "2026-03-03"}, {"business_date": "2026-03-04"}),
    ]
    assert {(r.actor_user_id, r.actor_org_id) for r in rows} == {(admin.user_id, admin.org_id)}
