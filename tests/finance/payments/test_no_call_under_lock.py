"""No provider call happens while a row lock or a write transaction is open: a gateway that, at the moment
it is called, takes the write lock (SQLite) or the loan's row lock (PostgreSQL) from another connection,
for a disbursement and for a repayment of a loan, which lock the loan and its instalments in phase one."""

from __future__ import annotations

import asyncio
import sqlite3

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

from finance.payments.gateway import GatewayResult, IntentRequest
from finance.payments.local import LocalGateway
from finance.payments.providers import use_gateway
from tests.conftest import IS_POSTGRES
from tests.finance.loans import loan_flow


class LockProbe(LocalGateway):
    """The local provider, except that each call first proves nobody holds the lock it would need."""

    def __init__(self, app) -> None:
        self.app = app
        self.loan_id: str | None = None
        self.probes: list[str] = []

    async def _probe(self) -> None:
        url = self.app.state.settings.database_url
        if IS_POSTGRES:
            engine = create_async_engine(url)
            try:
                async with engine.begin() as conn:
                    await conn.exec_driver_sql("SET LOCAL lock_timeout = '500ms'")
                    await conn.execute(sa.text("SELECT id FROM loans WHERE id = :id FOR UPDATE NOWAIT"),
                                       {"id": self.loan_id})
                    await conn.execute(sa.text("SELECT id FROM loan_installments WHERE loan_id = :id "
                                               "FOR UPDATE NOWAIT"), {"id": self.loan_id})
            finally:
                await engine.dispose()
        else:
            def take_the_write_lock() -> None:
                path = url.split("///", 1)[1]
                conn = sqlite3.connect(path, timeout=0.2, isolation_level=None)
                try:
                    conn.execute("BEGIN IMMEDIATE")  # raises "database is locked" if a writer is open
                    conn.execute("ROLLBACK")
                finally:
                    conn.close()

            await asyncio.to_thread(take_the_write_lock)
        self.probes.append("free")

    async def create_intent(self, request: IntentRequest) -> GatewayResult:
        await self._probe()
        return await super().create_intent(request)


async def test_disbursement_and_repayment_call_the_provider_with_nothing_locked(api, app):
    probe = LockProbe(app)
    c = await loan_flow.cast(api)
    loan = await loan_flow.accepted_loan(api, c)
    probe.loan_id = loan["id"]
    await loan_flow.register(api, c, loan["id"])
    with use_gateway(probe):
        r = await api.client.post(f"/loans/{loan['id']}/disburse", headers=c.bank.headers)
        assert r.status_code == 200, r.text
        assert r.json()["status"] == "active"
        repaid = await loan_flow.repay(api, c.sme, loan["id"], 1000 * loan_flow.YUAN)
    assert repaid["status"] == "succeeded"
    assert probe.probes == ["free", "free"]  # both calls ran, each with every lock free
