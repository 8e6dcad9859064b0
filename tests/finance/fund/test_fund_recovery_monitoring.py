"""Recovery back to the loss bearers, the exposure report (JSON and CSV) and the stress-test endpoint."""

from __future__ import annotations

import csv
import io
import struct

import pytest

from finance.fund import claims as fund_claims
from finance.fund import cover as fund_cover
from finance.fund import recovery as fund_recovery
from kernel.errors import InvalidState, ValidationFailed
from tests.finance.fund.helpers import (
    WAN,
    actor,
    agreement,
    cash,
    claim_request,
    cover_request,
    in_tx,
    program,
    verify_ledger,
)
from tests.helpers import assert_problem


async def _paid_claim(api, app, fund, bank, p, principal, loss, **kw):
    sme = await api.org("sme")
    req = cover_request(bank, sme, principal, **kw)
    await in_tx(app, fund_cover.request_cover, actor(bank), p["id"], req)
    claim = await in_tx(app, fund_claims.open_claim, actor(bank), claim_request(req, loss))
    r = await api.client.post(f"/compensation-claims/{claim.id}/approve", headers=fund.headers)
    assert r.json()["status"] == "paid", r.text
    return req, claim


async def test_recovery_returns_in_proportion_then_surplus_to_borrower(api, app):
    fund, bank = await api.org("fund"), await api.org("bank")
    p = await program(api, fund, shares_bps={"fund": 5000})
    await agreement(api, fund, p["id"], bank)
    req, _ = await _paid_claim(api, app, fund, bank, p, 200 * WAN, 100 * WAN)  # fund 50, bank 50
    after_claim = await cash(app, p["id"])
    rows = await in_tx(app, fund_recovery.distribute_recovery, actor(bank), req.loan_id, 30 * WAN, req.borrower_org_id,
                       "auction:a1")
    assert {r.party: r.amount for r in rows} == {"fund": 15 * WAN, "bank": 15 * WAN}
    assert await cash(app, p["id"]) == after_claim + 15 * WAN
    # The same source again changes nothing and returns the same rows.
    again = await in_tx(app, fund_recovery.distribute_recovery, actor(bank), req.loan_id, 30 * WAN, req.borrower_org_id,
                        "auction:a1")
    assert [r.id for r in again] == [r.id for r in rows]
    assert await cash(app, p["id"]) == after_claim + 15 * WAN
    with pytest.raises(InvalidState):  # the same source with other figures
        await in_tx(app, fund_recovery.distribute_recovery, actor(bank), req.loan_id, 31 * WAN, req.borrower_org_id,
                    "auction:a1")
    # A later, larger recovery: each gets back at most what it paid; the surplus goes to the borrower.
    later = await in_tx(app, fund_recovery.distribute_recovery, actor(bank), req.loan_id, 80 * WAN, req.borrower_org_id,
                        "collection:2")
    assert {r.party: (r.amount, r.org_id) for r in later} == {
        "fund": (35 * WAN, fund.org_id), "bank": (35 * WAN, bank.org_id), "borrower": (10 * WAN, req.borrower_org_id)}
    assert await cash(app, p["id"]) == after_claim + 50 * WAN
    fund_rows = [r for r in rows + later if r.party == "fund"]
    assert all(r.ledger_entry_id and r.payment_id for r in fund_rows)
    assert all(r.payment_id is None for r in rows + later if r.party == "bank")  # the bank holds the proceeds
    await verify_ledger(app)


async def test_recovery_of_an_odd_split_is_exact(api, app):
    fund, bank, insurer, evaluator = (await api.org("fund"), await api.org("bank"), await api.org("insurer"),
                                      await api.org("evaluator"))
    p = await program(api, fund, shares_bps={"fund": 5400, "insurer": 1600},
                      extra_parties=[{"party": "evaluator", "share_bps": 400, "org_id": evaluator.org_id}])
    await agreement(api, fund, p["id"], bank)
    req, claim = await _paid_claim(api, app, fund, bank, p, 200 * WAN, 100_000_001, insurer=insurer)
    rows = await in_tx(app, fund_recovery.distribute_recovery, actor(bank), req.loan_id, 10, req.borrower_org_id, "r1")
    # 10 fen over 54000001 : 16000000 : 4000000 : 26000000 → 5.4, 1.6, 0.4, 2.6 → largest remainders.
    assert {r.party: r.amount for r in rows} == {"fund": 5, "insurer": 2, "bank": 3}
    rest = await in_tx(app, fund_recovery.distribute_recovery, actor(bank), req.loan_id, 100_000_001 - 10,
                       req.borrower_org_id, "r2")
    got = {r.party: r.amount for r in rest}
    paid = {s["party"]: s["amount"] for s in claim.shares}
    assert {k: got.get(k, 0) + {r.party: r.amount for r in rows}.get(k, 0) for k in paid} == paid


async def test_recovery_needs_a_claim_and_positive_proceeds(api, app):
    bank = await api.org("bank")
    with pytest.raises(InvalidState):
        await in_tx(app, fund_recovery.distribute_recovery, actor(bank), "lon_none", 100, bank.org_id, "x")
    with pytest.raises(ValidationFailed):
        await in_tx(app, fund_recovery.distribute_recovery, actor(bank), "lon_none", 0, bank.org_id, "x")


async def test_exposure_report_by_bank_guarantor_industry_region(api, app):
    fund, regulator, other_fund = await api.org("fund"), await api.org("regulator"), await api.org("fund")
    b1, b2, g1 = await api.org("bank"), await api.org("bank"), await api.org("guarantor")
    p = await program(api, fund, capital=10_000 * WAN, shares_bps={"fund": 4000, "guarantor": 3000})
    await agreement(api, fund, p["id"], b1, deposit=500 * WAN, leverage=10)
    await agreement(api, fund, p["id"], b2, deposit=500 * WAN, leverage=8)
    sme = await api.org("sme")
    loans = [cover_request(b1, sme, 1000 * WAN, guarantor=g1, industry="生物医药", region="440300"),
             cover_request(b1, sme, 500 * WAN, industry="新材料", region="440300"),
             cover_request(b2, sme, 300 * WAN, guarantor=g1, industry="生物医药", region="440100")]
    for req in loans:
        await in_tx(app, fund_cover.request_cover, actor(b1 if req.bank_org_id == b1.org_id else b2), p["id"], req)
    await in_tx(app, fund_cover.update_loan, loans[1].loan_id, outstanding_principal=400 * WAN,
                classification="doubtful", status="overdue")
    r = await api.client.get(f"/fund/programs/{p['id']}/exposure", headers=fund.headers)
    assert r.status_code == 200, r.text
    e = r.json()
    assert (e["capital"], e["cash"]) == (10_000 * WAN, 9000 * WAN)
    assert e["covered_outstanding"] == 1700 * WAN and e["committed_exposure"] == 680 * WAN
    banks = {b["bank_org_id"]: b for b in e["by_bank"]}
    assert banks[b1.org_id] == {"bank_org_id": b1.org_id, "covered_outstanding": 1400 * WAN,
                                "fund_exposure": 560 * WAN, "quota": 5000 * WAN, "quota_available": 3600 * WAN,
                                "quota_use_bps": 2800, "deposit": 500 * WAN, "npl_ratio_bps": 2857, "paused": True}
    assert (banks[b2.org_id]["quota"], banks[b2.org_id]["npl_ratio_bps"], banks[b2.org_id]["paused"]) == (
        4000 * WAN, 0, False)
    assert {g["key"]: g["fund_exposure"] for g in e["by_guarantor"]} == {g1.org_id: 520 * WAN, None: 160 * WAN}
    assert {g["key"]: g["covered_outstanding"] for g in e["by_industry"]} == {"生物医药": 1300 * WAN,
                                                                               "新材料": 400 * WAN}
    assert {g["key"]: g["loans"] for g in e["by_region"]} == {"440300": 2, "440100": 1}
    assert (e["leverage_used"], e["leverage_used_bps"]) == ("1.70", 17000)
    assert e["compensation_rate_bps"] == 0 and e["recovery_rate_bps"] == 0
    # Compensation and recovery rates.
    claim = await in_tx(app, fund_claims.open_claim, actor(b1), claim_request(loans[1], 400 * WAN))
    await api.client.post(f"/compensation-claims/{claim.id}/approve", headers=fund.headers)
    await in_tx(app, fund_recovery.distribute_recovery, actor(b1), loans[1].loan_id, 100 * WAN, sme.org_id, "auc")
    e = (await api.client.get(f"/fund/programs/{p['id']}/exposure", headers=regulator.headers)).json()
    assert e["compensation_paid"] == 160 * WAN and e["recovered"] == 40 * WAN
    assert e["compensation_rate_bps"] == 889  # 160 of 1800 covered
    assert e["recovery_rate_bps"] == 2500
    # CSV export.
    r = await api.client.get(f"/fund/programs/{p['id']}/exposure?format=csv", headers=fund.headers)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(r.content.decode("utf-8-sig"))))
    bank_rows = {row["Item"]: row for row in rows if row["Section"] == "bank"}
    assert bank_rows[b1.org_id]["Fund exposure (yuan)"] == f"{400 * WAN // 100}.00"
    assert bank_rows[b1.org_id]["Paused"] == "true"
    totals = {row["Item"]: row for row in rows if row["Section"] == "total"}
    assert totals.keys() >= {"cash", "committed_exposure", "compensation_rate_bps"}
    assert totals["compensation_rate_bps"]["Rate (bps)"] == "889"
    # Charts by bank.
    png = await api.client.get(f"/fund/programs/{p['id']}/exposure?format=png", headers=regulator.headers)
    assert png.headers["content-type"] == "image/png" and png.content[:8] == b"\x89PNG\r\n\x1a\n"
    assert struct.unpack(">II", png.content[16:24]) == (1000, 600)
    svg = await api.client.get(f"/fund/programs/{p['id']}/exposure?format=svg", headers=fund.headers)
    assert svg.headers["content-type"].startswith("image/svg+xml") and b"<svg" in svg.content[:500]
    # Who may look.
    assert_problem(await api.client.get(f"/fund/programs/{p['id']}/exposure", headers=other_fund.headers), 404,
                   "not_found")
    assert_problem(await api.client.get(f"/fund/programs/{p['id']}/exposure", headers=b1.headers), 403, "forbidden")
    assert_problem(await api.client.get(f"/fund/programs/{p['id']}/exposure?format=xml", headers=fund.headers),
                   422, "validation_error")


async def test_stress_test_is_seeded_and_bounded(api, app):
    fund, other_fund, regulator = await api.org("fund"), await api.org("fund"), await api.org("regulator")
    bank = await api.org("bank")
    p = await program(api, fund, capital=1000 * WAN, shares_bps={"fund": 5000})
    await agreement(api, fund, p["id"], bank, deposit=500 * WAN)
    url = f"/fund/programs/{p['id']}/stress-test"
    body = {"scenarios": 2000, "seed": 7, "pd_bps": 500, "lgd_bps": 6000, "correlation_bps": 2000}
    empty = (await api.client.post(url, json=body, headers=fund.headers)).json()
    assert (empty["loans"], empty["expected_loss"], empty["p_depletion"]) == (0, 0, 0.0)
    sme = await api.org("sme")
    for n in range(40):
        await in_tx(app, fund_cover.request_cover, actor(bank), p["id"], cover_request(bank, sme, (50 + n) * WAN))
    first = await api.client.post(url, json=body, headers=fund.headers)
    assert first.status_code == 200, first.text
    again = await api.client.post(url, json=body, headers=fund.headers)
    assert first.json() == again.json()
    s = first.json()
    ead = sum((50 + n) * WAN for n in range(40))
    assert s["loans"] == 40 and s["exposure_at_default"] == ead and s["cash"] == 500 * WAN
    assert s["portfolio_analytic_expected_loss"] == ead * 500 * 6000 // 10**8  # Σ EAD·PD·LGD = 3%
    # The fund bears half of each loss: its expected loss is about half the portfolio's.
    assert abs(s["expected_loss"] * 2 - s["portfolio_expected_loss"]) <= 2
    assert 0 < s["var_99"] <= ead // 2 and s["var_99"] >= s["expected_loss"]
    assert 0.0 <= s["p_depletion"] <= 1.0 and s["p_depletion_bps"] == round(s["p_depletion"] * 10000)
    other = (await api.client.post(url, json={**body, "seed": 8}, headers=fund.headers)).json()
    assert other["var_99"] != s["var_99"] or other["expected_loss"] != s["expected_loss"]
    for bad in ({**body, "scenarios": 100_001}, {**body, "scenarios": 0}, {**body, "pd_bps": 0},
                {**body, "correlation_bps": 10000}, {**body, "seed": -1}, {**body, "extra": 1}):
        assert_problem(await api.client.post(url, json=bad, headers=fund.headers), 422, "validation_error")
    assert_problem(await api.client.post(url, json=body, headers=other_fund.headers), 404, "not_found")
    assert_problem(await api.client.post(url, json=body, headers=regulator.headers), 403, "forbidden")
