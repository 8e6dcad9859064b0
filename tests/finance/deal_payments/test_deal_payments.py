"""POST /deals/{id}/pay and /cancel through HTTP: escrow, recording, blocked recording, refunds, declines,
and the http provider whose webhook settles the payment later."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from sqlmodel import select

from finance.payments.models import Payment
from tests.finance.payments.helpers import all_payments, db, deliver, event
from tests.helpers import assert_problem
from tests.market.helpers import listing, offer, pledge

PRICE = 45_000_000


async def _deal(api, client):
    seller = await api.org("university")
    buyer = await api.org("sme")
    asset = await api.asset(seller)
    lst = await listing(api, seller, [asset["id"]])
    o = await offer(api, buyer, lst["id"], amount=PRICE)
    r = await client.post(f"/offers/{o['id']}/accept", headers=seller.headers)
    assert r.status_code == 200, r.text
    return seller, buyer, asset, lst, r.json()["deal"]


async def _deal_payments(app, deal_id):
    async with db(app) as session:
        stmt = select(Payment).where(Payment.object_type == "deal", Payment.object_id == deal_id)
        return list((await session.exec(stmt.order_by(Payment.id))).all())


async def test_buyer_pays_deal_recorded_and_escrow_released_to_the_seller(api, app, client):
    seller, buyer, asset, _lst, deal = await _deal(api, client)
    r = await client.post(f"/deals/{deal['id']}/pay", headers=buyer.headers)
    assert r.status_code == 201, r.text
    out = r.json()
    assert out["deal"]["status"] == "recorded" and out["deal"]["payment_id"] == out["payment"]["id"]
    p = out["payment"]
    assert (p["purpose"], p["payer_org_id"], p["payee_org_id"], p["amount"]) == ("deal", buyer.org_id,
                                                                                  seller.org_id, PRICE)
    assert p["escrow"] is True and p["escrow_state"] == "released" and p["status"] == "succeeded"
    got = (await client.get(f"/assets/{asset['id']}", headers=buyer.headers)).json()
    assert got["owner_org_id"] == buyer.org_id
    # Paying a recorded deal again is refused and charges nothing.
    assert_problem(await client.post(f"/deals/{deal['id']}/pay", headers=buyer.headers), 409, "invalid_state")
    assert len(await _deal_payments(app, deal["id"])) == 1


async def test_only_the_buyer_pays(api, app, client):
    seller, buyer, _, _, deal = await _deal(api, client)
    stranger = await api.org("sme")
    assert_problem(await client.post(f"/deals/{deal['id']}/pay", headers=stranger.headers), 404, "not_found")
    assert_problem(await client.post(f"/deals/{deal['id']}/pay", headers=seller.headers), 403, "forbidden")
    assert_problem(await client.post("/deals/dl_missing/pay", headers=buyer.headers), 404, "not_found")
    assert (await client.post(f"/deals/{deal['id']}/pay")).status_code == 401
    assert await _deal_payments(app, deal["id"]) == []
    got = (await client.get(f"/deals/{deal['id']}", headers=buyer.headers)).json()
    assert got["status"] == "awaiting_payment" and got["payment_id"] is None


async def test_blocked_recording_keeps_the_money_held_then_cancel_refunds(api, app, client):
    seller, buyer, asset, lst, deal = await _deal(api, client)
    bank = await api.org("bank")
    # A pledge registered after the offer was accepted: the assignment cannot be recorded.
    await pledge(app, [asset["id"]], "loan_x", bank.org_id)
    r = await client.post(f"/deals/{deal['id']}/pay", headers=buyer.headers)
    assert r.status_code == 201, r.text
    first = r.json()
    assert first["deal"]["status"] == "paid" and first["deal"]["blocked_reason"]
    assert first["payment"]["escrow_state"] == "held"
    # Paying again returns the same payment (nothing charged twice).
    r = await client.post(f"/deals/{deal['id']}/pay", headers=buyer.headers)
    assert r.status_code == 200 and r.json()["payment"]["id"] == first["payment"]["id"]
    assert len(await _deal_payments(app, deal["id"])) == 1
    # Only the buyer (or the platform admin) cancels; the seller may not.
    body = {"reason": "the patent was pledged"}
    assert_problem(await client.post(f"/deals/{deal['id']}/cancel", json=body, headers=seller.headers),
                   403, "forbidden")
    assert_problem(await client.post(f"/deals/{deal['id']}/cancel", json={"reason": ""}, headers=buyer.headers),
                   422, "validation_error")
    r = await client.post(f"/deals/{deal['id']}/cancel", json=body, headers=buyer.headers)
    assert r.status_code == 200, r.text
    assert r.json()["deal"]["status"] == "cancelled" and r.json()["payment"]["status"] == "refunded"
    assert r.json()["payment"]["escrow_state"] == "refunded"
    assert (await client.get(f"/listings/{lst['id']}", headers=buyer.headers)).json()["status"] == "open"
    assert (await client.get(f"/assets/{asset['id']}", headers=buyer.headers)).json()["owner_org_id"] == seller.org_id
    assert_problem(await client.post(f"/deals/{deal['id']}/pay", headers=buyer.headers), 409, "invalid_state")


async def test_unpaid_deal_cancelled_by_the_buyer_reopens_the_listing(api, app, client):
    _seller, buyer, _, lst, deal = await _deal(api, client)
    r = await client.post(f"/deals/{deal['id']}/cancel", json={"reason": "changed our mind"}, headers=buyer.headers)
    assert r.status_code == 200 and r.json()["payment"] is None and r.json()["deal"]["status"] == "cancelled"
    assert (await client.get(f"/listings/{lst['id']}", headers=buyer.headers)).json()["status"] == "open"


# --- the http provider ------------------------------------------------------------------------------------


def _intent(pid, status, amount, **extra):
    return {"id": pid, "object": "payment_intent", "amount": amount, "currency": "cny", "status": status,
            "last_payment_error": None, **extra}


async def test_declined_payment_is_402_and_leaves_the_deal_as_it_was(api, app, client, provider):
    seller, buyer, asset, _, deal = await _deal(api, client)
    declined = _intent("pi_dec", "requires_payment_method", PRICE,
                       last_payment_error={"type": "card_error", "code": "card_declined",
                                           "decline_code": "insufficient_funds", "message": "Insufficient funds."})
    provider.post("/v1/payment_intents").respond(402, json={"error": {
        "type": "card_error", "code": "card_declined", "decline_code": "insufficient_funds",
        "message": "Insufficient funds.", "payment_intent": declined}})
    body = assert_problem(await client.post(f"/deals/{deal['id']}/pay", headers=buyer.headers), 402, "payment_failed")
    assert body["failure_code"] == "insufficient_funds"
    [attempt] = await all_payments(app)  # the attempt is on record, as failed (its first phase committed)
    assert (attempt.status, attempt.failure_code, attempt.escrow_state) == ("failed", "insufficient_funds", None)
    got = (await client.get(f"/deals/{deal['id']}", headers=buyer.headers)).json()
    assert got["status"] == "awaiting_payment" and got["payment_id"] is None
    assert (await client.get(f"/assets/{asset['id']}", headers=buyer.headers)).json()["owner_org_id"] == seller.org_id


async def test_http_provider_settles_by_webhook_later(api, app, client, provider):
    seller, buyer, asset, _, deal = await _deal(api, client)
    secrets = [app.state.settings.payment_webhook_secret]
    intents = provider.post("/v1/payment_intents").respond(200, json=_intent("pi_late", "processing", PRICE))
    transfers = provider.post("/v1/transfers").respond(200, json={"id": "tr_late", "object": "transfer",
                                                                  "amount": PRICE, "destination": seller.org_id})
    r = await client.post(f"/deals/{deal['id']}/pay", headers=buyer.headers)
    assert r.status_code == 202, r.text
    assert r.json()["payment"]["status"] == "processing" and r.json()["deal"]["status"] == "awaiting_payment"
    payment_id = r.json()["payment"]["id"]
    # Escrow: the intent names no destination; the money stays on the platform until recorded.
    assert "transfer_data" not in intents.calls[0].request.content.decode()
    # Paying again while it is processing returns the same payment and calls the provider no more.
    r = await client.post(f"/deals/{deal['id']}/pay", headers=buyer.headers)
    assert r.status_code == 200 and r.json()["payment"]["id"] == payment_id
    assert intents.call_count == 1
    # Cancelling while the money is in flight is refused.
    assert_problem(await client.post(f"/deals/{deal['id']}/cancel", json={"reason": "x"}, headers=buyer.headers),
                   409, "invalid_state")
    # The provider's webhook settles it: recorded, and the escrow transferred to the seller.
    r = await deliver(client, event("payment_intent.succeeded", _intent("pi_late", "succeeded", PRICE)), secrets)
    assert r.status_code == 200 and r.json()["outcome"] == "applied", r.text
    got = (await client.get(f"/deals/{deal['id']}", headers=buyer.headers)).json()
    assert got["status"] == "recorded" and got["payment_id"] == payment_id
    assert (await client.get(f"/assets/{asset['id']}", headers=buyer.headers)).json()["owner_org_id"] == buyer.org_id
    assert transfers.call_count == 1
    sent = transfers.calls[0].request.content.decode()
    assert f"destination={seller.org_id}" in sent and f"amount={PRICE}" in sent
    [p] = await all_payments(app)
    assert (p.status, p.escrow_state, p.transfer_reference) == ("succeeded", "released", "tr_late")
    # The same event again changes nothing.
    r = await deliver(client, event("payment_intent.succeeded", _intent("pi_late", "succeeded", PRICE)), secrets)
    assert r.json()["outcome"] in ("stale", "duplicate")
    assert transfers.call_count == 1


async def test_http_payment_failing_later_leaves_the_deal_payable(api, app, client, provider):
    _seller, buyer, _, _, deal = await _deal(api, client)
    secrets = [app.state.settings.payment_webhook_secret]
    provider.post("/v1/payment_intents").mock(side_effect=[
        httpx.Response(200, json=_intent("pi_f1", "processing", PRICE)),
        httpx.Response(200, json=_intent("pi_f2", "succeeded", PRICE)),
    ])
    provider.post("/v1/transfers").respond(200, json={"id": "tr_f2", "object": "transfer"})
    r = await client.post(f"/deals/{deal['id']}/pay", headers=buyer.headers)
    assert r.status_code == 202 and r.json()["payment"]["status"] == "processing"
    failed = _intent("pi_f1", "requires_payment_method", PRICE,
                     last_payment_error={"code": "card_declined", "message": "Declined."})
    r = await deliver(client, event("payment_intent.payment_failed", failed), secrets)
    assert r.json()["outcome"] == "applied", r.text
    got = (await client.get(f"/deals/{deal['id']}", headers=buyer.headers)).json()
    assert got["status"] == "awaiting_payment"
    # A new attempt is a new payment, and it settles.
    r = await client.post(f"/deals/{deal['id']}/pay", headers=buyer.headers)
    assert r.status_code == 201, r.text
    assert r.json()["deal"]["status"] == "recorded" and r.json()["payment"]["provider_reference"] == "pi_f2"
    assert [p.status for p in await _deal_payments(app, deal["id"])] == ["failed", "succeeded"]


@pytest.mark.postgres
async def test_concurrent_pays_charge_once(api, app, client):
    seller, buyer, _, _, deal = await _deal(api, client)
    transport = httpx.ASGITransport(app=app)
    clients = [httpx.AsyncClient(transport=transport, base_url="http://test/api/v1") for _ in range(6)]
    try:
        responses = await asyncio.gather(*(c.post(f"/deals/{deal['id']}/pay", headers=buyer.headers)
                                           for c in clients))
    finally:
        await asyncio.gather(*(c.aclose() for c in clients))
    # One pays (201); the others, serialised behind the deal's lock, get that payment back: 200 while it is
    # still settling, as a second pay does (see test above), or, once its settlement recorded the deal
    # first, 409 invalid_state naming it, as paying a recorded deal does. Which of the two a duplicate
    # meets is the scheduler's choice; that none of them charges again is not.
    codes = sorted(r.status_code for r in responses)
    assert codes[-1] == 201 and set(codes[:-1]) <= {200, 409}, [r.text for r in responses]
    named = {r.json()["payment"]["id"] if r.status_code != 409 else r.json()["payment_id"] for r in responses}
    for late in (r for r in responses if r.status_code == 409):
        assert late.json()["code"] == "invalid_state", late.text
    assert len(named) == 1
    [p] = await _deal_payments(app, deal["id"])
    assert (p.status, p.escrow_state, p.payee_org_id) == ("succeeded", "released", seller.org_id)
