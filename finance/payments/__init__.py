"""The payment gateway: every money movement of deals, loans, the fund and subsidies goes through here.

Domain packages call ``finance.payments.service`` and never learn which provider is configured
(``IPM_PAYMENT_PROVIDER``: ``local`` settles at once; ``http`` talks to a Stripe-like provider, see
``finance.payments.http``). Services only flush and never call the provider: ``charge``, ``payout``,
``release_escrow`` and ``refund`` record what is asked plus an outbox job, and the provider is called after
commit with no transaction open (``finance.payments.driver``); a route waits for it with ``settle()``.

Moving money (each call is once per domain action: the same ``purpose, object_type, object_id,
idempotency_key`` returns the payment already made, or 409 ``idempotency_conflict`` if the amount or
parties differ; pass a new ``idempotency_key`` for a second payment of one object, e.g. per repayment,
or for a new attempt after a decline)::

    from finance.payments import service as payments

    p = await payments.charge(session, actor, purpose="deal", payer_org_id=buyer, payee_org_id=seller,
                              amount=fen, object_type="deal", object_id=deal.id, escrow=True)
    payments.require_success(p)        # 402 payment_failed if declined (else p is succeeded or processing)
    await payments.release_escrow(session, p)   # deal recorded: held money goes on to the seller
    await payments.refund(session, p)           # deal cancelled: held (or unescrowed) money goes back
    await payments.payout(session, actor, payee_org_id=bank, amount=fen, purpose="compensation",
                          object_type="compensation_claim", object_id=claim.id)
    await payments.find(session, purpose="deal", object_type="deal", object_id=deal.id)
    await driver.sync(session_factory, p.id)    # ask the provider (a late webhook); no transaction open

Purposes: deal, repayment, disbursement, payout, compensation, subsidy, recovery, royalty, fee.
A charge's status is ``processing`` → ``succeeded`` | ``failed`` | ``canceled``, then ``refunded``;
with ``local`` it is ``succeeded`` when ``charge`` returns, with ``http`` it may stay ``processing``
until the provider's webhook (or ``sync``) settles it. Escrow (``escrow=True``, for deals): ``held``
once the money arrives, then ``released`` or ``refunded``.

Reacting to the outcome: register, at import time of your module (listed in ``api/registry.py``)::

    @payments.on_settled("deal")
    async def _deal_paid(session, payment): ...     # payment.status == "succeeded"
    @payments.on_failed("deal")
    async def _deal_payment_failed(session, payment): ...   # failed or canceled
    @payments.on_refunded("deal")
    async def _deal_refunded(session, payment): ...

Callbacks are keyed by ``object_type`` and run inside the transaction that moved the payment: at once
inside ``charge`` with ``local``; inside the webhook request with ``http``. They run once per payment
and outcome (event ids are handled once; a status never moves backwards), and must only flush.

Errors: 402 ``payment_failed`` (declined; ``require_success``), 409 ``invalid_state`` (e.g. releasing
escrow that is not held), 502 ``upstream_error`` (the provider failed after safe retries, or refused
the request). Webhook: ``POST /api/v1/payments/webhook``, 400 ``invalid_signature`` / ``invalid_payload``.
"""
