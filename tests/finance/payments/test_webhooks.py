"""POST /payments/webhook: signatures, exactly-once events, order, and the effect each event has."""

from __future__ import annotations

import json
import time

import pytest

from finance.payments import service
from finance.payments.webhooks import signature_header
from tests.finance.payments.helpers import (
    actor_of,
    all_events,
    count_audit,
    db,
    deliver,
    event,
    object_type,
    reload,
    watch,
)
from tests.finance.payments.test_http_provider import intent
from tests.helpers import assert_problem


@pytest.fixture
def secrets(app):
    return [app.state.settings.payment_webhook_secret]


@pytest.fixture
async def pending(app, parties, provider):
    """A processing http payment for a watched object type: (payment, object type)."""
    buyer, seller = parties
    kind = object_type()
    watch(kind)
    provider.post("/v1/payment_intents").respond(200, json=intent("pi_w", "processing", 4200))
    async with db(app) as session:
        p = await service.charge(session, actor_of(buyer), purpose="deal", payer_org_id=buyer.org_id,
                                 payee_org_id=seller.org_id, amount=4200, object_type=kind, object_id="deal_w",
                                 escrow=True)
        await session.commit()
    assert p.status == "processing"
    return p


def succeeded(event_id: str | None = None) -> dict:
    return event("payment_intent.succeeded", intent("pi_w", "succeeded", 4200), event_id)


def refunded(event_id: str | None = None) -> dict:
    return event("charge.refunded", {"id": "ch_w", "object": "charge", "payment_intent": "pi_w",
                                     "refunded": True, "amount_refunded": 4200}, event_id)


async def test_valid_event_settles_the_payment(app, client, pending, secrets):
    r = await deliver(client, succeeded("evt_ok"), secrets)  # no bearer token
    assert r.status_code == 200, r.text
    assert r.json() == {"received": True, "event_id": "evt_ok", "outcome": "applied"}
    p = await reload(app, pending.id)
    assert (p.status, p.escrow_state) == ("succeeded", "held")
    assert await count_audit(app, "cb.settled", p.id) == 1
    [ev] = await all_events(app)
    assert (ev.event_id, ev.source, ev.payment_id, ev.outcome) == ("evt_ok", "webhook", p.id, "applied")


@pytest.mark.parametrize("header", ["", "t=abc,v1=00", "v1=deadbeef", "t=1700000000"])
async def test_malformed_or_missing_signature(app, client, pending, secrets, header):
    r = await deliver(client, succeeded(), secrets, header=header)
    assert_problem(r, 400, "invalid_signature")
    assert (await reload(app, pending.id)).status == "processing"
    assert await all_events(app) == []


async def test_bad_signature_has_no_effect(app, client, pending):
    r = await deliver(client, succeeded(), ["whsec_not_ours"])
    assert_problem(r, 400, "invalid_signature")
    assert (await reload(app, pending.id)).status == "processing"
    assert await all_events(app) == []
    assert await count_audit(app, "cb.settled") == 0


async def test_tampered_body_is_refused(app, client, pending, secrets):
    header = signature_header(b'{"id":"evt_x"}', secrets, int(time.time()))
    r = await deliver(client, json.dumps(succeeded()).encode(), secrets, header=header)
    assert_problem(r, 400, "invalid_signature")
    assert (await reload(app, pending.id)).status == "processing"


@pytest.mark.parametrize("offset", [-302, -3600, 302])
async def test_stale_or_future_timestamp(app, client, pending, secrets, offset):
    r = await deliver(client, succeeded(), secrets, timestamp=int(time.time()) + offset)
    body = assert_problem(r, 400, "invalid_signature")
    assert "300 s" in body["detail"]
    assert (await reload(app, pending.id)).status == "processing"
    assert await all_events(app) == []


async def test_rotated_secret(app, client, pending, monkeypatch):
    monkeypatch.setattr(app.state.settings, "payment_webhook_secret", "whsec_new, whsec_old")
    # The provider still signs with the old secret only: accepted while we list it.
    r = await deliver(client, succeeded("evt_old"), ["whsec_old"])
    assert r.status_code == 200 and r.json()["outcome"] == "applied"
    # During rotation the provider sends one v1 per secret; one unknown value among them is fine.
    r = await deliver(client, refunded("evt_both"), ["whsec_retired", "whsec_new"])
    assert r.status_code == 200 and r.json()["outcome"] == "applied"
    # Once the old secret is dropped, its signatures are refused.
    monkeypatch.setattr(app.state.settings, "payment_webhook_secret", "whsec_new")
    assert_problem(await deliver(client, succeeded("evt_late"), ["whsec_old"]), 400, "invalid_signature")
    assert [e.event_id for e in await all_events(app)] == ["evt_old", "evt_both"]
    assert (await reload(app, pending.id)).status == "refunded"


async def test_duplicate_event_is_handled_once(app, client, pending, secrets):
    first = await deliver(client, succeeded("evt_dup"), secrets)
    second = await deliver(client, succeeded("evt_dup"), secrets)
    assert first.json()["outcome"] == "applied"
    assert second.status_code == 200 and second.json()["outcome"] == "duplicate"
    assert len(await all_events(app)) == 1
    assert await count_audit(app, "payment.succeed", pending.id) == 1
    assert await count_audit(app, "cb.settled", pending.id) == 1


async def test_refund_before_success_never_moves_back(app, client, pending, secrets):
    r = await deliver(client, refunded("evt_refund"), secrets)
    assert r.json()["outcome"] == "applied"
    p = await reload(app, pending.id)
    assert (p.status, p.escrow_state) == ("refunded", "refunded")
    # The success the refund implied was applied on the way, with its callback, once.
    assert await count_audit(app, "cb.settled", p.id) == 1
    assert await count_audit(app, "cb.refunded", p.id) == 1

    late = await deliver(client, succeeded("evt_late_success"), secrets)
    assert late.status_code == 200 and late.json()["outcome"] == "stale"
    p = await reload(app, pending.id)
    assert (p.status, p.escrow_state) == ("refunded", "refunded")
    assert await count_audit(app, "cb.settled", p.id) == 1
    assert await count_audit(app, "payment.succeed", p.id) == 1
    assert [e.outcome for e in await all_events(app)] == ["applied", "stale"]


async def test_failure_then_late_success_is_flagged_not_applied(app, client, pending, secrets):
    failed = event("payment_intent.payment_failed", intent(
        "pi_w", "requires_payment_method", 4200,
        last_payment_error={"code": "card_declined", "decline_code": "stolen_card", "message": "Declined"}))
    assert (await deliver(client, failed, secrets)).json()["outcome"] == "applied"
    p = await reload(app, pending.id)
    assert (p.status, p.failure_code, p.escrow_state) == ("failed", "stolen_card", None)
    assert await count_audit(app, "cb.failed", p.id) == 1
    assert (await deliver(client, succeeded(), secrets)).json()["outcome"] == "conflict"
    assert (await reload(app, pending.id)).status == "failed"
    assert await count_audit(app, "payment.conflicting_event", p.id) == 1
    assert await count_audit(app, "cb.settled", p.id) == 0


async def test_unknown_object_is_acknowledged_and_recorded(app, client, pending, secrets):
    r = await deliver(client, event("payment_intent.succeeded", intent("pi_nobody", "succeeded", 1), "evt_unk"),
                      secrets)
    assert r.status_code == 200 and r.json()["outcome"] == "unknown_object"
    [ev] = await all_events(app)
    assert (ev.payment_id, ev.provider_object_id) == (None, "pi_nobody")
    assert (await reload(app, pending.id)).status == "processing"


async def test_unhandled_type_is_ignored(app, client, pending, secrets):
    r = await deliver(client, event("customer.created", {"id": "cus_1", "object": "customer"}), secrets)
    assert r.json()["outcome"] == "ignored"
    assert (await reload(app, pending.id)).status == "processing"


async def test_failed_pending_refund_allows_a_new_one(app, client, pending, secrets, provider):
    await deliver(client, succeeded(), secrets)
    provider.post("/v1/refunds").respond(200, json={"id": "re_w", "object": "refund", "status": "pending",
                                                    "payment_intent": "pi_w"})
    async with db(app) as session:
        p = await service.refund(session, pending)
        await session.commit()
    assert (p.status, p.refund_reference) == ("succeeded", "re_w")
    r = await deliver(client, event("refund.updated", {"id": "re_w", "object": "refund", "status": "failed",
                                                       "payment_intent": "pi_w"}), secrets)
    assert r.json()["outcome"] == "applied"
    p = await reload(app, pending.id)
    assert (p.status, p.refund_reference, p.escrow_state) == ("succeeded", None, "held")
    assert await count_audit(app, "payment.refund_failed", p.id) == 1


@pytest.mark.parametrize("body", [b"not json", b"[]", b'{"id":"evt_1","type":"x"}', b'{"type":"x","data":{"object":{}}}'])
async def test_signed_but_invalid_payload(app, client, secrets, body):
    assert_problem(await deliver(client, body, secrets), 400, "invalid_payload")
    assert await all_events(app) == []


async def test_payout_failure_event(app, api, client, parties, provider, secrets):
    _, university = parties
    fund = await api.org("fund")
    kind = object_type()
    watch(kind)
    provider.post("/v1/payouts").respond(200, json={"id": "po_w", "object": "payout", "status": "in_transit"})
    async with db(app) as session:
        p = await service.payout(session, actor_of(fund), payee_org_id=university.org_id, amount=900,
                                 object_type=kind, object_id="c")
        await session.commit()
    r = await deliver(client, event("payout.failed", {"id": "po_w", "object": "payout", "status": "failed",
                                                      "failure_code": "account_closed",
                                                      "failure_message": "The account is closed"}), secrets)
    assert r.json()["outcome"] == "applied"
    p = await reload(app, p.id)
    assert (p.status, p.failure_code) == ("failed", "account_closed")
    assert await count_audit(app, "cb.failed", p.id) == 1


async def test_oversized_body_is_refused(app, client, secrets):
    body = b'{"pad":"' + b"x" * (256 * 1024) + b'"}'
    assert_problem(await deliver(client, body, secrets), 400, "invalid_payload")
