"""Real concurrency on PostgreSQL: one claim approved 50 times at once pays once; many claims draining
the cash never take it below zero; concurrent covers never over-commit a bank's quota."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from sqlmodel import select

from finance.fund import claims as fund_claims
from finance.fund import cover as fund_cover
from finance.fund.models import CompensationClaim, FundCover
from finance.ledger.models import LedgerEntry
from finance.payments.models import Payment
from kernel.errors import LimitExceeded
from tests.finance.fund.helpers import (
    WAN,
    actor,
    agreement,
    cash,
    claim_request,
    cover_request,
    in_tx,
    program,
    verify_ledger,
)

pytestmark = pytest.mark.postgres


def _clients(app, n: int) -> list[httpx.AsyncClient]:
    return [httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test/api/v1")
            for _ in range(n)]


async def _claims(api, app, fund, bank, p, count, principal, loss) -> list[str]:
    sme = await api.org("sme")
    ids = []
    for _ in range(count):
        req = cover_request(bank, sme, principal)
        await in_tx(app, fund_cover.request_cover, actor(bank), p["id"], req)
        ids.append((await in_tx(app, fund_claims.open_claim, actor(bank), claim_request(req, loss))).id)
    return ids


async def test_fifty_simultaneous_approvals_pay_once(api, app):
    fund, bank = await api.org("fund"), await api.org("bank")
    p = await program(api, fund, capital=1000 * WAN)
    await agreement(api, fund, p["id"], bank, deposit=100 * WAN)
    [claim_id] = await _claims(api, app, fund, bank, p, 1, 100 * WAN, 80 * WAN)  # fund part ¥400k
    before = await cash(app, p["id"])
    clients = _clients(app, 50)
    try:
        responses = await asyncio.gather(*(c.post(f"/compensation-claims/{claim_id}/approve", headers=fund.headers)
                                           for c in clients))
    finally:
        await asyncio.gather(*(c.aclose() for c in clients))
    assert [r.status_code for r in responses] == [200] * 50, [r.text for r in responses if r.status_code != 200]
    assert {r.json()["status"] for r in responses} == {"paid"}
    assert len({r.json()["ledger_entry_id"] for r in responses}) == 1
    assert await cash(app, p["id"]) == before - 40 * WAN
    async with app.state.session_factory() as s:
        entries = (await s.exec(select(LedgerEntry).where(LedgerEntry.object_id == claim_id))).all()
        payments = (await s.exec(select(Payment).where(Payment.object_id == claim_id))).all()
    # Two-phase: the reservation made once, posted once when the payout landed.
    assert sorted(e.phase for e in entries) == ["pending", "post_pending"]
    assert [e.idempotency_key for e in entries if e.phase == "pending"] == [f"claim:{claim_id}"]
    assert len(payments) == 1 and payments[0].amount == 40 * WAN
    await verify_ledger(app)


async def test_many_claims_draining_the_cash_never_overdraw(api, app):
    fund, bank = await api.org("fund"), await api.org("bank")
    p = await program(api, fund, capital=1100 * WAN, npl_pause_bps=10000)
    await agreement(api, fund, p["id"], bank, deposit=100 * WAN)  # cash left: ¥10m
    ids = await _claims(api, app, fund, bank, p, 24, 300 * WAN, 300 * WAN)  # fund part ¥1.5m each
    clients = _clients(app, len(ids))
    try:
        responses = await asyncio.gather(*(c.post(f"/compensation-claims/{i}/approve", headers=fund.headers)
                                           for c, i in zip(clients, ids, strict=True)))
    finally:
        await asyncio.gather(*(c.aclose() for c in clients))
    paid = [r for r in responses if r.status_code == 200]
    refused = [r for r in responses if r.status_code == 409]
    assert len(paid) == 6 and len(refused) == 18, [r.text for r in responses if r.status_code not in (200, 409)]
    assert {r.json()["rule"] for r in refused} == {"cash"}
    assert await cash(app, p["id"]) == 100 * WAN  # ¥10m − 6 × ¥1.5m
    async with app.state.session_factory() as s:
        statuses = (await s.exec(select(CompensationClaim.status))).all()
    assert sorted(statuses) == ["paid"] * 6 + ["pending"] * 18
    await verify_ledger(app)


async def test_concurrent_covers_never_exceed_the_quota(api, app):
    fund, bank, sme = await api.org("fund"), await api.org("bank"), await api.org("sme")
    p = await program(api, fund, capital=1000 * WAN, shares_bps={"fund": 5000})
    await agreement(api, fund, p["id"], bank, deposit=100 * WAN, leverage=10)  # quota ¥10m of covered principal

    async def attempt(n: int) -> bool:
        try:
            await in_tx(app, fund_cover.request_cover, actor(bank), p["id"], cover_request(bank, sme, 300 * WAN))
        except LimitExceeded as exc:
            assert exc.extra["rule"] == "quota"
            return False
        return True

    results = await asyncio.gather(*(attempt(n) for n in range(25)))  # each needs ¥3m of the ¥10m
    assert results.count(True) == 3
    async with app.state.session_factory() as s:
        carried = (await s.exec(select(FundCover.covered_outstanding))).all()
    assert sum(carried) == 900 * WAN <= 1000 * WAN
