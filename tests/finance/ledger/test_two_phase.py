"""Two-phase entries (TigerBeetle's pending transfers): reserve, then post or void; posted and pending apart."""

from __future__ import annotations

import pytest

from finance.ledger import service
from finance.ledger.core import Chart, Recipes
from kernel.actor import SYSTEM
from kernel.errors import IdempotencyConflict, InvalidState, LimitExceeded
from tests.finance.ledger.conftest import PROGRAM, fund_capital

CASH = Chart.cash(PROGRAM)


async def _pending(session, key: str, amount: int):
    entry = await service.post(session, SYSTEM, idempotency_key=key, lines=Recipes.compensation(PROGRAM, amount),
                               description="claim approved", kind="fund.compensation", pending=True,
                               object_type="compensation_claim", object_id=key)
    await session.commit()
    return entry


async def test_a_pending_entry_reserves_cash_so_a_second_cannot_spend_it(session, chart):
    await fund_capital(session, 1000)
    first = await _pending(session, "claim_1", 700)
    assert first.phase == "pending"
    cash = await service.balance(session, CASH)
    assert (cash.balance, cash.pending, cash.available) == (1000, -700, 300)
    assert (cash.debits_pending, cash.credits_pending) == (0, 700)
    with pytest.raises(LimitExceeded):
        await _pending(session, "claim_2", 400)
    await session.rollback()
    with pytest.raises(LimitExceeded):  # a one-phase entry may not spend reserved cash either
        await service.post(session, SYSTEM, idempotency_key="fee", lines=Recipes.fee_paid(PROGRAM, 301),
                           description="fee", kind="fund.fee")
    await session.rollback()
    report = await service.verify(session)
    assert report["balanced"] and report["pending_debits"] == report["pending_credits"] == 700


async def test_posting_moves_pending_to_posted_once(session, chart):
    await fund_capital(session, 1000)
    pending = await _pending(session, "claim_1", 700)
    pending_id = pending.id
    posted = await service.post_pending(session, SYSTEM, pending_id, "claim_1:paid")
    assert posted.phase == "post_pending" and posted.pending_entry_id == pending_id
    posted_id = posted.id
    await session.commit()
    cash = await service.balance(session, CASH)
    assert (cash.balance, cash.pending, cash.available) == (300, 0, 300)
    assert (await service.post_pending(session, SYSTEM, pending_id, "claim_1:paid")).id == posted_id  # replay
    with pytest.raises(InvalidState):
        await service.void_pending(session, SYSTEM, pending_id, "claim_1:void", "too late")
    await session.rollback()
    report = await service.verify(session)
    assert report["balanced"] and report["chain_intact"] and report["problems"] == []


async def test_voiding_releases_the_reservation_and_posts_nothing(session, chart):
    await fund_capital(session, 1000)
    pending = await _pending(session, "claim_1", 700)
    pending_id = pending.id
    void = await service.void_pending(session, SYSTEM, pending_id, "claim_1:void", "payout failed")
    assert void.phase == "void_pending"
    void_date = void.effective_date
    await session.commit()
    cash = await service.balance(session, CASH)
    assert (cash.balance, cash.pending, cash.available) == (1000, 0, 1000)
    with pytest.raises(InvalidState):
        await service.post_pending(session, SYSTEM, pending_id, "claim_1:paid")
    await session.rollback()
    with pytest.raises(InvalidState):  # a pending entry is voided, never reversed
        await service.reverse(session, SYSTEM, pending_id, "rev", "no")
    await session.rollback()
    with pytest.raises(IdempotencyConflict):  # the void's key cannot be reused for something else
        await service.post(session, SYSTEM, idempotency_key="claim_1:void", lines=Recipes.fee_paid(PROGRAM, 1),
                           description="fee", kind="fund.fee")
    await session.rollback()
    today = (await service.balance(session, CASH, as_of=void_date))
    assert (today.balance, today.pending) == (1000, 0)
    report = await service.verify(session)
    assert report["balanced"] and report["pending_debits"] == 0


async def test_verify_catches_a_tampered_pending_cache(session, chart):
    import sqlalchemy as sa

    from finance.ledger.models import LedgerAccount

    await fund_capital(session, 1000)
    await _pending(session, "claim_1", 100)
    await session.execute(sa.update(LedgerAccount).where(LedgerAccount.code == CASH).values(credits_pending=0))
    await session.commit()
    report = await service.verify(session)
    assert not report["balanced"]
    assert "cached_pending_mismatch" in {p["problem"] for p in report["problems"]}
