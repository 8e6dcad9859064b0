"""Real concurrency on PostgreSQL: limits, idempotency and the append-only trigger under load."""

import asyncio
import random

import pytest
import sqlalchemy as sa
from sqlmodel import select

from finance.fund.models import FundProgram
from finance.ledger import append, posting, service
from finance.ledger.core import Chart, Recipes
from finance.ledger.models import LedgerEntry
from kernel.actor import SYSTEM
from kernel.errors import IdempotencyConflict, LimitExceeded
from tests.finance.ledger.conftest import PROGRAM, fund_capital

pytestmark = pytest.mark.postgres
CASH = Chart.cash(PROGRAM)


async def _compensate(app, key: str, amount: int) -> str:
    async with app.state.session_factory() as s:
        try:
            await service.post(s, SYSTEM, idempotency_key=key, lines=Recipes.compensation(PROGRAM, amount),
                               description="claim", kind="compensation")
        except LimitExceeded:
            await s.rollback()
            return "refused"
        await s.commit()
        return "paid"


async def test_many_claims_draining_cash_never_take_it_below_zero(app, session, chart):
    await fund_capital(session, 1_000)
    results = await asyncio.gather(*[_compensate(app, f"claim-{i}", 30) for i in range(50)])
    assert results.count("paid") == 33  # 33 × 30 = 990 ≤ 1,000 < 34 × 30
    async with app.state.session_factory() as s:
        assert (await service.balance(s, CASH)).balance == 10
        report = await service.verify(s)
        assert report["balanced"] and report["chain_intact"] and report["entries_checked"] == 34


async def test_concurrent_posts_with_one_key_post_once(app, session, chart):
    await fund_capital(session, 10_000)
    results = await asyncio.gather(*[_compensate(app, "claim-once", 700) for _ in range(20)])
    assert results == ["paid"] * 20  # every caller sees success: the rest are replays
    async with app.state.session_factory() as s:
        assert (await service.balance(s, CASH)).balance == 10_000 - 700
        n = (await s.exec(select(sa.func.count()).select_from(LedgerEntry))).one()
        assert n == 2


async def test_concurrent_http_adjustments_with_one_key_post_once(api, client, app, session, chart):
    await fund_capital(session, 10_000)
    fund = await api.org("fund")
    session.add(FundProgram(id=PROGRAM, fund_org_id=fund.org_id, name="测试计划", capital=0))
    await session.commit()  # the ledger is scoped to the caller's programmes
    body = {"lines": [{"account": Chart.compensation_expense(PROGRAM), "side": "debit", "amount": 100},
                      {"account": CASH, "side": "credit", "amount": 100}], "description": "adjustment"}
    rs = await asyncio.gather(*[client.post("/fund/ledger/entries", json=body,
                                            headers={**fund.headers, "Idempotency-Key": "same"})
                                for _ in range(10)])
    ok = [r for r in rs if r.status_code == 201]
    assert ok and len({r.json()["id"] for r in ok}) == 1
    assert all(r.status_code in (201, 409) for r in rs)
    async with app.state.session_factory() as s:
        assert (await service.balance(s, CASH)).balance == 9_900


async def test_concurrent_reversals_reverse_once(app, session, chart):
    capital = await fund_capital(session, 1_000)

    async def rev(i: int) -> str:
        async with app.state.session_factory() as s:
            try:
                await service.reverse(s, SYSTEM, capital.id, f"rev-{i}", "mistake")
            except Exception as exc:
                return type(exc).__name__
            await s.commit()
            return "ok"

    results = await asyncio.gather(*[rev(i) for i in range(10)])
    assert results.count("ok") == 1 and results.count("InvalidState") == 9
    async with app.state.session_factory() as s:
        assert (await service.balance(s, CASH)).balance == 0


async def test_the_trigger_refuses_update_and_delete(app, session, chart):
    entry = await fund_capital(session, 1_000)
    for sql in ("UPDATE ledger_postings SET amount = 1 WHERE entry_id = :e",
                "DELETE FROM ledger_postings WHERE entry_id = :e",
                "UPDATE ledger_entries SET description = 'x' WHERE id = :e",
                "DELETE FROM ledger_entries WHERE id = :e"):
        async with app.state.session_factory() as s:
            with pytest.raises(sa.exc.DBAPIError, match="append-only"):
                await s.exec(sa.text(sql).bindparams(e=entry.id))
    async with app.state.session_factory() as s:
        assert (await service.verify(s))["balanced"] is True
        assert (await service.balance(s, CASH)).balance == 1_000


# --- The posting's one round trip (models.POSTING_STATEMENTS) ---------------------------------------------


def _statements(app) -> list[str]:
    """The ledger's statements from now on (the business date's read aside)."""
    seen: list[str] = []
    sa.event.listen(app.state.engine.sync_engine, "before_cursor_execute",
                    lambda _c, _cur, statement, *_: "clock_state" in statement or seen.append(statement))
    return seen


async def _post(app, key: str, lines) -> LedgerEntry:
    async with app.state.session_factory() as s:
        entry = await service.post(s, SYSTEM, idempotency_key=key, lines=lines, description="claim",
                                   kind="compensation")
        await s.commit()
        return entry


async def test_a_posting_to_known_accounts_is_one_statement(app, session, chart):
    await fund_capital(session, 1_000)
    await _post(app, "claim-0", Recipes.compensation(PROGRAM, 100))  # both accounts are known from here on
    seen = _statements(app)
    entry = await _post(app, "claim-1", Recipes.compensation(PROGRAM, 200))
    assert seen == [append._POST_IN_ONE]
    async with app.state.session_factory() as s:
        assert (await service.balance(s, CASH)).balance == 700
        assert (await service.get_entry(s, entry.id)).digest == entry.digest
        await service.seal(s)
        await s.commit()
        report = await service.verify(s)
        assert report["balanced"] and report["chain_intact"] and report["entries_unsealed"] == 0


async def test_the_one_round_trip_refuses_what_the_full_path_refuses(app, session, chart):
    await fund_capital(session, 1_000)
    first = await _post(app, "claim-1", Recipes.compensation(PROGRAM, 600))
    seen = _statements(app)
    with pytest.raises(LimitExceeded, match="may not go below zero: available 400"):
        await _post(app, "claim-2", Recipes.compensation(PROGRAM, 600))
    assert (await _post(app, "claim-1", Recipes.compensation(PROGRAM, 600))).id == first.id  # a replay
    with pytest.raises(IdempotencyConflict):
        await _post(app, "claim-1", Recipes.compensation(PROGRAM, 500))
    assert seen[0].startswith("SELECT ledger_post_entry")  # the refusal was found in the one round trip
    async with app.state.session_factory() as s:
        assert (await service.balance(s, CASH)).balance == 400
        assert (await s.exec(select(sa.func.count()).select_from(LedgerEntry))).one() == 2


async def test_a_refusal_in_the_one_round_trip_puts_back_the_balances_it_had_updated(app, session):
    """The function locks each account by its balance update, in id order: when a later account refuses (its
    limit) or the key is known, the updates already made are undone in the same statement, so the caller's
    transaction goes on with every balance and version as they were."""
    for code in ("undo:a", "undo:b"):
        await service.ensure_account(session, code, code, "asset", limit="no_negative")
    await service.ensure_account(session, "undo:equity", "Equity", "equity")
    await service.post(session, SYSTEM, idempotency_key="seed", lines=[
        ("undo:a", "debit", 100), ("undo:b", "debit", 100), ("undo:equity", "credit", 200)], description="seed",
        kind="capital_in")
    await session.commit()
    first, last = sorted([await service.get_account(session, c) for c in ("undo:a", "undo:b")], key=lambda a: a.id)

    async def state() -> list[tuple[int, int, int]]:
        async with app.state.session_factory() as s:
            rows = (await s.exec(sa.text("SELECT debits_posted, credits_posted, version FROM ledger_accounts "
                                         "WHERE id IN (:a, :b) ORDER BY id").bindparams(a=first.id, b=last.id))).all()
            return [tuple(r) for r in rows]

    before = await state()
    seen = _statements(app)
    async with app.state.session_factory() as s:  # the later account (by id) is short: the earlier one is put back
        with pytest.raises(LimitExceeded, match=f"account {last.code} may not go below zero"):
            await service.post(s, SYSTEM, idempotency_key="short", lines=[
                (first.code, "debit", 150), (last.code, "credit", 150)], description="move", kind="transfer")
        assert any(q.startswith("SELECT ledger_post_entry") for q in seen)
        rows = (await s.exec(sa.text("SELECT debits_posted, credits_posted, version FROM ledger_accounts "
                                     "WHERE id IN (:a, :b) ORDER BY id").bindparams(a=first.id, b=last.id))).all()
        assert [tuple(r) for r in rows] == before  # seen inside the transaction that tried
        await s.commit()
    moved = await _post(app, "fits", [(first.code, "debit", 40), (last.code, "credit", 40)])
    after = await state()
    del seen[:]
    replay = await _post(app, "fits", [(first.code, "debit", 40), (last.code, "credit", 40)])
    assert replay.id == moved.id and seen[0] == append._POST_IN_ONE  # both updated, then undone
    assert await state() == after == [(before[0][0] + 40, before[0][1], before[0][2] + 1),
                                      (before[1][0], before[1][1] + 40, before[1][2] + 1)]


async def test_an_account_known_by_a_stale_id_takes_the_full_path(app, session, chart):
    await fund_capital(session, 1_000)
    posting._known[CASH] = posting._Known("lac_gone", CASH)  # e.g. the table was emptied and refilled
    seen = _statements(app)
    await _post(app, "claim-1", Recipes.compensation(PROGRAM, 300))
    assert len(seen) > 1 and seen[0].startswith("SELECT ledger_post_entry")  # tried, then the full path
    assert posting._known[CASH].id == chart[CASH].id
    async with app.state.session_factory() as s:
        assert (await service.balance(s, CASH)).balance == 700


async def test_a_database_without_the_function_posts_through_the_full_path(app, session, chart, monkeypatch):
    await fund_capital(session, 1_000)
    await _post(app, "claim-0", Recipes.compensation(PROGRAM, 100))
    monkeypatch.setitem(append._post_function_in, str(app.state.engine.url), False)  # not migrated yet
    seen = _statements(app)
    await _post(app, "claim-1", Recipes.compensation(PROGRAM, 200))
    assert seen and not any("ledger_post_entry" in s for s in seen)
    async with app.state.session_factory() as s:
        assert (await service.balance(s, CASH)).balance == 700


# --- A posting alone in its transaction: one statement in autocommit (``service.post_alone``) -------------


def _transactions(monkeypatch) -> list[str]:
    """Every BEGIN the driver sends from now on (asyncpg's adapter starts a transaction as its own query)."""
    from sqlalchemy.dialects.postgresql.asyncpg import AsyncAdapt_asyncpg_connection as Adapted

    begun: list[str] = []
    start = Adapted._start_transaction

    async def counted(self):  # type: ignore[no-untyped-def]
        if self.isolation_level != "autocommit":
            begun.append(self.isolation_level)
        await start(self)

    monkeypatch.setattr(Adapted, "_start_transaction", counted)
    return begun


async def _alone(app, key: str, lines) -> LedgerEntry:
    return await service.post_alone(app.state.session_factory, SYSTEM, idempotency_key=key, lines=lines,
                                    description="claim", kind="compensation")


async def test_a_posting_alone_is_one_statement_and_no_transaction(app, session, chart, monkeypatch):
    await fund_capital(session, 1_000)
    await _alone(app, "claim-0", Recipes.compensation(PROGRAM, 100))  # both accounts are known from here on
    seen, begun = _statements(app), _transactions(monkeypatch)
    entry = await _alone(app, "claim-1", Recipes.compensation(PROGRAM, 200))
    assert seen == [append._POST_IN_ONE] and begun == []
    replay = await _alone(app, "claim-1", Recipes.compensation(PROGRAM, 200))
    assert replay.id == entry.id and begun == []  # read back on the same connection
    with pytest.raises(LimitExceeded, match="may not go below zero: available 700"):
        await _alone(app, "claim-2", Recipes.compensation(PROGRAM, 800))
    assert begun  # the refusal's reason came from the full path, in a transaction
    async with app.state.session_factory() as s:
        assert (await service.balance(s, CASH)).balance == 700
        assert (await s.exec(select(sa.func.count()).select_from(LedgerEntry))).one() == 3


async def test_a_posting_alone_on_a_dead_connection_fails_as_sqlalchemys_and_the_next_reconnects(app, session, chart):
    """The driver-level statement keeps SQLAlchemy's handling of a connection the server dropped: the error
    says the connection was invalidated (nothing was written), and the pool hands out fresh ones after."""
    from sqlalchemy.ext.asyncio import create_async_engine

    await fund_capital(session, 1_000)
    await _alone(app, "claim-0", Recipes.compensation(PROGRAM, 100))
    killer = create_async_engine(app.state.engine.url, poolclass=sa.pool.NullPool)
    async with killer.connect() as conn:  # every connection of the app's pool, none of its own
        await conn.execute(sa.text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                   "WHERE datname = current_database() AND pid <> pg_backend_pid()"))
    await killer.dispose()
    await asyncio.sleep(0.1)
    with pytest.raises(sa.exc.DBAPIError) as failed:
        await _alone(app, "claim-1", Recipes.compensation(PROGRAM, 200))
    assert failed.value.connection_invalidated
    entry = await _alone(app, "claim-1", Recipes.compensation(PROGRAM, 200))
    async with app.state.session_factory() as s:
        assert (await service.balance(s, CASH)).balance == 700
        assert (await service.get_entry(s, entry.id)).digest == entry.digest


async def test_concurrent_postings_alone_on_hot_accounts_keep_balances_exact(app, session):
    codes = [f"hot:{i}" for i in range(4)]
    for code in codes:
        await service.ensure_account(session, code, code, "asset", limit="no_negative")
    await service.ensure_account(session, "hot:equity", "Equity", "equity")
    await service.post(session, SYSTEM, idempotency_key="seed", lines=[
        *[(c, "debit", 1_000) for c in codes], ("hot:equity", "credit", 4_000)], description="seed",
        kind="capital_in")
    await session.commit()
    rng = random.Random(21)
    moves = [(*rng.sample(codes, 2), rng.randint(100, 900)) for _ in range(60)]
    clients = asyncio.Semaphore(6)  # the database's connections are shared with other tests' servers

    async def move(i: int, src: str, dst: str, amount: int) -> tuple[str, str, int] | None:
        async with clients:
            try:
                await _alone(app, f"move-{i}", [(dst, "debit", amount), (src, "credit", amount)])
            except LimitExceeded:
                return None
        return src, dst, amount

    done = [m for m in await asyncio.gather(*[move(i, *m) for i, m in enumerate(moves)]) if m is not None]
    assert 0 < len(done) < len(moves)  # some moved, some were refused for want of money
    expected = dict.fromkeys(codes, 1_000)
    for src, dst, amount in done:
        expected[src] -= amount
        expected[dst] += amount
    async with app.state.session_factory() as s:
        assert {c: (await service.balance(s, c)).balance for c in codes} == expected
        assert (await s.exec(select(sa.func.count()).select_from(LedgerEntry))).one() == 1 + len(done)
        await service.seal(s)
        await s.commit()
        report = await service.verify(s)
        assert report["balanced"] and report["chain_intact"] and report["entries_unsealed"] == 0
