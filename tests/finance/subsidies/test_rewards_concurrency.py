"""Races on PostgreSQL for the IP rewards: a reward claim is paid once, an item is rewarded once even under
two policies filed at the same moment, and the bonus cap per firm-year is never exceeded."""

import asyncio

import httpx
import pytest
import sqlalchemy as sa

from finance.subsidies.models import SubsidyRewardItem
from tests.finance.subsidies.helpers import budget_balance
from tests.finance.subsidies.test_rewards import YUAN, hv_patent, reward_policy
from tests.helpers import open_session

pytestmark = pytest.mark.postgres


async def _race(app, calls):
    clients = [httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test/api/v1")
               for _ in calls]
    try:
        return await asyncio.gather(*[call(cl) for cl, call in zip(clients, calls, strict=True)])
    finally:
        for cl in clients:
            await cl.aclose()


def _items(*asset_ids):
    return [{"asset_id": a} for a in asset_ids]


async def test_concurrent_approvals_of_one_reward_claim_pay_once(api, app, client):
    regulator, firm = await api.org("regulator"), await api.org("sme")
    p = await reward_policy(api, regulator, "foreign_patent")
    patent = await api.asset(firm, family_countries=["US"])
    r = await client.post("/subsidy-claims", json={"policy_id": p["id"], "items": _items(patent["id"])},
                          headers=firm.headers)
    assert r.status_code == 201, r.text
    results = await _race(app, [lambda cl: cl.post(f"/subsidy-claims/{r.json()['id']}/approve",
                                                   headers=regulator.headers) for _ in range(6)])
    codes = sorted(x.status_code for x in results)
    assert codes.count(200) == 1 and codes.count(409) == 5, [x.text for x in results]
    payments = (await client.get("/payments", headers=firm.headers)).json()["data"]
    assert [x["amount"] for x in payments if x["purpose"] == "subsidy"] == [20_000 * YUAN]
    assert await budget_balance(app, p["id"]) == 5_000_000 * YUAN - 20_000 * YUAN


async def test_one_item_rewarded_once_under_two_policies_at_once(api, app):
    regulator, firm = await api.org("regulator"), await api.org("sme")
    policies = [await reward_policy(api, regulator, "foreign_patent") for _ in range(4)]
    patent = await api.asset(firm, family_countries=["JP"])
    results = await _race(app, [lambda cl, p=p: cl.post("/subsidy-claims", json={
        "policy_id": p["id"], "items": _items(patent["id"])}, headers=firm.headers) for p in policies])
    codes = sorted(x.status_code for x in results)
    assert codes.count(201) == 1 and codes.count(409) == 3, [x.text for x in results]
    async with open_session(app) as session:
        live = (await session.exec(sa.select(sa.func.count()).select_from(SubsidyRewardItem).where(
            SubsidyRewardItem.subject == patent["id"], SubsidyRewardItem.reward_key.is_not(None)))).one()
    assert live[0] == 1


async def test_concurrent_claims_and_approvals_never_exceed_the_bonus_cap(api, app, client):
    regulator, firm = await api.org("regulator"), await api.org("sme")
    p = await reward_policy(api, regulator, "high_value_patent",
                            terms={"bonus_threshold": 0, "bonus_per_item": 3_000 * YUAN, "bonus_cap": 10_000 * YUAN})
    patents = [await hv_patent(api, firm, granted=f"2025-{m:02d}-03") for m in range(1, 9)]
    results = await _race(app, [lambda cl, a=a: cl.post("/subsidy-claims", json={
        "policy_id": p["id"], "items": _items(a["id"])}, headers=firm.headers) for a in patents])
    filed = [x.json() for x in results if x.status_code == 201]
    assert len(filed) == 8, [x.text for x in results]
    bonus = sum(i["bonus"] for c in filed for i in c["items"])
    assert bonus == 10_000 * YUAN  # 3 × ¥3,000 + ¥1,000, whatever order the claims arrived in
    approvals = await _race(app, [lambda cl, c=c: cl.post(f"/subsidy-claims/{c['id']}/approve",
                                                          headers=regulator.headers) for c in filed])
    assert all(x.status_code == 200 for x in approvals), [x.text for x in approvals]
    paid = sum(x.json()["amount_paid"] for x in approvals)
    assert paid == 8 * 5_000 * YUAN + 10_000 * YUAN
    assert await budget_balance(app, p["id"]) == 5_000_000 * YUAN - paid
