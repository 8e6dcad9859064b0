"""A repayment's provider answer settles in the request's own session; the answer is the settled state
even when someone else (a webhook, the worker) settled the payment first."""

from __future__ import annotations

from sqlmodel import select

import tests.finance.loans.loan_flow as lf
from finance.loans.models import LoanRepayment
from finance.payments import service


async def test_a_payment_settled_elsewhere_first_is_answered_as_it_stands(api, app, monkeypatch):
    c = await lf.cast(api)
    loan = await lf.active_loan(api, c)
    call = service.call_gateway

    async def settled_first(payment, op):
        result = await call(payment, op)
        async with app.state.session_factory() as s:  # the provider's webhook got there first
            await service.settle_call(s, payment.id, op, result)
            await s.commit()
        return result

    monkeypatch.setattr(service, "call_gateway", settled_first)
    out = await lf.repay(api, c.sme, loan["id"], 300_00)
    assert out["status"] == "succeeded" and out["allocation"]["interest"] + out["allocation"]["principal"] > 0
    assert out["loan"]["outstanding_principal"] <= loan["outstanding_principal"]
    async with app.state.session_factory() as s:
        rows = (await s.exec(select(LoanRepayment).where(LoanRepayment.loan_id == loan["id"]))).all()
    assert [r.status for r in rows] == ["succeeded"]  # applied once
