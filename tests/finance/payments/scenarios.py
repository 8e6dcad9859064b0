"""The five provider behaviours every money path is tested against (respx side effects), and the ways the
money is driven home afterwards: the outbox's retry, and the reconciler's re-drive with the same key."""

from __future__ import annotations

import hashlib
import uuid
from typing import Any
from urllib.parse import parse_qs

import httpx
from sqlmodel import col, select, update

from finance.payments import driver
from finance.payments.models import Payment
from kernel import outbox
from kernel.db import utcnow
from kernel.outbox import OutboxJob
from kernel.settings import get_settings

SCENARIOS = ("success", "decline", "timeout_then_success", "timeout_forever", "5xx")
ANSWERED = ("success", "timeout_then_success")  # the provider answered in time, and said yes
UNANSWERED = ("timeout_forever", "5xx")  # the provider never answered within the request

# The provider endpoint each call of ``finance.payments.service.call_gateway`` posts to.
PATHS = {"charge": "/v1/payment_intents", "payout": "/v1/payouts", "release": "/v1/transfers",
         "refund": "/v1/refunds"}


def form_of(request: httpx.Request) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(request.content.decode()).items()}


def _id(prefix: str, request: httpx.Request) -> str:
    """A provider id derived from the Idempotency-Key, as a real provider's stored answer keeps its id."""
    return prefix + hashlib.sha256(request.headers["Idempotency-Key"].encode()).hexdigest()[:16]


def answer(op: str, request: httpx.Request, ok: bool = True) -> httpx.Response:
    """The provider's answer to ``op``: done (``ok``), or declined the way that endpoint declines."""
    form = form_of(request)
    amount = int(form["amount"])
    if op == "charge":
        intent = {"id": _id("pi_", request), "object": "payment_intent", "amount": amount, "currency": "cny",
                  "status": "succeeded" if ok else "requires_payment_method", "last_payment_error": None}
        if ok:
            return httpx.Response(200, json=intent)
        error = {"type": "card_error", "code": "card_declined", "decline_code": "insufficient_funds",
                 "message": "Insufficient funds."}
        return httpx.Response(402, json={"error": {**error, "payment_intent": {**intent,
                                                                                "last_payment_error": error}}})
    if op == "payout":
        body: dict[str, Any] = {"id": _id("po_", request), "object": "payout", "amount": amount,
                                "status": "paid" if ok else "failed"}
        if not ok:
            body.update(failure_code="account_closed", failure_message="收款账户已销户")
        return httpx.Response(200, json=body)
    if op == "release":
        if ok:
            return httpx.Response(200, json={"id": _id("tr_", request), "object": "transfer", "amount": amount})
        return httpx.Response(400, json={"error": {"type": "invalid_request_error", "code": "balance_insufficient",
                                                   "message": "The platform balance is too low."}})
    return httpx.Response(200, json={"id": _id("re_", request), "object": "refund", "amount": amount,
                                     "payment_intent": form["payment_intent"],
                                     "status": "succeeded" if ok else "failed"})


def behaviour(op: str, scenario: str) -> Any:
    """A respx side effect for ``op`` in ``scenario`` (the test gateway tries 3 times per job)."""
    if scenario == "success":
        return lambda request: answer(op, request)
    if scenario == "decline":
        return lambda request: answer(op, request, ok=False)
    if scenario == "timeout_then_success":
        first = iter([httpx.ReadTimeout("slow")])
        return lambda request: _raise(next(first, None)) or answer(op, request)
    if scenario == "timeout_forever":
        return httpx.ReadTimeout("slow")
    return lambda request: httpx.Response(503, json={"error": {"type": "api_error"}})


def _raise(exc: Exception | None) -> None:
    if exc is not None:
        raise exc


def mock(provider: Any, op: str, scenario: str = "success") -> Any:
    """Route ``op``'s endpoint to ``scenario`` (re-mocking the same route keeps its recorded calls)."""
    return provider.post(PATHS[op]).mock(side_effect=behaviour(op, scenario))


def keys(route: Any, since: int = 0) -> set[str]:
    """The provider idempotency keys the calls to ``route`` carried (from call number ``since`` on)."""
    return {c.request.headers["Idempotency-Key"] for c in list(route.calls)[since:]}


async def retry_due(app: Any) -> dict[str, int]:
    """The outbox's own retry: jobs waiting out their backoff are made due now, and run."""
    async with app.state.session_factory() as s:
        await s.exec(update(OutboxJob).where(col(OutboxJob.status) == outbox.QUEUED)  # type: ignore[call-overload]  # sqlmodel types only its own select
                     .values(run_after=utcnow()))
        await s.commit()
    return await outbox.drain(app.state.session_factory)


async def give_up_jobs(app: Any) -> int:
    """The outbox ran out of attempts: every queued provider call is dead (only the reconciler is left)."""
    async with app.state.session_factory() as s:
        result = await s.exec(update(OutboxJob).where(col(OutboxJob.status) == outbox.QUEUED)  # type: ignore[call-overload]  # sqlmodel types only its own select
                              .values(status=outbox.DEAD, finished_at=utcnow()))
        await s.commit()
    return int(result.rowcount)


async def reconcile(app: Any) -> int:
    """One reconciler round that treats every hanging payment as stale now; returns how many it re-drove
    (their provider calls then run, with the payment's own provider key)."""
    settings = get_settings().model_copy(update={"payment_reconcile_after_seconds": 0})
    async with app.state.session_factory() as s:
        redriven = [await driver.redrive(s, p, uuid.uuid4().hex[:8]) for p in await driver.stuck(s, settings)]
        await s.commit()
    await outbox.drain(app.state.session_factory)
    return sum(redriven)


async def recover(app: Any, provider: Any, op: str, scenario: str) -> None:
    """The provider is back after ``scenario`` left a call unanswered: a timeout is retried by the outbox;
    after 5xx the outbox gives up and the reconciler re-drives it."""
    mock(provider, op)
    if scenario == "5xx":
        assert await give_up_jobs(app) >= 1
        assert await reconcile(app) >= 1
    else:
        assert (await retry_due(app)).get("done", 0) >= 1
    assert await reconcile(app) == 0  # nothing is left hanging, so nothing is asked again


async def payments_of(app: Any, object_type: str, object_id: str) -> list[Payment]:
    async with app.state.session_factory() as s:
        stmt = select(Payment).where(Payment.object_type == object_type, Payment.object_id == object_id)
        return list((await s.exec(stmt.order_by(col(Payment.id)))).all())
