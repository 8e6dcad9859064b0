"""A provider that pays out later: the claim is approved, then paid on the provider's event, or its
budget is released (the pending ledger entry voided) when the payout fails."""

from finance.payments import service as payments
from finance.payments.gateway import GatewayResult, PayoutRequest
from finance.payments.local import LocalGateway
from finance.payments.models import Payment
from finance.payments.providers import use_gateway
from tests.finance.loans.loan_flow import YUAN
from tests.finance.subsidies.helpers import approve, budget_balance, filed, loan, policy, publish_lpr


class SlowPayouts(LocalGateway):
    async def create_payout(self, request: PayoutRequest) -> GatewayResult:
        result = await super().create_payout(request)
        return GatewayResult(result.object, ())  # pending; the outcome comes later as an event


async def _deliver(app, payment_id, kind, status):
    async with app.state.session_factory() as session:
        payment = await session.get(Payment, payment_id)
        obj = {"id": payment.provider_reference, "object": "payout", "amount": payment.amount, "status": status}
        event = {"id": f"evt_{kind}_{payment_id}", "object": "event", "type": kind, "data": {"object": obj}}
        assert await payments.handle_event(session, event) == "applied"
        await session.commit()


async def _approved(api, app, regulator):
    await publish_lpr(api)
    sme, bank = await api.org("sme"), await api.org("bank")
    p = await policy(api, regulator, budget=10_000 * YUAN)
    c = await filed(api, sme, p["id"], (await loan(api, sme, bank))["id"])
    with use_gateway(SlowPayouts()):
        r = await approve(api, regulator, c["id"])
    assert r.status_code == 202, r.text  # approved; the provider has not paid out yet
    assert r.json()["status"] == "approved" and r.json()["amount_paid"] == 6_000 * YUAN
    # Two-phase: the budget is reserved by a pending entry, not yet spent.
    assert await budget_balance(app, p["id"]) == 10_000 * YUAN
    return p, r.json()


async def test_payout_settles_later(api, app, client):
    regulator = await api.org("regulator")
    p, c = await _approved(api, app, regulator)
    await _deliver(app, c["payment_id"], "payout.paid", "paid")
    got = (await client.get(f"/subsidy-claims/{c['id']}", headers=regulator.headers)).json()
    assert got["status"] == "paid"
    assert await budget_balance(app, p["id"]) == 4_000 * YUAN


async def test_failed_payout_gives_the_budget_back(api, app, client):
    regulator = await api.org("regulator")
    p, c = await _approved(api, app, regulator)
    await _deliver(app, c["payment_id"], "payout.failed", "failed")
    got = (await client.get(f"/subsidy-claims/{c['id']}", headers=regulator.headers)).json()
    assert got["status"] == "payout_failed"
    assert await budget_balance(app, p["id"]) == 10_000 * YUAN
    pol = (await client.get(f"/subsidy-policies/{p['id']}", headers=regulator.headers)).json()
    assert (pol["paid_total"], pol["budget_remaining"]) == (0, 10_000 * YUAN)
    assert (await client.get("/fund/ledger/verify", headers=regulator.headers)).json()["balanced"] is True
