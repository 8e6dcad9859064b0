"""Requests arriving at the same moment move money once (PostgreSQL: real row locks and unique indexes)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from finance.payments import service
from tests.finance.payments.helpers import (
    actor_of,
    all_events,
    all_payments,
    count_audit,
    db,
    deliver,
    event,
    mount_test_charge,
    object_type,
    watch,
)
from tests.finance.payments.test_http_provider import intent

pytestmark = pytest.mark.postgres
N = 10


async def _together(app, method: str, path: str, make: Callable[[int], dict[str, Any]]) -> list[httpx.Response]:
    """``N`` separate clients sending at once; ``make(i)`` gives request ``i``'s arguments."""
    transport = httpx.ASGITransport(app=app)

    async def one(i: int) -> httpx.Response:
        async with httpx.AsyncClient(transport=transport, base_url="http://test/api/v1") as c:
            return await c.request(method, path, **make(i))

    return list(await asyncio.gather(*(one(i) for i in range(N))))


async def test_same_idempotency_key_pays_out_once(app, api, parties):
    _, university = parties
    admin = await api.admin()
    kind = object_type()
    body = {"payee_org_id": university.org_id, "amount": 3_000_000_00, "purpose": "compensation",
            "object_type": kind, "object_id": "claim_c"}
    headers = {**admin.headers, "Idempotency-Key": "claim-c-payout"}
    responses = await _together(app, "POST", "/payments/payouts", lambda i: {"json": body, "headers": headers})
    assert [r.status_code for r in responses] == [201] * N, [r.text for r in responses]
    assert len({r.json()["id"] for r in responses}) == 1
    assert sum(r.headers.get("Idempotent-Replayed") == "true" for r in responses) == N - 1
    payments = await all_payments(app)
    assert [(p.amount, p.status, p.payee_org_id) for p in payments] == [(3_000_000_00, "succeeded",
                                                                         university.org_id)]
    assert await count_audit(app, "payment.succeed") == 1
    assert await count_audit(app, "payment.created") == 1


async def test_different_keys_for_one_domain_action_still_pay_once(app, api, parties):
    _, university = parties
    admin = await api.admin()
    body = {"payee_org_id": university.org_id, "amount": 42_00, "object_type": object_type(),
            "object_id": "claim_d", "reference": "first"}
    responses = await _together(app, "POST", "/payments/payouts", lambda i: {
        "json": body, "headers": {**admin.headers, "Idempotency-Key": f"client-key-{i}"}})
    assert [r.status_code for r in responses] == [201] * N, [r.text for r in responses]
    assert len({r.json()["id"] for r in responses}) == 1
    assert [p.amount for p in await all_payments(app)] == [42_00]
    assert await count_audit(app, "payment.created") == 1


async def test_concurrent_charges_with_one_key_charge_once(app, parties):
    buyer, seller = parties
    path = mount_test_charge(app)
    body = {"payee_org_id": seller.org_id, "amount": 88_800_00, "object_type": "deal", "object_id": "deal_c",
            "escrow": True}
    headers = {**buyer.headers, "Idempotency-Key": "pay-deal-c"}
    responses = await _together(app, "POST", path, lambda i: {"json": body, "headers": headers})
    assert [r.status_code for r in responses] == [201] * N, [r.text for r in responses]
    assert len({r.json()["id"] for r in responses}) == 1
    assert [(p.amount, p.escrow_state) for p in await all_payments(app)] == [(88_800_00, "held")]
    assert len(await all_events(app)) == 1


async def test_concurrent_deliveries_of_one_event_apply_once(app, parties, provider):
    buyer, seller = parties
    kind = object_type()
    watch(kind)
    provider.post("/v1/payment_intents").respond(200, json=intent("pi_c", "processing", 700))
    async with db(app) as session:
        p = await service.charge(session, actor_of(buyer), purpose="deal", payer_org_id=buyer.org_id,
                                 payee_org_id=seller.org_id, amount=700, object_type=kind, object_id="d")
        await session.commit()
    payload = event("payment_intent.succeeded", intent("pi_c", "succeeded", 700), "evt_concurrent")
    secrets = [app.state.settings.payment_webhook_secret]
    transport = httpx.ASGITransport(app=app)

    async def one() -> httpx.Response:
        async with httpx.AsyncClient(transport=transport, base_url="http://test/api/v1") as c:
            return await deliver(c, payload, secrets)

    responses = await asyncio.gather(*(one() for _ in range(N)))
    outcomes = sorted(r.json()["outcome"] for r in responses)
    assert outcomes == ["applied"] + ["duplicate"] * (N - 1)
    assert len(await all_events(app)) == 1
    assert await count_audit(app, "cb.settled", p.id) == 1
    assert await count_audit(app, "payment.succeed", p.id) == 1
