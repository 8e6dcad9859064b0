"""The http provider against a mocked Stripe-like API (respx at the httpx boundary)."""

from __future__ import annotations

from urllib.parse import parse_qs

import httpx
import pytest
from sqlmodel import select, update

from finance.payments import driver, service
from finance.payments import gateway as gw
from kernel import outbox
from kernel.db import utcnow
from kernel.errors import UpstreamError
from kernel.outbox import OutboxJob
from tests.finance.payments.conftest import API_KEY
from tests.finance.payments.helpers import actor_of, all_payments, count_audit, db, object_type, reload, watch


def intent(pid: str, status: str, amount: int, **extra) -> dict:
    return {"id": pid, "object": "payment_intent", "amount": amount, "currency": "cny", "status": status,
            "last_payment_error": None, **extra}


def form_of(request: httpx.Request) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(request.content.decode()).items()}


async def charge(app, payer, payee, kind, *, amount=250_000_00, escrow=False, key="default", commit=True):
    async with db(app) as session:
        p = await service.charge(session, actor_of(payer), purpose="deal", payer_org_id=payer.org_id,
                                 payee_org_id=payee.org_id, amount=amount, object_type=kind, object_id="deal_1",
                                 escrow=escrow, idempotency_key=key)
        if commit:
            await session.commit()
        return p


async def test_success(app, parties, provider):
    buyer, seller = parties
    kind = object_type()
    watch(kind)
    route = provider.post("/v1/payment_intents").respond(200, json=intent("pi_1", "succeeded", 250_000_00))
    p = await charge(app, buyer, seller, kind)
    assert (p.status, p.provider, p.provider_reference) == ("succeeded", "http", "pi_1")
    [call] = route.calls
    request = call.request
    assert request.headers["Authorization"] == f"Bearer {API_KEY}"
    assert request.headers["Idempotency-Key"] == gw.provider_key("deal", kind, "deal_1", "default") + "_charge"
    body = form_of(request)
    assert body["amount"] == "25000000" and body["currency"] == "cny" and body["confirm"] == "true"
    assert body["customer"] == buyer.org_id and body["transfer_data[destination]"] == seller.org_id
    assert body["metadata[payment_id]"] == p.id
    assert await count_audit(app, "cb.settled", p.id) == 1


async def test_processing_until_the_provider_says_otherwise(app, parties, provider):
    buyer, seller = parties
    kind = object_type()
    watch(kind)
    provider.post("/v1/payment_intents").respond(200, json=intent("pi_2", "processing", 100))
    retrieve = provider.get("/v1/payment_intents/pi_2").respond(200, json=intent("pi_2", "succeeded", 100))
    p = await charge(app, buyer, seller, kind, amount=100, escrow=True)
    assert (p.status, p.escrow_state) == ("processing", None)
    assert await count_audit(app, "cb.settled") == 0
    assert "transfer_data[destination]" not in form_of(provider.calls[0].request)  # escrow: kept by the platform
    synced = await driver.sync(app.state.session_factory, p.id)
    assert synced is not None and (synced.status, synced.escrow_state) == ("succeeded", "held")
    assert "Idempotency-Key" not in retrieve.calls[0].request.headers
    assert await count_audit(app, "cb.settled", p.id) == 1


async def test_card_decline_fails_the_payment(app, parties, provider):
    buyer, seller = parties
    kind = object_type()
    watch(kind)
    declined = intent("pi_3", "requires_payment_method", 100,
                      last_payment_error={"type": "card_error", "code": "card_declined",
                                          "decline_code": "insufficient_funds", "message": "Insufficient funds."})
    route = provider.post("/v1/payment_intents").respond(402, json={"error": {
        "type": "card_error", "code": "card_declined", "decline_code": "insufficient_funds",
        "message": "Insufficient funds.", "payment_intent": declined}})
    p = await charge(app, buyer, seller, kind, amount=100)
    assert route.call_count == 1  # a 4xx is never retried
    assert (p.status, p.failure_code, p.failure_message) == ("failed", "insufficient_funds", "Insufficient funds.")
    assert p.settled_at is None
    assert await count_audit(app, "cb.failed", p.id) == 1
    assert await count_audit(app, "cb.settled", p.id) == 0
    with pytest.raises(service.PaymentFailed):
        service.require_success(p)


async def test_5xx_then_success_retries_with_the_same_key(app, parties, provider):
    buyer, seller = parties
    route = provider.post("/v1/payment_intents").mock(side_effect=[
        httpx.Response(503, json={"error": {"type": "api_error"}}),
        httpx.Response(200, json=intent("pi_4", "succeeded", 100)),
    ])
    p = await charge(app, buyer, seller, object_type(), amount=100)
    assert p.status == "succeeded" and p.provider_reference == "pi_4"
    assert route.call_count == 2
    keys = {c.request.headers["Idempotency-Key"] for c in route.calls}
    assert keys == {p.provider_key + "_charge"}
    assert form_of(route.calls[0].request) == form_of(route.calls[1].request)


async def _job(app) -> OutboxJob:
    async with db(app) as session:
        [job] = (await session.exec(select(OutboxJob).where(OutboxJob.kind == "payments.call"))).all()
        return job


async def _due_now(app) -> None:
    async with app.state.session_factory() as session:
        await session.exec(update(OutboxJob).values(run_after=utcnow()))  # type: ignore[call-overload]
        await session.commit()


async def test_5xx_every_time_stays_processing_and_the_outbox_retries_with_the_same_key(app, parties, provider):
    buyer, seller = parties
    kind = object_type()
    watch(kind)
    route = provider.post("/v1/payment_intents").respond(500, json={"error": {"type": "api_error"}})
    p = await charge(app, buyer, seller, kind, amount=100)
    assert route.call_count == 3  # the first attempt and max_retries=2, all with one key
    assert (p.status, p.provider_reference, p.settled_at) == ("processing", None, None)  # nothing reads paid
    job = await _job(app)
    assert (job.status, job.attempts) == ("queued", 1) and "upstream" in (job.last_error or "").lower()
    route.respond(200, json=intent("pi_r", "succeeded", 100))  # the provider is back
    await _due_now(app)
    assert await outbox.drain(app.state.session_factory) == {"done": 1}
    assert len({c.request.headers["Idempotency-Key"] for c in route.calls}) == 1
    stored = await reload(app, p.id)
    assert (stored.status, stored.provider_reference) == ("succeeded", "pi_r")
    assert await count_audit(app, "cb.settled", p.id) == 1  # money moved once


async def test_other_4xx_is_not_retried_by_the_gateway(app, parties, provider):
    buyer, seller = parties
    route = provider.post("/v1/payment_intents").respond(400, json={"error": {
        "type": "invalid_request_error", "code": "parameter_invalid", "message": "bad currency"}})
    p = await charge(app, buyer, seller, object_type(), amount=100)
    assert route.call_count == 1 and p.status == "processing"
    assert "parameter_invalid" in ((await _job(app)).last_error or "")


async def test_timeout_forever_stays_processing_until_the_job_dies(app, parties, provider):
    buyer, seller = parties
    kind = object_type()
    watch(kind)
    route = provider.post("/v1/payment_intents").mock(side_effect=httpx.ReadTimeout("slow"))
    p = await charge(app, buyer, seller, kind, amount=100)
    assert route.call_count == 3
    assert len({c.request.headers["Idempotency-Key"] for c in route.calls}) == 1
    async with app.state.session_factory() as session:
        await session.exec(update(OutboxJob).values(max_attempts=2))  # type: ignore[call-overload]
        await session.commit()
    await _due_now(app)
    assert await outbox.drain(app.state.session_factory) == {"dead": 1}
    assert (await reload(app, p.id)).status == "processing"  # never paid, never failed by guess
    assert await count_audit(app, "cb.settled", p.id) == await count_audit(app, "cb.failed", p.id) == 0


async def test_timeout_then_success(app, parties, provider):
    buyer, seller = parties
    route = provider.post("/v1/payment_intents").mock(side_effect=[
        httpx.ConnectTimeout("slow"), httpx.ConnectError("refused"),
        httpx.Response(200, json=intent("pi_5", "succeeded", 100))])
    p = await charge(app, buyer, seller, object_type(), amount=100)
    assert p.status == "succeeded" and route.call_count == 3


async def test_idempotent_replay_answers_the_same_object(app, parties, provider):
    """A rolled-back request never reaches the provider; a settlement lost after the provider took the
    money is asked again with the same key and does not pay twice."""
    buyer, seller = parties
    kind = object_type()
    route = provider.post("/v1/payment_intents").respond(200, json=intent("pi_6", "succeeded", 100))
    await charge(app, buyer, seller, kind, amount=100, commit=False)  # rolled back: nothing asked
    assert await all_payments(app) == [] and route.call_count == 0
    original = service.settle_call
    calls = 0

    async def lose_the_first_settlement(*args, **kw):
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("the process died after the provider answered")
        return await original(*args, **kw)

    service.settle_call = lose_the_first_settlement  # type: ignore[assignment]
    try:
        kept = await charge(app, buyer, seller, kind, amount=100)
        assert kept.status == "processing"
        await _due_now(app)
        await outbox.drain(app.state.session_factory)
    finally:
        service.settle_call = original  # type: ignore[assignment]
    assert route.call_count == 2
    assert route.calls[0].request.headers["Idempotency-Key"] == route.calls[1].request.headers["Idempotency-Key"]
    kept = await reload(app, kept.id)
    assert kept.provider_reference == "pi_6"
    # A replay of a committed domain action answers our stored row and does not call the provider again.
    again = await charge(app, buyer, seller, kind, amount=100)
    assert again.id == kept.id and route.call_count == 2
    [row] = await all_payments(app)
    assert (row.amount, row.status) == (100, "succeeded")


async def test_escrow_release_and_refund_over_http(app, parties, provider):
    buyer, seller = parties
    provider.post("/v1/payment_intents").respond(200, json=intent("pi_7", "succeeded", 300))
    transfer = provider.post("/v1/transfers").respond(200, json={"id": "tr_7", "object": "transfer", "amount": 300})
    p = await charge(app, buyer, seller, object_type(), amount=300, escrow=True)
    async with db(app) as session:
        p = await service.release_escrow(session, p)
        await session.commit()
    body = form_of(transfer.calls[0].request)
    assert (body["destination"], body["amount"], body["source_transaction"]) == (seller.org_id, "300", "pi_7")
    assert transfer.calls[0].request.headers["Idempotency-Key"] == p.provider_key + "_release"
    assert (await reload(app, p.id)).escrow_state == "released"

    provider.post("/v1/payment_intents").respond(200, json=intent("pi_8", "succeeded", 300))
    refund = provider.post("/v1/refunds").respond(200, json={"id": "re_8", "object": "refund", "status": "succeeded",
                                                            "payment_intent": "pi_8", "amount": 300})
    q = await charge(app, buyer, seller, object_type(), amount=300, escrow=True)
    async with db(app) as session:
        q = await service.refund(session, q)
        await session.commit()
    assert (q.status, q.escrow_state, q.refund_reference) == ("refunded", "refunded", "re_8")
    assert form_of(refund.calls[0].request)["payment_intent"] == "pi_8"


async def test_payout_over_http(app, api, parties, provider):
    _, university = parties
    fund = await api.org("fund")
    route = provider.post("/v1/payouts").respond(200, json={"id": "po_1", "object": "payout", "status": "pending",
                                                           "amount": 500})
    async with db(app) as session:
        p = await service.payout(session, actor_of(fund), payee_org_id=university.org_id, amount=500,
                                 object_type=object_type(), object_id="c1", purpose="compensation")
        await session.commit()
    assert (p.status, p.provider_reference) == ("processing", "po_1")
    assert form_of(route.calls[0].request)["destination"] == university.org_id
    assert route.calls[0].request.headers["Idempotency-Key"] == p.provider_key + "_payout"


async def test_rate_limited_then_success_retries_with_the_same_key(app, parties, provider):
    buyer, seller = parties
    route = provider.post("/v1/payment_intents").mock(side_effect=[
        httpx.Response(429, json={"error": {"type": "rate_limit_error"}}),
        httpx.Response(200, json=intent("pi_9", "succeeded", 100)),
    ])
    p = await charge(app, buyer, seller, object_type(), amount=100)
    assert (p.status, route.call_count) == ("succeeded", 2)
    assert len({c.request.headers["Idempotency-Key"] for c in route.calls}) == 1


async def test_only_safe_calls_are_repeated(http_gateway, provider):
    """A GET, or a POST with an idempotency key, is retried; a POST without a key is sent once."""
    post = provider.post("/v1/anything").respond(503, json={"error": {"type": "api_error"}})
    with pytest.raises(UpstreamError, match="1 attempt"):
        await http_gateway._request("POST", "/v1/anything", data={"amount": 1})
    assert post.call_count == 1
    with pytest.raises(UpstreamError, match="3 attempts"):
        await http_gateway._request("POST", "/v1/anything", data={"amount": 1}, key="k")
    assert post.call_count == 4
    get = provider.get("/v1/payouts/po_x").mock(side_effect=[
        httpx.ReadTimeout("slow"), httpx.Response(200, json={"id": "po_x", "object": "payout", "status": "paid"})])
    assert (await http_gateway.retrieve_payout("po_x"))["status"] == "paid"
    assert get.call_count == 2


def test_every_attempt_has_a_timeout():
    from finance.payments.http import HttpGateway
    from kernel.settings import Settings

    gateway = HttpGateway.from_settings(Settings(payment_provider="http", payment_timeout_seconds=3.5))
    assert gateway.timeout == 3.5


async def test_timeout_is_applied_to_the_request(http_gateway, provider):
    seen = []

    def record(request):
        seen.append(request.extensions.get("timeout"))
        return httpx.Response(200, json={"id": "po_t", "object": "payout", "status": "paid"})

    provider.get("/v1/payouts/po_t").mock(side_effect=record)
    await http_gateway.retrieve_payout("po_t")
    assert seen and set(seen[0].values()) == {http_gateway.timeout}
