"""Sealing: entries are posted unsealed and linked into the hash chain after commit, in order, exactly once."""

import asyncio
from types import SimpleNamespace

import pytest
import sqlalchemy as sa
from sqlmodel import col, select

from finance.ledger import service
from finance.ledger.core import GENESIS_HASH, Chart, Recipes, chain_link
from finance.ledger.models import LedgerChainHead, LedgerEntry
from finance.ledger.sealing import seal_job
from kernel.actor import SYSTEM
from tests.conftest import IS_POSTGRES
from tests.finance.ledger.conftest import PROGRAM, fund_capital

CASH = Chart.cash(PROGRAM)


async def _pay(session, key: str, amount: int = 10) -> LedgerEntry:
    entry = await service.post(session, SYSTEM, idempotency_key=key, lines=Recipes.compensation(PROGRAM, amount),
                               description="claim", kind="compensation")
    await session.commit()
    return entry


async def _chain(session) -> list[LedgerEntry]:
    return list((await session.exec(select(LedgerEntry).where(col(LedgerEntry.seq).is_not(None))
                                    .order_by(col(LedgerEntry.seq)).execution_options(populate_existing=True))).all())


async def test_unsealed_entries_are_sealed_in_posting_order_and_linked(session, chart):
    posted = [await fund_capital(session, 1_000)] + [await _pay(session, f"c{i}") for i in range(3)]
    assert all(e.seq is None and e.hash is None and e.prev_hash is None for e in posted)
    assert await service.seal(session) == 4
    await session.commit()
    chain = await _chain(session)
    assert [e.id for e in chain] == [e.id for e in posted] and [e.seq for e in chain] == [1, 2, 3, 4]
    prev = GENESIS_HASH
    for e in chain:
        assert e.prev_hash == prev and e.hash == chain_link(prev, e.seq, e.digest)
        prev = e.hash
    head = await session.get(LedgerChainHead, 1, populate_existing=True)
    assert head is not None and (head.last_seq, head.last_hash) == (4, prev)
    assert await service.seal(session) == 0  # nothing left: a second seal changes nothing
    await session.commit()
    assert [(e.seq, e.hash) for e in await _chain(session)] == [(e.seq, e.hash) for e in chain]


async def test_verify_reports_the_unsealed_tail_then_all_sealed(session, chart):
    await fund_capital(session, 1_000)
    await service.seal(session)
    await session.commit()
    await _pay(session, "c1")
    await _pay(session, "c2")
    report = await service.verify(session)
    assert report["balanced"] and report["chain_intact"], report
    assert (report["entries_checked"], report["entries_sealed"], report["entries_unsealed"]) == (3, 1, 2)
    await service.seal(session)
    await session.commit()
    report = await service.verify(session)
    assert report["balanced"] and report["chain_intact"], report
    assert (report["entries_checked"], report["entries_sealed"], report["entries_unsealed"]) == (3, 3, 0)


async def test_a_limited_seal_leaves_the_rest_for_the_next(session, chart):
    await fund_capital(session, 1_000)
    for i in range(4):
        await _pay(session, f"c{i}")
    assert await service.seal(session, limit=2) == 2
    await session.commit()
    report = await service.verify(session)
    assert (report["entries_sealed"], report["entries_unsealed"], report["chain_intact"]) == (2, 3, True)
    assert await service.seal(session, limit=10) == 3
    await session.commit()
    assert [e.seq for e in await _chain(session)] == [1, 2, 3, 4, 5]


async def _tamper(session, sql: str, **params) -> None:
    if IS_POSTGRES:  # replica mode skips the append-only trigger, as a superuser could
        await session.exec(sa.text("SET LOCAL session_replication_role = replica"))
    await session.exec(sa.text(sql).bindparams(**params))
    await session.commit()


async def test_an_entry_edited_before_sealing_is_caught_before_and_after(session, chart):
    await fund_capital(session, 1_000)
    paid = await _pay(session, "c1")
    await _tamper(session, "UPDATE ledger_entries SET description = 'nothing to see' WHERE id = :e", e=paid.id)
    report = await service.verify(session)
    assert report["chain_intact"] is False
    assert report["problems"] == [{"entry_id": paid.id, "problem": "digest_mismatch", "seq": None}]
    await service.seal(session)  # the sealer links the digest fixed at posting, not the edited row
    await session.commit()
    report = await service.verify(session)
    assert report["chain_intact"] is False
    assert report["problems"] == [{"entry_id": paid.id, "problem": "hash_mismatch", "seq": 2}]


async def test_a_tampered_sealed_entry_is_detected(session, chart):
    await fund_capital(session, 1_000)
    paid = await _pay(session, "c1")
    await service.seal(session)
    await session.commit()
    await _tamper(session, "UPDATE ledger_postings SET amount = 11 WHERE entry_id = :e AND side = 'debit'", e=paid.id)
    report = await service.verify(session)
    assert report["chain_intact"] is False and report["balanced"] is False
    assert {"hash_mismatch", "unbalanced"} <= {p["problem"] for p in report["problems"]}


async def test_the_worker_job_seals_everything_committed(app, session, chart, monkeypatch):
    monkeypatch.setattr("finance.ledger.sealing.SEAL_BATCH", 2)  # several batches, each its own transaction
    await fund_capital(session, 1_000)
    for i in range(4):
        await _pay(session, f"c{i}")
    await seal_job(SimpleNamespace(session_factory=app.state.session_factory), {})
    report = await service.verify(session)
    assert (report["entries_sealed"], report["entries_unsealed"], report["chain_intact"]) == (5, 0, True)


async def test_a_period_close_seals_first(api, session, chart):
    from finance.fund.models import FundProgram
    from finance.ledger import periods

    fund = await api.org("fund")
    session.add(FundProgram(id=PROGRAM, fund_org_id=fund.org_id, name="p", capital=0))
    await session.commit()
    await fund_capital(session, 1_000)
    await periods.close(session, SYSTEM, fund.org_id, "2026-02")
    await session.commit()
    report = await service.verify(session)
    assert (report["entries_sealed"], report["entries_unsealed"]) == (1, 0)


# --- PostgreSQL: real concurrency, and the trigger -------------------------------------------------------

@pytest.mark.postgres
async def test_concurrent_posters_and_sealers_keep_one_valid_chain(app, session, chart):
    await fund_capital(session, 1_000_000)
    factory = app.state.session_factory

    async def poster(i: int) -> None:
        for j in range(8):
            async with factory() as s:
                await service.post(s, SYSTEM, idempotency_key=f"p{i}-{j}", lines=Recipes.compensation(PROGRAM, 1),
                                   description="claim", kind="compensation")
                await s.commit()

    async def sealer() -> None:
        for _ in range(10):
            async with factory() as s:
                await service.seal(s, limit=3)
                await s.commit()
            await asyncio.sleep(0)

    await asyncio.gather(*[poster(i) for i in range(6)], sealer(), sealer())
    async with factory() as s:
        await service.seal(s)
        await s.commit()
    async with factory() as s:
        report = await service.verify(s)
        assert report["balanced"] and report["chain_intact"], report
        assert (report["entries_sealed"], report["entries_unsealed"]) == (49, 0)


@pytest.mark.postgres
async def test_an_entry_committing_late_is_sealed_after_the_ones_before_it(app, session, chart):
    # T1 posts first (earlier created_at and id) but commits after T2 has been sealed: it takes the next seq.
    await fund_capital(session, 1_000)
    await service.ensure_program_accounts(session, "prg_other")  # accounts of its own: no lock in common
    await session.commit()
    factory = app.state.session_factory
    async with factory() as late:
        first = await service.post(late, SYSTEM, idempotency_key="late", lines=Recipes.capital_in("prg_other", 5),
                                   description="capital in", kind="capital_in")
        async with factory() as s:
            second = await _pay(s, "early")
            assert await service.seal(s) == 2
            await s.commit()
        await late.commit()
    assert first.id < second.id
    async with factory() as s:
        assert await service.seal(s) == 1
        await s.commit()
        chain = await _chain(s)
        assert [e.id for e in chain][1:] == [second.id, first.id]
        report = await service.verify(s)
        assert report["chain_intact"] and report["entries_unsealed"] == 0, report


@pytest.mark.postgres
async def test_the_trigger_allows_the_sealing_update_only(app, session, chart):
    entry = await fund_capital(session, 1_000)
    factory = app.state.session_factory
    refused = (
        "UPDATE ledger_entries SET description = 'x' WHERE id = :e",
        # sealing with anything else changed
        "UPDATE ledger_entries SET seq = 1, prev_hash = digest, hash = digest, description = 'x' WHERE id = :e",
        "UPDATE ledger_entries SET seq = 1, prev_hash = digest, hash = digest, "
        "created_at = created_at + interval '1 microsecond' WHERE id = :e",
        # half a seal
        "UPDATE ledger_entries SET seq = 1 WHERE id = :e",
        "DELETE FROM ledger_entries WHERE id = :e",
    )
    for sql in refused:
        async with factory() as s:
            with pytest.raises(sa.exc.DBAPIError, match="append-only"):
                await s.exec(sa.text(sql).bindparams(e=entry.id))
    async with factory() as s:
        assert await service.seal(s) == 1  # the sealing update itself passes
        await s.commit()
    for sql in ("UPDATE ledger_entries SET seq = 7 WHERE id = :e",  # a sealed entry is never re-sealed
                "UPDATE ledger_entries SET seq = NULL, prev_hash = NULL, hash = NULL WHERE id = :e"):
        async with factory() as s:
            with pytest.raises(sa.exc.DBAPIError, match="append-only"):
                await s.exec(sa.text(sql).bindparams(e=entry.id))
    async with factory() as s:
        report = await service.verify(s)
        assert report["chain_intact"] and report["entries_sealed"] == 1, report
