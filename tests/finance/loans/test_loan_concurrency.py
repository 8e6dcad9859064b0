"""Races on PostgreSQL: concurrent acceptance and disbursement happen exactly once."""

import asyncio

import httpx
import pytest

from tests.finance.loans import loan_flow as lf

pytestmark = pytest.mark.postgres


def _clients(app, n):
    return [httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test/api/v1")
            for _ in range(n)]


async def test_concurrent_acceptance_makes_one_loan(api, app):
    c = await lf.cast(api)
    application = await lf.apply(api, c)
    banks = [c.bank] + [await api.org("bank") for _ in range(3)]
    offers = [await lf.offer(api, b, application["id"]) for b in banks]
    clients = _clients(app, 8)
    try:
        results = await asyncio.gather(*[
            cl.post(f"/loan-offers/{offers[i % 4]['id']}/accept", headers=c.sme.headers)
            for i, cl in enumerate(clients)])
    finally:
        for cl in clients:
            await cl.aclose()
    codes = sorted(r.status_code for r in results)
    assert codes.count(201) == 1 and codes.count(409) == 7, [r.text for r in results]
    statuses = [o["status"] for o in (await api.client.get(
        f"/loan-applications/{application['id']}/offers", headers=c.sme.headers)).json()["data"]]
    assert sorted(statuses) == ["accepted", "declined", "declined", "declined"]


async def test_concurrent_disbursement_pays_once(api, app):
    c = await lf.cast(api)
    loan = await lf.accepted_loan(api, c)
    await lf.register(api, c, loan["id"])
    clients = _clients(app, 8)
    try:
        results = await asyncio.gather(*[cl.post(f"/loans/{loan['id']}/disburse", headers=c.bank.headers)
                                         for cl in clients])
    finally:
        for cl in clients:
            await cl.aclose()
    codes = sorted(r.status_code for r in results)
    assert codes.count(200) == 1 and codes.count(409) == 7, [r.text for r in results]
    payments = (await api.client.get("/payments", headers=c.bank.headers)).json()["data"]
    assert [p["purpose"] for p in payments] == ["disbursement"]
    assert len(await lf.schedule(api, c.sme, loan["id"])) == 12
