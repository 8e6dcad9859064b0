"""The service with the local provider: settlement, replay, escrow, refunds, payouts, callbacks."""

from __future__ import annotations

import pytest

from finance.payments import gateway as gw
from finance.payments import providers, service
from finance.payments.local import LocalGateway
from kernel.errors import IdempotencyConflict, InvalidState, NotFound, ValidationFailed
from tests.finance.payments.helpers import (
    actor_of,
    all_events,
    all_payments,
    count_audit,
    db,
    object_type,
    reload,
    watch,
)


def test_local_is_the_default_provider():
    assert isinstance(providers.get_gateway(), LocalGateway)


async def test_charge_settles_at_once_with_records_events_and_callbacks(app, parties):
    buyer, seller = parties
    kind = object_type()
    watch(kind)
    async with db(app) as session:
        p = await service.charge(session, actor_of(buyer), purpose="deal", payer_org_id=buyer.org_id,
                                 payee_org_id=seller.org_id, amount=123_456_78, object_type=kind, object_id="d1")
        await session.commit()
    assert (p.status, p.provider, p.method, p.escrow_state) == ("succeeded", "local", "charge", None)
    assert p.provider_reference and p.provider_reference.startswith("pi_local_")
    assert p.settled_at is not None
    [row] = await all_payments(app)
    assert (row.id, row.amount, row.currency, row.status) == (p.id, 123_456_78, "CNY", "succeeded")
    [ev] = await all_events(app)
    assert (ev.type, ev.source, ev.outcome, ev.payment_id) == ("payment_intent.succeeded", "local", "applied", p.id)
    assert await count_audit(app, "payment.created", p.id) == 1
    assert await count_audit(app, "payment.succeed", p.id) == 1
    assert await count_audit(app, "cb.settled", p.id) == 1
    assert await count_audit(app, "cb.failed", p.id) == 0


async def test_local_provider_is_deterministic():
    request = gw.IntentRequest(key="k1", amount=100, payer_org_id="a", payee_org_id="b", escrow=False)
    first, second = await LocalGateway().create_intent(request), await LocalGateway().create_intent(request)
    assert first == second
    assert first.events[0]["data"]["object"]["status"] == "succeeded"


async def test_same_domain_action_returns_the_same_payment(app, parties):
    buyer, seller = parties
    kind = object_type()
    watch(kind)
    args = dict(purpose="repayment", payer_org_id=buyer.org_id, payee_org_id=seller.org_id, amount=5000,
                object_type=kind, object_id="loan1", idempotency_key="inst-1")
    async with db(app) as session:
        first = await service.charge(session, actor_of(buyer), **args)
        await session.commit()
    async with db(app) as session:
        again = await service.charge(session, actor_of(buyer), **args)
        with pytest.raises(IdempotencyConflict):
            await service.charge(session, actor_of(buyer), **{**args, "amount": 5001})
        other = await service.charge(session, actor_of(buyer), **{**args, "idempotency_key": "inst-2"})
        await session.commit()
    assert again.id == first.id
    assert other.id != first.id
    assert sorted(p.amount for p in await all_payments(app)) == [5000, 5000]
    assert await count_audit(app, "cb.settled") == 2


async def test_escrow_held_then_released_once(app, parties):
    buyer, seller = parties
    kind = object_type()
    async with db(app) as session:
        p = await service.charge(session, actor_of(buyer), purpose="deal", payer_org_id=buyer.org_id,
                                 payee_org_id=seller.org_id, amount=900_00, object_type=kind, object_id="d",
                                 escrow=True)
        await session.commit()  # settles: each provider call runs after the commit that asks for it
        assert (p.status, p.escrow_state) == ("succeeded", "held")
        p = await service.release_escrow(session, p)
        with pytest.raises(InvalidState):  # the release is asked for: no refund any more
            await service.refund(session, p)
        await session.commit()
        assert p.escrow_state == "released" and p.transfer_reference.startswith("tr_local_")
        again = await service.release_escrow(session, p)
        assert again.transfer_reference == p.transfer_reference
        with pytest.raises(InvalidState):
            await service.refund(session, p)
        await session.commit()
    stored = await reload(app, p.id)
    assert (stored.status, stored.escrow_state, stored.released_at is not None) == ("succeeded", "released", True)
    assert await count_audit(app, "payment_escrow.release", p.id) == 1
    assert [e.type for e in await all_events(app)] == ["payment_intent.succeeded", "transfer.created"]


async def test_escrow_refunded_when_the_deal_is_cancelled(app, parties):
    buyer, seller = parties
    kind = object_type()
    watch(kind)
    async with db(app) as session:
        p = await service.charge(session, actor_of(buyer), purpose="deal", payer_org_id=buyer.org_id,
                                 payee_org_id=seller.org_id, amount=900_00, object_type=kind, object_id="d",
                                 escrow=True)
        await session.commit()
        p = await service.refund(session, p)
        await session.commit()
        assert (p.status, p.escrow_state) == ("refunded", "refunded")
        assert p.refund_reference.startswith("re_local_")
        assert (await service.refund(session, p)).refunded_at == p.refunded_at  # repeating changes nothing
        with pytest.raises(InvalidState):
            await service.release_escrow(session, p)
        await session.commit()
    assert await count_audit(app, "payment.refund", p.id) == 1
    assert await count_audit(app, "cb.refunded", p.id) == 1
    assert await count_audit(app, "cb.settled", p.id) == 1


async def test_release_needs_escrow(app, parties):
    buyer, seller = parties
    async with db(app) as session:
        p = await service.charge(session, actor_of(buyer), purpose="repayment", payer_org_id=buyer.org_id,
                                 payee_org_id=seller.org_id, amount=1, object_type=object_type(), object_id="x")
        await session.commit()
        with pytest.raises(InvalidState):
            await service.release_escrow(session, p)
        refunded = await service.refund(session, p)  # a plain charge may still be refunded
        await session.commit()
        assert refunded.status == "refunded" and refunded.escrow_state is None


async def test_payout_pays_and_cannot_be_refunded(app, api, parties):
    _, university = parties
    fund = await api.org("fund")
    kind = object_type()
    watch(kind)
    async with db(app) as session:
        p = await service.payout(session, actor_of(fund), payee_org_id=university.org_id, amount=77_00,
                                 purpose="subsidy", object_type=kind, object_id="claim-1")
        assert p.status == "processing"  # recorded; the provider is asked after commit
        await session.commit()
        assert (p.method, p.status, p.payer_org_id) == ("payout", "succeeded", fund.org_id)
        assert p.provider_reference.startswith("po_local_")
        with pytest.raises(InvalidState):
            await service.refund(session, p)
        await session.commit()
    assert await count_audit(app, "cb.settled", p.id) == 1
    assert [e.type for e in await all_events(app)] == ["payout.paid"]


@pytest.mark.parametrize(("change", "error"), [
    ({"amount": 0}, ValidationFailed), ({"amount": -5}, ValidationFailed), ({"amount": 10**13 + 1}, ValidationFailed),
    ({"purpose": "gift"}, ValidationFailed), ({"object_id": ""}, ValidationFailed),
    ({"payee_org_id": "SAME"}, ValidationFailed), ({"payee_org_id": "org_missing"}, NotFound),
])
async def test_bad_requests_write_nothing(app, parties, change, error):
    buyer, seller = parties
    args = dict(purpose="deal", payer_org_id=buyer.org_id, payee_org_id=seller.org_id, amount=100,
                object_type="deal", object_id="d")
    args.update(change)
    if args["payee_org_id"] == "SAME":
        args["payee_org_id"] = buyer.org_id
    async with db(app) as session:
        with pytest.raises(error):
            await service.charge(session, actor_of(buyer), **args)
        await session.commit()
    assert await all_payments(app) == []
    assert await count_audit(app, "payment.created") == 0


async def test_require_success(app, parties):
    buyer, seller = parties
    async with db(app) as session:
        p = await service.charge(session, actor_of(buyer), purpose="fee", payer_org_id=buyer.org_id,
                                 payee_org_id=seller.org_id, amount=10, object_type=object_type(), object_id="f")
    assert service.require_success(p) is p
    p.status, p.failure_code = "failed", "card_declined"
    with pytest.raises(service.PaymentFailed) as info:
        service.require_success(p)
    assert (info.value.status, info.value.code, info.value.extra["failure_code"]) == (402, "payment_failed",
                                                                                    "card_declined")


def test_http_provider_is_chosen_by_settings():
    from finance.payments.http import HttpGateway
    from kernel.settings import Settings

    settings = Settings(payment_provider="http", payment_api_base="https://p.example/", payment_api_key="sk_x",
                        payment_timeout_seconds=3.5, payment_max_retries=1)
    gateway = providers.get_gateway(settings)
    assert isinstance(gateway, HttpGateway)
    assert (gateway.base_url, gateway.api_key, gateway.timeout, gateway.max_retries) == (
        "https://p.example", "sk_x", 3.5, 1)
    assert providers.get_gateway(settings) is gateway
    assert isinstance(providers.get_gateway(Settings(payment_provider="local")), LocalGateway)
