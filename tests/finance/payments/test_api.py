"""The payments HTTP API: reading payments as a party, admin payouts, replays, and a declined charge."""

from __future__ import annotations

import pytest
from sqlmodel import select

from kernel.outbox import OutboxJob
from tests.finance.payments.helpers import (
    all_payments,
    count_audit,
    db,
    mount_test_charge,
    object_type,
    watch,
)
from tests.finance.payments.test_http_provider import intent
from tests.helpers import assert_problem


@pytest.fixture
def charge_path(app):
    return mount_test_charge(app)


async def _pay(client, payer, payee, path, amount=1000, object_id="obj_1"):
    r = await client.post(path, json={"payee_org_id": payee.org_id, "amount": amount, "object_type": "deal",
                                      "object_id": object_id, "reference": f"{payer.org_id}-{amount}"},
                          headers=payer.headers)
    assert r.status_code == 201, r.text
    return r.json()


async def test_parties_read_a_payment_others_get_404(api, client, parties, charge_path):
    buyer, seller = parties
    stranger = await api.org("sme")
    p = await _pay(client, buyer, seller, charge_path)
    for party in (buyer, seller):
        r = await client.get(f"/payments/{p['id']}", headers=party.headers)
        assert r.status_code == 200
        assert r.json()["amount"] == 1000 and r.json()["status"] == "succeeded"
    assert_problem(await client.get(f"/payments/{p['id']}", headers=stranger.headers), 404, "not_found")
    assert_problem(await client.get(f"/payments/{p['id']}", headers=(await api.admin()).headers), 404, "not_found")
    assert_problem(await client.get("/payments/pay_missing", headers=buyer.headers), 404, "not_found")
    assert_problem(await client.get(f"/payments/{p['id']}"), 401, "not_authenticated")
    assert_problem(await client.post(f"/payments/{p['id']}/sync", headers=stranger.headers), 404, "not_found")
    r = await client.post(f"/payments/{p['id']}/sync", headers=seller.headers)
    assert r.status_code == 200 and r.json()["status"] == "succeeded"


async def test_list_own_payments_by_object_with_cursor(api, client, parties, charge_path):
    buyer, seller = parties
    stranger = await api.org("sme")
    first = await _pay(client, buyer, seller, charge_path, object_id="obj_a")
    second = await _pay(client, seller, buyer, charge_path, object_id="obj_a", amount=5)
    await _pay(client, buyer, seller, charge_path, object_id="obj_b")
    await _pay(client, stranger, seller, charge_path, object_id="obj_a")
    r = await client.get("/payments", params={"object_id": "obj_a", "limit": 1}, headers=buyer.headers)
    page = r.json()
    assert [p["id"] for p in page["data"]] == [second["id"]] and page["has_more"] is True
    r = await client.get("/payments", params={"object_id": "obj_a", "limit": 1, "cursor": page["next_cursor"]},
                         headers=buyer.headers)
    assert [p["id"] for p in r.json()["data"]] == [first["id"]] and r.json()["has_more"] is False
    r = await client.get("/payments", headers=stranger.headers)
    assert len(r.json()["data"]) == 1
    assert_problem(await client.get("/payments", params={"limit": 0}, headers=buyer.headers), 422,
                   "validation_error")
    assert_problem(await client.get("/payments", params={"status": "lost"}, headers=buyer.headers), 422,
                   "validation_error")


async def test_declined_charge_answers_402_and_is_on_record_as_failed(app, client, parties, provider, charge_path):
    buyer, seller = parties
    provider.post("/v1/payment_intents").respond(402, json={"error": {
        "type": "card_error", "code": "card_declined", "decline_code": "do_not_honor", "message": "Declined",
        "payment_intent": intent("pi_d", "requires_payment_method", 1000)}})
    r = await client.post(charge_path, json={"payee_org_id": seller.org_id, "amount": 1000, "object_type": "deal",
                                             "object_id": "obj_d"}, headers=buyer.headers)
    body = assert_problem(r, 402, "payment_failed")
    assert body["failure_code"] == "do_not_honor"
    # The first phase committed before the provider was asked: the attempt is on record, as failed.
    [p] = await all_payments(app)
    assert (p.status, p.failure_code, p.settled_at) == ("failed", "do_not_honor", None)
    assert await count_audit(app, "payment.created") == 1
    assert await count_audit(app, "payment.succeeded") == 0


async def test_provider_down_answers_202_processing_and_retries_later(app, client, parties, provider,
                                                                       charge_path):
    buyer, seller = parties
    route = provider.post("/v1/payment_intents").respond(503)
    r = await client.post(charge_path, json={"payee_org_id": seller.org_id, "amount": 1000, "object_type": "deal",
                                             "object_id": "obj_e"}, headers=buyer.headers)
    assert r.status_code == 202 and r.json()["status"] == "processing"
    [p] = await all_payments(app)
    assert (p.status, p.provider_reference, p.settled_at) == ("processing", None, None)
    async with db(app) as session:  # the outbox keeps the call, to be retried with backoff
        [job] = (await session.exec(select(OutboxJob))).all()
    assert (job.kind, job.status, job.attempts) == ("payments.call", "queued", 1)
    assert {c.request.headers["Idempotency-Key"] for c in route.calls} == {f"{p.provider_key}_charge"}


async def test_admin_payout_and_replay(app, api, client, parties):
    _, university = parties
    admin = await api.admin()
    body = {"payee_org_id": university.org_id, "amount": 12_345, "purpose": "subsidy",
            "object_type": object_type(), "object_id": "claim_1"}
    headers = {**admin.headers, "Idempotency-Key": "payout-claim-1"}
    first = await client.post("/payments/payouts", json=body, headers=headers)
    assert first.status_code == 201, first.text
    assert (first.json()["method"], first.json()["status"], first.json()["payer_org_id"]) == (
        "payout", "succeeded", admin.org_id)
    replay = await client.post("/payments/payouts", json=body, headers=headers)
    assert replay.status_code == 201 and replay.json() == first.json()
    assert replay.headers.get("Idempotent-Replayed") == "true"
    assert_problem(await client.post("/payments/payouts", json={**body, "amount": 1}, headers=headers), 409,
                   "idempotency_conflict")
    # Without the header the same reference still pays once (the payments table's unique key).
    again = await client.post("/payments/payouts", json=body, headers=admin.headers)
    assert again.json()["id"] == first.json()["id"]
    assert_problem(await client.post("/payments/payouts", json={**body, "amount": 999}, headers=admin.headers),
                   409, "idempotency_conflict")
    assert [(p.amount, p.status) for p in await all_payments(app)] == [(12_345, "succeeded")]
    assert await count_audit(app, "payment.succeed") == 1


@pytest.mark.parametrize("change", [{"amount": 0}, {"amount": -1}, {"amount": 10**13 + 1}, {"amount": 1.5},
                                    {"purpose": "deal"}, {"extra": 1}, {"object_id": ""},
                                    {"object_id": "x" * 41}, {"payee_org_id": None}])
async def test_payout_bad_input_writes_nothing(app, api, client, parties, change):
    _, university = parties
    body = {"payee_org_id": university.org_id, "amount": 100, "object_type": "claim", "object_id": "c", **change}
    r = await client.post("/payments/payouts", json=body, headers=(await api.admin()).headers)
    assert_problem(r, 422, "validation_error")
    assert await all_payments(app) == []


async def test_payout_refusals(app, api, client, parties):
    sme, university = parties
    body = {"payee_org_id": university.org_id, "amount": 100, "object_type": "claim", "object_id": "c"}
    assert_problem(await client.post("/payments/payouts", json=body, headers=sme.headers), 403, "forbidden")
    assert_problem(await client.post("/payments/payouts", json=body), 401, "not_authenticated")
    r = await client.post("/payments/payouts", json={**body, "payee_org_id": "org_nobody"},
                          headers=(await api.admin()).headers)
    assert_problem(r, 404, "not_found")
    assert await all_payments(app) == []


@pytest.mark.parametrize("domain_type", ["deal", "subsidy_claim", "loan", "watched"])
async def test_manual_payout_cannot_pay_a_workflow_object(app, api, client, parties, domain_type):
    """A hand-made payout for a deal, loan or subsidy claim would run that workflow's callbacks."""
    _, university = parties
    if domain_type == "watched":
        domain_type = object_type()
        watch(domain_type)
    body = {"payee_org_id": university.org_id, "amount": 100, "purpose": "subsidy", "object_type": domain_type,
            "object_id": "scl_1", "reference": "manual"}
    r = await client.post("/payments/payouts", json=body, headers=(await api.admin()).headers)
    assert_problem(r, 422, "validation_error")
    assert await all_payments(app) == []
