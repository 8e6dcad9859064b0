"""Programmes (versioned rules, capital in the ledger) and bank agreements (deposit, leverage, quota)."""

from __future__ import annotations

import sqlalchemy as sa

from finance.fund.models import FundAgreement, FundProgram
from finance.ledger.core import Chart
from finance.ledger.service import balance
from tests.finance.fund.helpers import WAN, agreement, cash, in_tx, program, rules, verify_ledger
from tests.helpers import assert_problem


async def _count(app, model) -> int:
    async with app.state.session_factory() as s:
        return (await s.exec(sa.select(sa.func.count()).select_from(model))).one()[0]


async def test_program_posts_capital_and_reads_back(api, app):
    fund = await api.org("fund")
    p = await program(api, fund, capital=50_000 * WAN, per_loan_cap=1000 * WAN, default_days=60,
                      min_ip_share_bps=5000, insufficient_cash="queue")
    assert p["capital"] == p["cash"] == 50_000 * WAN
    assert p["fund_org_id"] == fund.org_id
    assert p["current_version"] == 1 and [v["version"] for v in p["versions"]] == [1]
    assert p["shares_bps"] == {"fund": 5000, "guarantor": 0, "insurer": 0}
    assert (p["per_loan_cap"], p["default_days"], p["min_ip_share_bps"]) == (1000 * WAN, 60, 5000)
    capital = await in_tx(app, balance, Chart.capital(p["id"]))
    assert capital.balance == 50_000 * WAN
    await verify_ledger(app)
    # Any user may read a programme (banks need its rules to ask for cover).
    bank = await api.org("bank")
    r = await api.client.get(f"/fund/programs/{p['id']}", headers=bank.headers)
    assert r.status_code == 200 and r.json()["name"] == p["name"]


async def test_program_refusals_change_nothing(api, app):
    fund, bank = await api.org("fund"), await api.org("bank")
    body = {"name": "x", "capital": 100 * WAN, **rules()}
    assert_problem(await api.client.post("/fund/programs", json=body, headers=bank.headers), 403, "forbidden")
    bad = [
        {**body, "capital": 0},
        {**body, "shares_bps": {"fund": 6000, "guarantor": 3000, "insurer": 2000}},  # 110%
        {**body, "tiers": [{"max_principal": 500 * WAN, "fund_bps": 4000},
                           {"max_principal": 100 * WAN, "fund_bps": 3000}]},  # not rising
        {**body, "leverage_max": 0},
        {**body, "npl_pause_bps": 10001},
        {**body, "insufficient_cash": "overdraw"},
        {**body, "extra_parties": [{"party": "bank", "share_bps": 400}]},
        {**body, "surprise": 1},
        {**body, "name": ""},
    ]
    for b in bad:
        assert_problem(await api.client.post("/fund/programs", json=b, headers=fund.headers), 422,
                       "validation_error")
    assert await _count(app, FundProgram) == 0


async def test_new_version_keeps_history(api):
    fund, other = await api.org("fund"), await api.org("fund")
    p = await program(api, fund)
    r = await api.client.post(f"/fund/programs/{p['id']}/versions",
                              json=rules(shares_bps={"fund": 4000}, npl_pause_bps=500), headers=fund.headers)
    assert r.status_code == 201, r.text
    assert r.json()["version"] == 2
    got = (await api.client.get(f"/fund/programs/{p['id']}", headers=fund.headers)).json()
    assert got["current_version"] == 2 and got["shares_bps"]["fund"] == 4000 and got["npl_pause_bps"] == 500
    assert [v["shares_bps"]["fund"] for v in got["versions"]] == [5000, 4000]
    # Another fund cannot change it (it is not theirs: 404), nor can a bank (403).
    r = await api.client.post(f"/fund/programs/{p['id']}/versions", json=rules(), headers=other.headers)
    assert_problem(r, 404, "not_found")
    bank = await api.org("bank")
    r = await api.client.post(f"/fund/programs/{p['id']}/versions", json=rules(), headers=bank.headers)
    assert_problem(r, 403, "forbidden")
    r = await api.client.post(f"/fund/programs/{p['id']}/versions", json=rules(leverage_max=101),
                              headers=fund.headers)
    assert_problem(r, 422, "validation_error")
    assert (await api.client.get(f"/fund/programs/{p['id']}", headers=fund.headers)).json()["current_version"] == 2


async def test_capital_top_up(api, app):
    fund = await api.org("fund")
    p = await program(api, fund, capital=100 * WAN)
    r = await api.client.post(f"/fund/programs/{p['id']}/capital", json={"amount": 50 * WAN}, headers=fund.headers)
    assert r.status_code == 200, r.text
    assert r.json()["capital"] == r.json()["cash"] == 150 * WAN
    assert await cash(app, p["id"]) == 150 * WAN
    assert_problem(await api.client.post(f"/fund/programs/{p['id']}/capital", json={"amount": 0},
                                         headers=fund.headers), 422, "validation_error")


async def test_agreement_quota_is_deposit_times_leverage(api, app):
    fund, bank = await api.org("fund"), await api.org("bank")
    p = await program(api, fund, capital=5000 * WAN, leverage_max=10)
    a = await agreement(api, fund, p["id"], bank, deposit=1000 * WAN, leverage=8)
    assert (a["deposit"], a["leverage"], a["quota"]) == (1000 * WAN, 8, 8000 * WAN)
    # The deposit moved in the ledger: fund cash → deposit at that bank.
    assert await cash(app, p["id"]) == 4000 * WAN
    deposit = await in_tx(app, balance, Chart.bank_deposit(p["id"], bank.org_id))
    assert deposit.balance == 1000 * WAN
    await verify_ledger(app)
    # Without a leverage the programme's maximum applies.
    bank2 = await api.org("bank")
    a2 = await agreement(api, fund, p["id"], bank2, deposit=100 * WAN)
    assert (a2["leverage"], a2["quota"]) == (10, 1000 * WAN)


async def test_agreement_refusals(api, app):
    fund, bank, other_fund = await api.org("fund"), await api.org("bank"), await api.org("fund")
    sme = await api.org("sme")
    p = await program(api, fund, capital=1000 * WAN, leverage_max=10)
    url = f"/fund/programs/{p['id']}/agreements"
    r = await api.client.post(url, json={"bank_org_id": bank.org_id, "deposit": 100 * WAN, "leverage": 11},
                              headers=fund.headers)
    assert assert_problem(r, 409, "limit_exceeded")["rule"] == "leverage_max"
    r = await api.client.post(url, json={"bank_org_id": bank.org_id, "deposit": 1001 * WAN}, headers=fund.headers)
    assert assert_problem(r, 409, "limit_exceeded")["rule"] == "cash"
    r = await api.client.post(url, json={"bank_org_id": sme.org_id, "deposit": 100 * WAN}, headers=fund.headers)
    assert_problem(r, 422, "validation_error")
    r = await api.client.post(url, json={"bank_org_id": bank.org_id, "deposit": -1}, headers=fund.headers)
    assert_problem(r, 422, "validation_error")
    r = await api.client.post(url, json={"bank_org_id": bank.org_id, "deposit": 100 * WAN},
                              headers=other_fund.headers)
    assert_problem(r, 404, "not_found")
    r = await api.client.post(url, json={"bank_org_id": bank.org_id, "deposit": 100 * WAN}, headers=bank.headers)
    assert_problem(r, 403, "forbidden")
    assert await _count(app, FundAgreement) == 0
    assert await cash(app, p["id"]) == 1000 * WAN
    await agreement(api, fund, p["id"], bank, deposit=100 * WAN)
    r = await api.client.post(url, json={"bank_org_id": bank.org_id, "deposit": 100 * WAN}, headers=fund.headers)
    assert_problem(r, 409, "already_exists")
    assert await cash(app, p["id"]) == 900 * WAN


async def test_agreement_is_idempotent_with_a_key(api, app):
    fund, bank = await api.org("fund"), await api.org("bank")
    p = await program(api, fund, capital=1000 * WAN)
    body = {"bank_org_id": bank.org_id, "deposit": 100 * WAN}
    headers = {**fund.headers, "Idempotency-Key": "agr-1"}
    first = await api.client.post(f"/fund/programs/{p['id']}/agreements", json=body, headers=headers)
    again = await api.client.post(f"/fund/programs/{p['id']}/agreements", json=body, headers=headers)
    assert first.status_code == again.status_code == 201
    assert first.json() == again.json()
    assert await cash(app, p["id"]) == 900 * WAN
