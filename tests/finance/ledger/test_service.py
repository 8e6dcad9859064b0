"""The ledger service on the database: posting, replay, limits, reversal, balances as of a date, verify."""

from datetime import date, timedelta

import pytest
import sqlalchemy as sa
from sqlmodel import select

from finance.ledger import service
from finance.ledger.core import Chart, Recipes, entry_hash
from finance.ledger.models import LedgerAccount, LedgerEntry, LedgerPosting
from kernel.actor import SYSTEM
from kernel.audit import AuditEvent
from kernel.errors import (
    AlreadyExists,
    IdempotencyConflict,
    InvalidState,
    LimitExceeded,
    NotFound,
    ValidationFailed,
)
from tests.conftest import IS_POSTGRES
from tests.finance.ledger.conftest import PROGRAM, fund_capital

CASH, CAPITAL, COMP = Chart.cash(PROGRAM), Chart.capital(PROGRAM), Chart.compensation_expense(PROGRAM)
TODAY = date(2026, 3, 2)  # IPM_CLOCK_START in tests/conftest.py


async def _count(session, model) -> int:
    return (await session.exec(select(sa.func.count()).select_from(model))).one()


async def test_ensure_account_is_idempotent_and_refuses_a_different_definition(session):
    a = await service.ensure_account(session, "fund:p9:cash", "Cash", "asset", limit="no_negative")
    b = await service.ensure_account(session, "fund:p9:cash", "Cash again", "asset", limit="no_negative")
    assert a.id == b.id and a.normal_side == "debit"
    assert (await service.ensure_account(session, "fund:p9:capital", "Capital", "equity")).normal_side == "credit"
    with pytest.raises(AlreadyExists):
        await service.ensure_account(session, "fund:p9:cash", "Cash", "liability")
    with pytest.raises(ValidationFailed):
        await service.ensure_account(session, "Not A Code!", "x", "asset")
    with pytest.raises(ValidationFailed):
        await service.ensure_account(session, "fund:p9:x", "x", "cash")
    with pytest.raises(ValidationFailed):
        await service.ensure_account(session, "fund:p9:x", "x", "asset", limit="sometimes")
    with pytest.raises(NotFound):
        await service.ensure_account(session, "bank:org_nope:deposit:p9", "x", "asset", owner_org_id="org_nope")
    opened = (await session.exec(select(AuditEvent).where(AuditEvent.action == "ledger.account_opened"))).all()
    assert len(opened) == 2


async def test_program_chart_and_bank_deposit_owner(session, api):
    bank = await api.org("bank")
    accounts = await service.ensure_program_accounts(session, PROGRAM, bank_org_ids=[bank.org_id])
    deposit = accounts[Chart.bank_deposit(PROGRAM, bank.org_id)]
    assert deposit.owner_org_id == bank.org_id and deposit.limit_rule == "no_negative"
    assert accounts[CASH].limit_rule == "no_negative" and accounts[CAPITAL].type == "equity"
    assert len(accounts) == 9


async def test_post_updates_balances_chains_and_audits(session, chart):
    e1 = await fund_capital(session, 100_000)
    e2 = await service.post(session, SYSTEM, idempotency_key="comp-1", lines=Recipes.compensation(PROGRAM, 30_000),
                            description="claim 1", kind="compensation", object_type="claim", object_id="clm_1")
    await session.commit()
    assert (e1.seq, e2.seq, e2.hash) == (None, None, None)  # posted unsealed: the chain is linked after commit
    assert await service.seal(session) == 2
    await session.commit()
    assert (e1.seq, e2.seq) == (1, 2)
    assert e1.prev_hash == "0" * 64 and e2.prev_hash == e1.hash
    assert e2.effective_date == TODAY
    assert (await service.balance(session, CASH)).balance == 70_000
    assert (await service.balance(session, CAPITAL)).balance == 100_000
    assert (await service.balance(session, COMP)).balance == 30_000
    cash = await service.get_account(session, CASH)
    assert (cash.debits_posted, cash.credits_posted, cash.version) == (100_000, 30_000, 2)
    posted = (await session.exec(select(AuditEvent).where(AuditEvent.action == "ledger.entry_posted"))).all()
    assert {a.object_id for a in posted} == {e1.id, e2.id}
    assert (await service.verify(session))["balanced"] is True


async def test_accounts_may_be_named_by_id(session, chart):
    await fund_capital(session, 500)
    entry = await service.post(session, SYSTEM, idempotency_key="by-id",
                               lines=[(chart[COMP].id, "debit", 200), (CASH, "credit", 200)],
                               description="by id", kind="compensation")
    assert {p.account_id for p in (await service._postings_of(session, [entry.id]))[entry.id]} == {
        chart[COMP].id, chart[CASH].id}
    with pytest.raises(ValidationFailed):  # a code and an id of one account on both sides
        await service.post(session, SYSTEM, idempotency_key="both", lines=[(chart[CASH].id, "debit", 1),
                           (CASH, "credit", 1)], description="x", kind="manual_adjustment")


async def test_replay_returns_the_original_and_a_different_request_conflicts(session, chart):
    first = await fund_capital(session, 1_000)
    again = await fund_capital(session, 1_000)
    assert again.id == first.id
    assert await _count(session, LedgerEntry) == 1
    assert (await service.balance(session, CASH)).balance == 1_000
    with pytest.raises(IdempotencyConflict):
        await fund_capital(session, 2_000)
    with pytest.raises(IdempotencyConflict):
        await fund_capital(session, 1_000, effective_date=TODAY - timedelta(days=1))
    assert await _count(session, LedgerEntry) == 1


async def test_cash_may_not_go_negative(session, chart):
    await fund_capital(session, 1_000)
    with pytest.raises(LimitExceeded) as err:
        await service.post(session, SYSTEM, idempotency_key="too-much", lines=Recipes.compensation(PROGRAM, 1_001),
                           description="claim", kind="compensation")
    assert CASH in err.value.detail and err.value.extra["account_code"] == CASH
    await session.rollback()
    # Exactly the balance is fine.
    await service.post(session, SYSTEM, idempotency_key="all", lines=Recipes.compensation(PROGRAM, 1_000),
                       description="claim", kind="compensation")
    await session.commit()
    assert (await service.balance(session, CASH)).balance == 0


@pytest.mark.parametrize("kw, loc", [
    ({"lines": [(CASH, "debit", 5)]}, "lines"),
    ({"lines": [(CASH, "debit", 5), (CAPITAL, "credit", 4)]}, "lines"),
    ({"lines": [(CASH, "debit", 5), ("fund:nope:capital", "credit", 5)]}, "lines"),
    ({"idempotency_key": ""}, "idempotency_key"),
    ({"idempotency_key": "k" * 256}, "idempotency_key"),
    ({"kind": "Capital In"}, "kind"),
    ({"description": ""}, "description"),
    ({"object_type": "claim"}, "object_id"),
    ({"effective_date": TODAY + timedelta(days=1)}, "effective_date"),
])
async def test_invalid_posts_write_nothing(session, chart, kw, loc):
    args = {"idempotency_key": "k1", "lines": Recipes.capital_in(PROGRAM, 5), "description": "d", "kind": "capital_in",
            **kw}
    with pytest.raises(ValidationFailed) as err:
        await service.post(session, SYSTEM, **args)
    assert err.value.errors[0]["loc"][0] == loc
    assert await _count(session, LedgerEntry) == 0 and await _count(session, LedgerPosting) == 0


async def test_reversal_mirrors_once_and_is_linked(session, chart):
    e = await fund_capital(session, 800)
    await service.post(session, SYSTEM, idempotency_key="c1", lines=Recipes.compensation(PROGRAM, 300),
                       description="claim", kind="compensation", object_type="claim", object_id="clm_9")
    comp = await service._entry_by_key(session, "c1")
    await session.commit()
    rev = await service.reverse(session, SYSTEM, comp.id, "rev-c1", "paid twice by mistake")
    await session.commit()
    assert rev.reverses_entry_id == comp.id and rev.kind == "reversal" and rev.object_id == "clm_9"
    postings = (await service._postings_of(session, [rev.id]))[rev.id]
    assert [(p.side, p.amount) for p in postings] == [("credit", 300), ("debit", 300)]
    assert (await service.balance(session, CASH)).balance == 800
    assert (await service.reversed_by(session, [comp.id, e.id])) == {comp.id: rev.id}
    # Replaying the reversal returns it; reversing again (another key) or reversing the reversal is refused.
    assert (await service.reverse(session, SYSTEM, comp.id, "rev-c1", "paid twice by mistake")).id == rev.id
    with pytest.raises(InvalidState):
        await service.reverse(session, SYSTEM, comp.id, "rev-c1-again", "again")
    with pytest.raises(InvalidState):
        await service.reverse(session, SYSTEM, rev.id, "rev-rev", "undo")
    with pytest.raises(NotFound):
        await service.reverse(session, SYSTEM, "lje_missing", "rev-x", "x")
    assert (await service.verify(session))["balanced"] is True


async def test_a_reversal_that_would_overdraw_is_refused(session, chart):
    capital = await fund_capital(session, 500)
    await service.post(session, SYSTEM, idempotency_key="c1", lines=Recipes.compensation(PROGRAM, 400),
                       description="claim", kind="compensation")
    await session.commit()
    with pytest.raises(LimitExceeded):
        await service.reverse(session, SYSTEM, capital.id, "rev-cap", "capital withdrawn")


async def test_balances_as_of_any_date(session, chart):
    d1, d2 = TODAY - timedelta(days=10), TODAY - timedelta(days=5)
    await fund_capital(session, 1_000, key="cap-d1", effective_date=d1)
    await service.post(session, SYSTEM, idempotency_key="c-d2", lines=Recipes.compensation(PROGRAM, 400),
                       description="claim", kind="compensation", effective_date=d2)
    await service.post(session, SYSTEM, idempotency_key="r-today", lines=Recipes.recovery(PROGRAM, 50),
                       description="recovery", kind="recovery")
    await session.commit()
    assert (await service.balance(session, CASH, d1 - timedelta(days=1))).balance == 0
    assert (await service.balance(session, CASH, d1)).balance == 1_000
    assert (await service.balance(session, CASH, d2)).balance == 600
    assert (await service.balance(session, CASH, TODAY)).balance == 650
    assert (await service.balance(session, CASH)).balance == 650
    rows = {b.code: b for b in await service.balances(session, d2)}
    assert rows[COMP].balance == 400 and rows[Chart.recoveries(PROGRAM)].balance == 0
    assert sum(b.debits for b in rows.values()) == sum(b.credits for b in rows.values()) == 1_400


async def test_a_backdated_withdrawal_may_not_overdraw_the_past(session, chart):
    # Cash arrives today; a compensation dated last week would have taken cash below zero then.
    await fund_capital(session, 1_000)
    with pytest.raises(LimitExceeded):
        await service.post(session, SYSTEM, idempotency_key="early", lines=Recipes.compensation(PROGRAM, 10),
                           description="claim", kind="compensation", effective_date=TODAY - timedelta(days=7))
    await session.rollback()
    # Dated today, after the capital, it is fine; and back-dating on the same day as the capital too.
    await service.post(session, SYSTEM, idempotency_key="same-day", lines=Recipes.compensation(PROGRAM, 10),
                       description="claim", kind="compensation", effective_date=TODAY)
    await session.commit()
    await fund_capital(session, 100, key="cap-old", effective_date=TODAY - timedelta(days=3))
    await service.post(session, SYSTEM, idempotency_key="mid", lines=Recipes.compensation(PROGRAM, 100),
                       description="claim", kind="compensation", effective_date=TODAY - timedelta(days=2))
    await session.commit()
    with pytest.raises(LimitExceeded):
        await service.post(session, SYSTEM, idempotency_key="mid2", lines=Recipes.compensation(PROGRAM, 1),
                           description="claim", kind="compensation", effective_date=TODAY - timedelta(days=2))


async def _tamper(session, sql: str, **params) -> None:
    # On PostgreSQL the append-only trigger would refuse; replica mode skips triggers, as an attacker with
    # superuser rights could. The point is that verify() notices.
    if IS_POSTGRES:
        await session.exec(sa.text("SET LOCAL session_replication_role = replica"))
    await session.exec(sa.text(sql).bindparams(**params))
    await session.commit()


async def _two_entries(session) -> tuple:
    a = await fund_capital(session, 1_000)
    b = await service.post(session, SYSTEM, idempotency_key="c1", lines=Recipes.compensation(PROGRAM, 100),
                           description="claim", kind="compensation")
    await session.commit()
    await service.seal(session)
    await session.commit()
    return a, b


async def test_verify_catches_an_edited_posting(session, chart):
    a, _ = await _two_entries(session)
    await _tamper(session, "UPDATE ledger_postings SET amount = 900 WHERE entry_id = :e AND side = 'debit'", e=a.id)
    report = await service.verify(session)
    assert report["balanced"] is False and report["chain_intact"] is False
    kinds = {p["problem"] for p in report["problems"]}
    assert {"unbalanced", "hash_mismatch", "cached_balance_mismatch"} <= kinds


async def test_verify_catches_an_edited_description(session, chart):
    _, b = await _two_entries(session)
    await _tamper(session, "UPDATE ledger_entries SET description = 'nothing to see' WHERE id = :e", e=b.id)
    report = await service.verify(session)
    assert report["balanced"] is True and report["chain_intact"] is False
    assert report["problems"] == [{"entry_id": b.id, "problem": "hash_mismatch", "seq": 2}]


async def test_verify_catches_a_deleted_entry(session, chart):
    a, _ = await _two_entries(session)
    await _tamper(session, "DELETE FROM ledger_postings WHERE entry_id = :e", e=a.id)
    await _tamper(session, "DELETE FROM ledger_entries WHERE id = :e", e=a.id)
    report = await service.verify(session)
    assert report["chain_intact"] is False and report["balanced"] is False
    assert {"sequence_gap", "chain_broken", "cached_balance_mismatch"} <= {p["problem"] for p in report["problems"]}


async def test_verify_catches_a_rehashed_edit_at_the_next_link(session, chart):
    # An attacker who edits entry 1 and recomputes its hash still breaks entry 2's prev_hash.
    a, b = await _two_entries(session)
    postings = (await service._postings_of(session, [a.id]))[a.id]
    fake = entry_hash({**service._hashed_entry(a), "description": "rewritten"}, [service._hashed_posting(p) for p in postings], a.prev_hash)
    await _tamper(session, "UPDATE ledger_entries SET description = 'rewritten', hash = :h WHERE id = :e",
                  h=fake, e=a.id)
    report = await service.verify(session)
    assert report["chain_intact"] is False
    assert report["problems"] == [{"entry_id": b.id, "problem": "chain_broken", "seq": 2}]


async def test_verify_catches_a_cached_balance_edit(session, chart):
    await _two_entries(session)
    await _tamper(session, "UPDATE ledger_accounts SET debits_posted = debits_posted + 1 WHERE code = :c", c=COMP)
    report = await service.verify(session)
    assert report["balanced"] is False and report["chain_intact"] is True
    assert report["problems"][0]["problem"] == "cached_balance_mismatch"


async def test_verify_on_an_empty_ledger(session):
    assert await service.verify(session) == {"balanced": True, "chain_intact": True, "entries_checked": 0,
                                             "entries_sealed": 0, "entries_unsealed": 0,
                                             "accounts_checked": 0, "problems_total": 0, "problems": [],
                                             "pending_debits": 0, "pending_credits": 0}


async def test_the_database_refuses_a_negative_cash_row(session, chart):
    # The CHECK constraint holds the limit even for code that bypasses the service.
    with pytest.raises(sa.exc.IntegrityError):
        await session.exec(sa.text("UPDATE ledger_accounts SET credits_posted = 5 WHERE code = :c").bindparams(c=CASH))
    await session.rollback()
    with pytest.raises(sa.exc.IntegrityError):
        await session.exec(sa.text("INSERT INTO ledger_accounts (id, code, name, type, normal_side, limit_rule, "
                                   "currency, debits_posted, credits_posted, version, created_at, updated_at) "
                                   "VALUES ('x', 'x:y', 'x', 'asset', 'debit', 'none', 'CNY', -1, 0, 0, "
                                   "CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"))
    await session.rollback()
    assert (await session.exec(select(LedgerAccount).where(LedgerAccount.code == "x:y"))).first() is None


async def test_a_posting_is_few_statements_and_never_touches_the_chain_head(session, chart):
    # Throughput hangs on this: posters share no lock but their accounts' (the sealer links the chain later).
    await fund_capital(session, 100_000)
    statements: list[str] = []
    engine = session.bind.sync_engine if hasattr(session.bind, "sync_engine") else session.bind

    def record(conn, cursor, statement, params, context, executemany) -> None:
        statements.append(" ".join(statement.split()).upper())

    sa.event.listen(engine, "before_cursor_execute", record)
    try:
        entry = await service.post(session, SYSTEM, idempotency_key="comp-x", lines=Recipes.compensation(PROGRAM, 7),
                                   description="claim", kind="compensation")
        await session.commit()
    finally:
        sa.event.remove(engine, "before_cursor_execute", record)
    ours = [s for s in statements if "CLOCK_STATE" not in s and not s.startswith("BEGIN")]  # the test clock (kernel)
    # The accounts are locked first, in id order (on SQLite, BEGIN IMMEDIATE is the lock: no FOR UPDATE).
    assert ours[0].startswith("SELECT") and "FROM LEDGER_ACCOUNTS" in ours[0], ours
    assert ("FOR UPDATE" in ours[0]) == IS_POSTGRES
    assert not any("LEDGER_CHAIN_HEAD" in s for s in ours), ours
    if IS_POSTGRES:
        # Two round trips: lock+read the accounts | one append statement that checks the key and writes the
        # entry, its postings, the balances and the audit row.
        assert len(ours) == 2, "\n".join(ours)
        for table in ("LEDGER_ENTRIES", "LEDGER_POSTINGS", "LEDGER_ACCOUNTS", "AUDIT_EVENTS"):
            assert table in ours[1]
    # The rows written by Core are the session's own persistent objects; sealing links them, and they verify.
    assert await session.get(LedgerEntry, entry.id) is entry and entry.seq is None
    await service.seal(session)
    await session.commit()
    assert entry.seq == 2
    assert (await service.balance(session, CASH)).balance == 100_000 - 7
    report = await service.verify(session)
    assert report["balanced"] and report["chain_intact"], report


# --- A posting alone in its transaction (``post_alone``: one statement in autocommit on PostgreSQL) --------


async def test_a_posting_alone_commits_replays_and_refuses_like_post(app, session, chart):
    await fund_capital(session, 1_000)
    factory = app.state.session_factory

    async def claim(key: str, amount: int):
        return await service.post_alone(factory, SYSTEM, idempotency_key=key, lines=Recipes.compensation(
            PROGRAM, amount), description="claim", kind="compensation")

    first = await claim("claim-1", 600)
    async with factory() as s:  # committed: another session sees it
        assert (await service.balance(s, CASH)).balance == 400
        assert (await service.get_entry(s, first.id)).digest == first.digest
    assert (await claim("claim-1", 600)).id == first.id  # a replay returns the first entry
    with pytest.raises(IdempotencyConflict):
        await claim("claim-1", 500)
    with pytest.raises(LimitExceeded, match="may not go below zero: available 400"):
        await claim("claim-2", 600)
    async with factory() as s:
        assert (await service.balance(s, CASH)).balance == 400
        assert await _count(s, LedgerEntry) == 2 and await _count(s, LedgerPosting) == 4
        assert (await s.exec(select(sa.func.count()).select_from(AuditEvent).where(
            AuditEvent.action == "ledger.entry_posted"))).one() == 2
        await service.seal(s)
        await s.commit()
        report = await service.verify(s)
        assert report["balanced"] and report["chain_intact"] and report["entries_unsealed"] == 0
