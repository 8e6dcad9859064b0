"""Every money path over the http provider (respx), each through success, decline, timeout then success,
timeout forever and 5xx: a deal's payment into escrow, the escrow's release to the seller, a cancelled
deal's refund, a loan's disbursement, a repayment and a subsidy payout (the fund's payouts are in
test_fund_payouts_http.py). For each: the domain object and the payment read paid only when the provider
said so, the ledger balances (posted and pending apart, where the path posts), and a replay with the same
Idempotency-Key plus the reconciler's re-drive move the money once (one provider key per payment)."""

from __future__ import annotations

from typing import Any

import pytest
from sqlmodel import select

from finance.loans.models import LoanRepayment
from tests.finance.fund.helpers import verify_ledger
from tests.finance.loans.loan_flow import YUAN, accepted_loan, active_loan, cast, register
from tests.finance.payments.scenarios import (
    ANSWERED,
    SCENARIOS,
    keys,
    mock,
    payments_of,
    reconcile,
    recover,
)
from tests.finance.subsidies.helpers import approve, budget_balance, filed, loan, policy, publish_lpr
from tests.helpers import assert_problem
from tests.market.helpers import listing, offer, pledge

PRICE = 45_000_000
KEY = {"Idempotency-Key": "client-retry-1"}


def _succeeded(pays: list[Any]) -> int:
    """The money the provider confirmed moved, over every payment of the object."""
    return sum(p.amount for p in pays if p.status == "succeeded")


async def _get(api: Any, path: str, party: Any) -> dict[str, Any]:
    r = await api.client.get(path, headers=party.headers)
    assert r.status_code == 200, r.text
    return r.json()


# --- a deal: the buyer's payment into escrow, its release, a refund ---------------------------------------


async def _deal(api: Any) -> tuple[Any, Any, dict[str, Any], dict[str, Any]]:
    seller, buyer = await api.org("university"), await api.org("sme")
    asset = await api.asset(seller)
    lst = await listing(api, seller, [asset["id"]])
    o = await offer(api, buyer, lst["id"], amount=PRICE)
    r = await api.client.post(f"/offers/{o['id']}/accept", headers=seller.headers)
    assert r.status_code == 200, r.text
    return seller, buyer, asset, r.json()["deal"]


@pytest.mark.parametrize("scenario", SCENARIOS)
async def test_deal_payment(api, app, provider, scenario):
    seller, buyer, asset, deal = await _deal(api)
    intents, transfers = mock(provider, "charge", scenario), mock(provider, "release")
    pay = f"/deals/{deal['id']}/pay"
    r = await api.client.post(pay, headers={**buyer.headers, **KEY})
    got = await _get(api, f"/deals/{deal['id']}", buyer)
    owner = (await _get(api, f"/assets/{asset['id']}", buyer))["owner_org_id"]
    if scenario in ANSWERED:
        assert r.status_code == 201, r.text
        assert (r.json()["payment"]["status"], r.json()["payment"]["escrow_state"]) == ("succeeded", "released")
        assert (got["status"], owner) == ("recorded", buyer.org_id)
    elif scenario == "decline":
        assert assert_problem(r, 402, "payment_failed")["failure_code"] == "insufficient_funds"
        assert (got["status"], got["payment_id"], owner) == ("awaiting_payment", None, seller.org_id)
        assert transfers.call_count == 0  # nothing held, nothing released
        # The buyer tries again with another card (a new request): a new payment, which lands.
        mock(provider, "charge")
        r = await api.client.post(pay, headers={**buyer.headers, "Idempotency-Key": "client-retry-2"})
        assert r.status_code == 201 and r.json()["deal"]["status"] == "recorded", r.text
    else:  # nothing reads paid: the deal awaits its money, the asset is the seller's, nothing was released
        assert r.status_code == 202, r.text
        assert r.json()["payment"]["status"] == "processing"
        assert (got["status"], owner, transfers.call_count) == ("awaiting_payment", seller.org_id, 0)
        # The client's retry with the same key answers what it answered, and asks the provider nothing.
        calls = intents.call_count
        again = await api.client.post(pay, headers={**buyer.headers, **KEY})
        assert (again.status_code, again.json()) == (r.status_code, r.json())
        assert intents.call_count == calls
        await recover(app, provider, "charge", scenario)
        got = await _get(api, f"/deals/{deal['id']}", buyer)
        assert got["status"] == "recorded"
        assert (await _get(api, f"/assets/{asset['id']}", buyer))["owner_org_id"] == buyer.org_id
    pays = await payments_of(app, "deal", deal["id"])
    assert _succeeded(pays) == PRICE  # charged once
    assert [p.escrow_state for p in pays if p.status == "succeeded"] == ["released"]
    assert len(keys(intents)) == len(pays) == (2 if scenario == "decline" else 1)
    assert len(keys(transfers)) == 1 and transfers.call_count == 1  # released once, to the seller
    assert await reconcile(app) == 0
    await verify_ledger(app)


@pytest.mark.parametrize("scenario", SCENARIOS)
async def test_escrow_release_to_the_seller(api, app, provider, scenario):
    _seller, buyer, _asset, deal = await _deal(api)
    mock(provider, "charge")
    transfers = mock(provider, "release", scenario)
    r = await api.client.post(f"/deals/{deal['id']}/pay", headers={**buyer.headers, **KEY})
    assert r.status_code == 201, r.text
    assert r.json()["deal"]["status"] == "recorded"  # the assignment is recorded once the buyer's money is held
    [payment] = await payments_of(app, "deal", deal["id"])
    assert payment.status == "succeeded"
    if scenario in ANSWERED:
        assert payment.escrow_state == "released" and (payment.transfer_reference or "").startswith("tr_")
    else:  # declined (the provider refused the transfer) or unanswered: the money is still held
        assert (payment.escrow_state, payment.transfer_reference) == ("held", None)
        assert payment.release_requested_at is not None
        await recover(app, provider, "release", "5xx" if scenario == "decline" else scenario)
        [payment] = await payments_of(app, "deal", deal["id"])
        assert payment.escrow_state == "released" and payment.transfer_reference
    assert keys(transfers) == {payment.provider_key + "_release"}
    assert len([c for c in transfers.calls if c.optional_response and c.optional_response.status_code == 200]) == 1
    assert await reconcile(app) == 0
    await verify_ledger(app)


@pytest.mark.parametrize("scenario", SCENARIOS)
async def test_cancelled_deal_refund(api, app, provider, scenario):
    _seller, buyer, asset, deal = await _deal(api)
    await pledge(app, [asset["id"]], "loan_x", (await api.org("bank")).org_id)  # recording is now blocked
    mock(provider, "charge")
    refunds = mock(provider, "refund", scenario)
    r = await api.client.post(f"/deals/{deal['id']}/pay", headers=buyer.headers)
    assert r.status_code == 201 and r.json()["deal"]["status"] == "paid", r.text
    cancel = f"/deals/{deal['id']}/cancel"
    r = await api.client.post(cancel, json={"reason": "the pledge blocks it"}, headers={**buyer.headers, **KEY})
    assert r.status_code == 200, r.text
    [payment] = await payments_of(app, "deal", deal["id"])
    got = await _get(api, f"/deals/{deal['id']}", buyer)
    if scenario in ANSWERED:
        assert (payment.status, payment.escrow_state, got["status"]) == ("refunded", "refunded", "cancelled")
    elif scenario == "decline":
        # The refund was refused: the money is still the buyer's payment, held; the deal is not cancelled.
        assert (payment.status, payment.escrow_state, payment.refund_reference) == ("succeeded", "held", None)
        assert got["status"] == "paid"
        mock(provider, "refund")
        r = await api.client.post(cancel, json={"reason": "again"}, headers=buyer.headers)
        assert r.status_code == 200, r.text
        [payment] = await payments_of(app, "deal", deal["id"])
        assert (payment.status, (await _get(api, f"/deals/{deal['id']}", buyer))["status"]) == ("refunded",
                                                                                               "cancelled")
    else:
        assert (payment.status, payment.escrow_state, got["status"]) == ("succeeded", "held", "paid")
        assert payment.refund_requested_at is not None and payment.refunded_at is None
        await recover(app, provider, "refund", scenario)
        [payment] = await payments_of(app, "deal", deal["id"])
        assert (payment.status, (await _get(api, f"/deals/{deal['id']}", buyer))["status"]) == ("refunded",
                                                                                               "cancelled")
    succeeded = [c for c in refunds.calls
                 if c.optional_response and c.optional_response.json().get("status") == "succeeded"]
    assert len(succeeded) == 1  # refunded once
    assert len(keys(refunds)) == (2 if scenario == "decline" else 1)
    assert await reconcile(app) == 0
    await verify_ledger(app)


# --- a loan: the disbursement and a repayment --------------------------------------------------------------


@pytest.mark.parametrize("scenario", SCENARIOS)
async def test_disbursement(api, app, provider, scenario):
    c = await cast(api)
    lo = await accepted_loan(api, c)
    await register(api, c, lo["id"])
    intents = mock(provider, "charge", scenario)
    disburse = f"/loans/{lo['id']}/disburse"
    r = await api.client.post(disburse, headers={**c.bank.headers, **KEY})
    got = await _get(api, f"/loans/{lo['id']}", c.bank)
    if scenario in ANSWERED:
        assert r.status_code == 200 and r.json()["status"] == "active", r.text
    elif scenario == "decline":
        assert_problem(r, 402, "payment_failed")
        assert got["status"] == "secured" and got["disbursed_on"] is None  # not paid out, not started
        mock(provider, "charge")  # the bank tries again (a new request): a new payment, which lands
        r = await api.client.post(disburse, headers=c.bank.headers)
        assert r.status_code == 200 and r.json()["status"] == "active", r.text
    else:
        assert r.status_code == 202 and r.json()["status"] == "secured", r.text
        assert got["disbursed_on"] is None
        calls = intents.call_count
        again = await api.client.post(disburse, headers={**c.bank.headers, **KEY})
        assert (again.status_code, again.json()["status"], intents.call_count) == (202, "secured", calls)
        await recover(app, provider, "charge", scenario)
        assert (await _get(api, f"/loans/{lo['id']}", c.bank))["status"] == "active"
    pays = await payments_of(app, "loan", lo["id"])
    assert _succeeded(pays) == lo["principal"]  # paid out once
    assert len(keys(intents)) == len(pays) == (2 if scenario == "decline" else 1)
    assert await reconcile(app) == 0
    await verify_ledger(app)


@pytest.mark.parametrize("scenario", SCENARIOS)
async def test_repayment(api, app, provider, scenario):
    c = await cast(api)
    mock(provider, "charge")
    lo = await active_loan(api, c)
    amount = 10_000 * YUAN
    intents = mock(provider, "charge", scenario)
    first = intents.call_count  # the disbursement went through the same route
    repay = f"/loans/{lo['id']}/repayments"
    r = await api.client.post(repay, json={"amount": amount}, headers={**c.sme.headers, **KEY})
    outstanding = (await _get(api, f"/loans/{lo['id']}", c.sme))["outstanding_principal"]
    if scenario in ANSWERED:
        assert r.status_code == 201 and r.json()["status"] == "succeeded", r.text
        assert outstanding < lo["outstanding_principal"]
    elif scenario == "decline":
        assert_problem(r, 402, "payment_failed")
        assert outstanding == lo["outstanding_principal"]  # nothing applied
        mock(provider, "charge")
        r = await api.client.post(repay, json={"amount": amount}, headers=c.sme.headers)
        assert r.status_code == 201 and r.json()["status"] == "succeeded", r.text
    else:
        assert r.status_code == 202 and r.json()["status"] == "processing", r.text
        assert outstanding == lo["outstanding_principal"]  # not applied before the money lands
        calls = intents.call_count
        again = await api.client.post(repay, json={"amount": amount}, headers={**c.sme.headers, **KEY})
        assert (again.status_code, again.json()["id"], intents.call_count) == (202, r.json()["id"], calls)
        await recover(app, provider, "charge", scenario)
    after = await _get(api, f"/loans/{lo['id']}", c.sme)
    assert after["outstanding_principal"] < lo["outstanding_principal"]
    pays = [p for p in await payments_of(app, "loan", lo["id"]) if p.purpose == "repayment"]
    assert _succeeded(pays) == amount  # repaid once
    assert len(keys(intents, first)) == len(pays) == (2 if scenario == "decline" else 1)
    # Applied once: what the loan's principal fell by is what the one applied repayment says it paid.
    async with app.state.session_factory() as session:
        rows = (await session.exec(select(LoanRepayment).where(LoanRepayment.loan_id == lo["id"]))).all()
    applied = [x for x in rows if x.status == "succeeded"]
    assert len(applied) == 1 and {x.status for x in rows} <= {"succeeded", "failed"}
    assert lo["outstanding_principal"] - after["outstanding_principal"] == \
        applied[0].principal + applied[0].prepaid_principal
    assert await reconcile(app) == 0
    await verify_ledger(app)


# --- a subsidy payout: two-phase in the ledger ---------------------------------------------------------------


async def _budget(app: Any, policy_id: str) -> tuple[int, int]:
    """The policy's budget account: (posted, available once the pending payouts are reserved)."""
    from finance.ledger import service as ledger
    from finance.ledger.core import Chart

    async with app.state.session_factory() as session:
        b = await ledger.balance(session, Chart.subsidy_budget(policy_id))
    return b.balance, b.available


@pytest.mark.parametrize("scenario", SCENARIOS)
async def test_subsidy_payout(api, app, provider, scenario):
    regulator = await api.org("regulator")
    await publish_lpr(api)
    sme, bank = await api.org("sme"), await api.org("bank")
    mock(provider, "charge")
    p = await policy(api, regulator, budget=10_000 * YUAN)
    c = await filed(api, sme, p["id"], (await loan(api, sme, bank))["id"])
    budget = 10_000 * YUAN
    payouts = mock(provider, "payout", scenario)
    r = await approve(api, regulator, c["id"])
    claim_url = f"/subsidy-claims/{c['id']}"
    paid = 6_000 * YUAN
    if scenario in ANSWERED:
        assert r.status_code == 200 and r.json()["status"] == "paid", r.text
        assert await _budget(app, p["id"]) == (budget - paid, budget - paid)
    elif scenario == "decline":
        assert_problem(r, 402, "payment_failed")
        got = await _get(api, claim_url, regulator)
        assert got["status"] == "payout_failed"
        assert await _budget(app, p["id"]) == (budget, budget)  # the reservation was voided
        pol = await _get(api, f"/subsidy-policies/{p['id']}", regulator)
        assert (pol["paid_total"], pol["budget_remaining"]) == (0, budget)
    else:
        assert r.status_code == 202 and r.json()["status"] == "approved", r.text
        assert await _budget(app, p["id"]) == (budget, budget - paid)  # reserved, not spent
        again = await approve(api, regulator, c["id"])
        assert_problem(again, 409, "invalid_state")  # approved once; nothing new is asked
        calls = payouts.call_count
        await recover(app, provider, "payout", scenario)
        assert payouts.call_count > calls
        assert (await _get(api, claim_url, regulator))["status"] == "paid"
        assert await _budget(app, p["id"]) == (budget - paid, budget - paid)
    pays = await payments_of(app, "subsidy_claim", c["id"])
    assert _succeeded(pays) == (0 if scenario == "decline" else paid)  # paid once, or not at all
    assert len(keys(payouts)) == len(pays) == 1
    assert await budget_balance(app, p["id"]) == budget - _succeeded(pays)
    assert await reconcile(app) == 0
    await verify_ledger(app)
