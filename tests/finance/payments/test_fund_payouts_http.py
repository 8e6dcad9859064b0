"""The fund's money paths over the http provider (respx): a compensation payout and a recovery payment,
each through success, decline, timeout then success, timeout forever and 5xx. For each: nothing reads
paid that was not paid, the ledger balances (posted and pending), and a retry moves the money once."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlmodel import select

from finance.fund import books
from finance.fund import claims as fund_claims
from finance.fund import cover as fund_cover
from finance.fund.models import CompensationClaim, RecoveryRow
from finance.ledger.models import LedgerEntry
from finance.payments.models import Payment
from kernel import events
from tests.finance.fund.helpers import (
    WAN,
    actor,
    agreement,
    claim_request,
    cover_request,
    in_tx,
    program,
    verify_ledger,
)
from tests.finance.payments.scenarios import SCENARIOS, mock, retry_due
from tests.helpers import assert_problem

paid_claims: list[str] = []


@events.subscribe(events.COMPENSATION_PAID)
async def _paid(_session: Any, payload: dict[str, Any]) -> None:
    paid_claims.append(payload["claim_id"])


async def _posted_and_available(app: Any, program_id: str) -> tuple[int, int]:
    return await in_tx(app, books.cash, program_id), await in_tx(app, books.available_cash, program_id)


async def _recover(app: Any, provider: Any) -> dict[str, int]:
    """The provider is back: the outbox's retry (made due now) settles what was left processing."""
    mock(provider, "payout")
    return await retry_due(app)


async def _claim(api: Any, app: Any, fund_amount_wan: int = 50) -> tuple[Any, Any, dict[str, Any], CompensationClaim]:
    fund, bank, sme = await api.org("fund"), await api.org("bank"), await api.org("sme")
    p = await program(api, fund, capital=1000 * WAN, npl_pause_bps=10000)
    await agreement(api, fund, p["id"], bank, deposit=100 * WAN)  # cash left: ¥9m
    req = cover_request(bank, sme, 2 * fund_amount_wan * WAN)
    await in_tx(app, fund_cover.request_cover, actor(bank), p["id"], req)
    claim = await in_tx(app, fund_claims.open_claim, actor(bank), claim_request(req, 2 * fund_amount_wan * WAN))
    assert claim.fund_amount == fund_amount_wan * WAN
    return fund, bank, p, claim


async def _state(app: Any, claim_id: str) -> tuple[CompensationClaim, list[Payment], list[LedgerEntry]]:
    async with app.state.session_factory() as s:
        claim = await s.get(CompensationClaim, claim_id)
        pays = list((await s.exec(select(Payment).where(Payment.object_id == claim_id).order_by(Payment.id))).all())
        entries = list((await s.exec(select(LedgerEntry).where(LedgerEntry.object_id == claim_id)
                                     .order_by(LedgerEntry.created_at, LedgerEntry.id))).all())
    assert claim is not None
    return claim, pays, entries


@pytest.mark.parametrize("scenario", SCENARIOS)
async def test_compensation_payout(api, app, provider, scenario):
    fund, bank, p, claim = await _claim(api, app)
    amount = claim.fund_amount
    before, _ = await _posted_and_available(app, p["id"])
    route = mock(provider, "payout", scenario)
    r = await api.client.post(f"/compensation-claims/{claim.id}/approve", headers=fund.headers)
    got, pays, entries = await _state(app, claim.id)
    if scenario in ("success", "timeout_then_success"):
        assert r.status_code == 200 and r.json()["status"] == "paid", r.text
        assert (got.status, [x.status for x in pays]) == ("paid", ["succeeded"])
        assert [e.phase for e in entries] == ["pending", "post_pending"]
        assert await _posted_and_available(app, p["id"]) == (before - amount, before - amount)
        assert paid_claims.count(claim.id) == 1
    elif scenario == "decline":
        assert_problem(r, 402, "payment_failed")
        assert (got.status, [x.status for x in pays]) == ("payout_failed", ["failed"])
        assert [e.phase for e in entries] == ["pending", "void_pending"]  # the reservation released
        assert await _posted_and_available(app, p["id"]) == (before, before)  # the fund's cash unchanged
        assert claim.id not in paid_claims
        # The fund retries: a new payout (a new provider key) lands, and the money moves once.
        mock(provider, "payout")
        r = await api.client.post(f"/compensation-claims/{claim.id}/retry-payout", headers=fund.headers)
        assert r.status_code == 200 and r.json()["status"] == "paid", r.text
        got, pays, entries = await _state(app, claim.id)
        assert [x.status for x in pays] == ["failed", "succeeded"]
        assert len({x.provider_key for x in pays}) == 2
        assert [e.phase for e in entries] == ["pending", "void_pending", "pending", "post_pending"]
        assert await _posted_and_available(app, p["id"]) == (before - amount, before - amount)
        assert paid_claims.count(claim.id) == 1
        again = await api.client.post(f"/compensation-claims/{claim.id}/retry-payout", headers=fund.headers)
        assert again.status_code == 200 and again.json()["status"] == "paid"
    else:  # the provider never answered: nothing is paid, the cash stays reserved
        assert r.status_code == 202 and r.json()["status"] == "paying", r.text
        assert (got.status, [x.status for x in pays]) == ("paying", ["processing"])
        assert [e.phase for e in entries] == ["pending"]
        assert await _posted_and_available(app, p["id"]) == (before, before - amount)
        assert claim.id not in paid_claims
        assert_problem(await api.client.post(f"/compensation-claims/{claim.id}/retry-payout",
                                             headers=bank.headers), 403, "forbidden")
        assert (await api.client.post(f"/compensation-claims/{claim.id}/retry-payout",
                                      headers=fund.headers)).json()["status"] == "paying"  # nothing new asked
        assert await _recover(app, provider) == {"done": 1}
        got, pays, entries = await _state(app, claim.id)
        assert (got.status, [x.status for x in pays]) == ("paid", ["succeeded"])
        assert await _posted_and_available(app, p["id"]) == (before - amount, before - amount)
        assert paid_claims.count(claim.id) == 1
    keys = {c.request.headers["Idempotency-Key"] for c in route.calls}
    assert len(keys) == (2 if scenario == "decline" else 1)  # every attempt of one payout carried one key
    await verify_ledger(app)


async def test_a_reserved_claim_cannot_be_spent_twice(api, app, provider):
    """While one payout is under way its cash is reserved: a second claim sees only what is left."""
    fund, bank = await api.org("fund"), await api.org("bank")
    p = await program(api, fund, capital=1000 * WAN, npl_pause_bps=10000)
    await agreement(api, fund, p["id"], bank, deposit=900 * WAN)  # cash ¥1m
    made = []
    for _ in range(2):
        sme = await api.org("sme")
        req = cover_request(bank, sme, 160 * WAN)
        await in_tx(app, fund_cover.request_cover, actor(bank), p["id"], req)
        made.append(await in_tx(app, fund_claims.open_claim, actor(bank), claim_request(req, 120 * WAN)))  # ¥0.6m
    provider.post("/v1/payouts").mock(side_effect=httpx.ReadTimeout("slow"))
    r = await api.client.post(f"/compensation-claims/{made[0].id}/approve", headers=fund.headers)
    assert r.status_code == 202
    body = assert_problem(await api.client.post(f"/compensation-claims/{made[1].id}/approve",
                                                headers=fund.headers), 409, "limit_exceeded")
    assert body["rule"] == "cash" and body["cash"] == 40 * WAN  # ¥1m less the ¥0.6m reserved
    await verify_ledger(app)


async def _paid_claim_for_recovery(api: Any, app: Any) -> tuple[Any, Any, dict[str, Any], CompensationClaim]:
    fund, bank, p, claim = await _claim(api, app)
    r = await api.client.post(f"/compensation-claims/{claim.id}/approve", headers=fund.headers)
    assert r.status_code == 200 and r.json()["status"] == "paid", r.text
    return fund, bank, p, claim


async def _rows(app: Any, claim_id: str) -> list[RecoveryRow]:
    async with app.state.session_factory() as s:
        return list((await s.exec(select(RecoveryRow).where(RecoveryRow.claim_id == claim_id)
                                  .order_by(RecoveryRow.line_no))).all())


@pytest.mark.parametrize("scenario", SCENARIOS)
async def test_recovery_payment(api, app, provider, scenario):
    mock(provider, "payout")
    fund, bank, p, claim = await _paid_claim_for_recovery(api, app)
    before, _ = await _posted_and_available(app, p["id"])
    route = mock(provider, "payout", scenario)
    first = len(route.calls)  # the compensation payout went through the same route
    r = await api.client.post(f"/compensation-claims/{claim.id}/recoveries",
                              json={"amount": 30 * WAN, "source_ref": "court-2026-001"}, headers=fund.headers)
    assert r.status_code == 201, r.text
    rows = {x.party: x for x in await _rows(app, claim.id)}
    assert {k: v.amount for k, v in rows.items()} == {"fund": 15 * WAN, "bank": 15 * WAN}
    assert rows["bank"].status == "paid" and rows["bank"].payment_id is None  # the bank keeps its own part
    fund_row = rows["fund"]
    if scenario in ("success", "timeout_then_success"):
        assert fund_row.status == "paid"
        assert await _posted_and_available(app, p["id"]) == (before + 15 * WAN, before + 15 * WAN)
    elif scenario == "decline":
        assert fund_row.status == "payout_failed"
        assert await _posted_and_available(app, p["id"]) == (before, before)  # the inflow was voided
        mock(provider, "payout")
        assert_problem(await api.client.post(f"/recoveries/{fund_row.id}/retry-payout",
                                             headers=(await api.org("fund")).headers), 404, "not_found")
        r = await api.client.post(f"/recoveries/{fund_row.id}/retry-payout", headers=bank.headers)
        assert r.status_code == 200 and r.json()["status"] == "paid", r.text
        assert await _posted_and_available(app, p["id"]) == (before + 15 * WAN, before + 15 * WAN)
    else:
        assert fund_row.status == "paying"
        # A pending inflow is not spendable: neither posted nor available until the money arrives.
        assert await _posted_and_available(app, p["id"]) == (before, before)
        assert await _recover(app, provider) == {"done": 1}
        assert {x.party: x.status for x in await _rows(app, claim.id)}["fund"] == "paid"
        assert await _posted_and_available(app, p["id"]) == (before + 15 * WAN, before + 15 * WAN)
    keys = {c.request.headers["Idempotency-Key"] for c in list(route.calls)[first:]}
    assert len(keys) == (2 if scenario == "decline" else 1)
    async with app.state.session_factory() as s:
        pays = (await s.exec(select(Payment).where(Payment.object_id == fund_row.id))).all()
    assert sum(x.amount for x in pays if x.status == "succeeded") == 15 * WAN  # once
    await verify_ledger(app)
